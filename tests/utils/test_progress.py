"""Progress bars: widgets where someone watches, text under `MTCNN_PROGRESS=text` (the course's kernels)."""
import io

import tqdm.auto
import tqdm.std

from mtcnn_gluon.utils import progress


def test_text_bars_when_asked(monkeypatch):
    monkeypatch.setenv(progress.ENV, "text")
    out = io.StringIO()
    bar = progress.tqdm(range(3), file=out)
    assert type(bar) is tqdm.std.tqdm and bar.mininterval == 5.0
    assert list(bar) == [0, 1, 2]
    assert "100%|" in out.getvalue() and "3/3" in out.getvalue()
    assert progress.tqdm(range(1), mininterval=0.5, file=out).mininterval == 0.5  # a caller's choice stays


def test_auto_bars_otherwise(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    bar = progress.tqdm(range(1), disable=True)
    assert isinstance(bar, tqdm.auto.tqdm)
    monkeypatch.setenv(progress.ENV, "widget")
    assert isinstance(progress.tqdm(range(1), disable=True), tqdm.auto.tqdm)
