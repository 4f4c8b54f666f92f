"""Issue-14 lever: the full recipe with generated positives and part faces for RNet and ONet.

``PipelineConfig.preset("full")`` plus ``generated_faces={"rnet": 20, "onet": 20}`` (20 jittered crops tried
per ground-truth face at 24 / 48 px, labelled by IoU as PNet's are, added to the mined samples), seed 0, on
the shared data. Resumable: rerun the same command to continue from the last finished step; compare
``runs/lever_generated_faces/eval/summary.json`` with the published cascade (pretrained/cascade.json).

    MTCNN_DATA_ROOT=../shared/data python benchmarks/lever_generated_faces.py [--out runs/lever_generated_faces]
"""
import argparse
import dataclasses
import os

from mtcnn_gluon.config import PipelineConfig
from mtcnn_gluon.pipeline import run_pipeline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    ap.add_argument("--out", default="runs/lever_generated_faces")
    args = ap.parse_args()
    if not args.data_root:
        raise SystemExit("set MTCNN_DATA_ROOT or --data-root")
    cfg = dataclasses.replace(PipelineConfig.preset("full"), generated_faces={"rnet": 20, "onet": 20})
    run_pipeline(args.data_root, args.out, cfg, progress=False)


if __name__ == "__main__":
    main()
