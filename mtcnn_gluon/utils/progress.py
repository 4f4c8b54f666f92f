"""Progress bars: a widget in a notebook someone watches, text lines where nobody does.

``tqdm.auto`` draws an ipywidgets bar inside a Jupyter kernel. Under papermill nobody sees the widget move, and
the executed notebook keeps only its first state, ``0%| | 0/26``, so every finished loop looks stuck at 0 %.
With ``MTCNN_PROGRESS=text`` in the environment (``mtcnn_gluon course run`` sets it for its kernels) the bars
are plain text on stderr, redrawn at most every ``mininterval`` seconds (default here 5 s instead of
0.1 s), so the saved notebook shows how far each loop got and how long it took, at a few lines per loop.
"""
from __future__ import annotations

import os

from tqdm.auto import tqdm as _widget_or_text
from tqdm.std import tqdm as _text

__all__ = ["ENV", "tqdm"]

#: Environment variable: ``text`` for text bars everywhere; anything else (or unset): ``tqdm.auto``.
ENV = "MTCNN_PROGRESS"


def tqdm(*args, **kwargs):
    """``tqdm.auto.tqdm``, or a text bar (``mininterval`` 5 s unless given) when ``MTCNN_PROGRESS=text``."""
    if os.environ.get(ENV, "").strip().lower() == "text":
        kwargs.setdefault("mininterval", 5.0)
        return _text(*args, **kwargs)
    return _widget_or_text(*args, **kwargs)
