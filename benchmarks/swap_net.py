"""Score a cascade put together from the nets of several folders: one net changed, the others held fixed.

A new RNet is judged as the RNet ablation judges its rows (``benchmarks/ablation_rnet.py``): PNet → that
RNet → a fixed ONet on all the shared WIDER val images, at 0.6 / 0.7 / 0.7 — the faces >= 20 px each stage's
windows still cover (IoU 0.5), its windows per image, and the official AP of the final boxes. It needs only
the new net's weights, so it reads a net an hour before the run that trained it has its own ONet. The fixed
ONet was trained on another RNet's windows, which favours that RNet: a row that beats it here is not flattered.
The result is cached in ``--out``. Usage::

    MTCNN_DATA_ROOT=../shared/data python benchmarks/swap_net.py --pnet pretrained \\
        --rnet runs/lever_rnet_nolm/cascade --onet pretrained --out runs/swap/rnet_nolm.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ablation_rnet import score  # benchmarks/ablation_rnet.py: the ablation's own measurement
from mtcnn_gluon.config import NET_NAMES
from mtcnn_gluon.utils.files import write_json


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    for net in NET_NAMES:
        ap.add_argument(f"--{net}", required=True, metavar="DIR", help=f"a folder holding {net}.params")
    ap.add_argument("--out", required=True, help="the result's JSON file (read back when it exists)")
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("error: set MTCNN_DATA_ROOT or --data-root")
    out = Path(args.out)
    if out.is_file():
        print(out.read_text())
        return
    sources = {net: Path(getattr(args, net)) / f"{net}.params" for net in NET_NAMES}
    for net, path in sources.items():
        if not path.is_file():
            raise SystemExit(f"error: --{net} {path.parent}: no {path.name} there")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as cascade:
        for net, path in sources.items():
            shutil.copyfile(path, Path(cascade) / path.name)
        result = {"nets": {net: str(path) for net, path in sources.items()}, **score(cascade, args.data_root)}
    result["seconds"] = round(time.time() - t0)
    write_json(out, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
