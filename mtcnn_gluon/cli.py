"""Command line: ``python -m mtcnn_gluon detect|eval|demo|data|train|pipeline|course|gpu ...``.

The only argparse of the package: each sub-command reads its options here and calls the package;
``--help`` on any of them lists its options.

One rule for the data: every command takes ``--data-root``, which defaults to ``$MTCNN_DATA_ROOT``. Commands
that read WIDER FACE or CNN_FacePoint (``eval``, ``data``, ``pipeline``) stop when neither is given;
``--weights reference`` needs it for ``reference_mtcnn/``; ``course`` and ``demo`` run without it (the
course then builds the embedded toy dataset). GPUs are chosen with ``--gpus 0,1`` (default: the CPU).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2

from . import course
from .config import LandmarkAugConfig, PipelineConfig, RecordMixConfig, SamplingConfig, TrainConfig
from .data.build import build_landmark_records, build_pnet_records, resolve_exclude
from .data.download import download_all
from .data.toy import packaged_photos
from .detector import MTCNNDetector, detect_files, detections_to_json, pretrained_dir
from .eval.cascade import evaluate_cascade
from .eval.predictions import score_predictions_json
from .gpu import gpu_check
from .pipeline import STEPS, publish_cascade, run_pipeline
from .train import fit
from .utils.device import contexts
from .utils.files import write_json
from .utils.images import read_image
from .viz import draw_detections, plot_pr_curves

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


# ------------------------------------------------------------------------------------------ helpers

def _floats(text: str, n: int, name: str):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected {n} comma-separated numbers, got {text!r}") from None
    if len(values) != n:
        raise argparse.ArgumentTypeError(f"{name}: expected {n} values, got {len(values)} in {text!r}")
    return values


def _add_data_root(p, what: str = "shared data folder"):
    p.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT") or None,
                   help=f"{what} (default $MTCNN_DATA_ROOT)")


def _add_gpus(p):
    p.add_argument("--gpus", default="", help="GPU ids, e.g. 0,1 (default: CPU)")


def _need_data_root(args) -> str:
    if not args.data_root:
        raise SystemExit(f"{args.command}: --data-root (or $MTCNN_DATA_ROOT) is required: the folder holding "
                         "WIDER_FACE/ and landmarks/")
    return args.data_root


def _contexts(args) -> list:
    try:
        return contexts(args.gpus)
    except ValueError as err:
        raise SystemExit(str(err)) from None


def _add_detector_options(p):
    p.add_argument("--weights", default="reference",
                   help="'reference' (original MTCNN from <data-root>/reference_mtcnn), 'pretrained' "
                        "(the cascade in this repo's pretrained/) or a folder with pnet/rnet/onet.params")
    _add_data_root(p)
    p.add_argument("--min-face", type=float, default=20, help="smallest face to find, px (default 20)")
    p.add_argument("--thresholds", type=lambda t: _floats(t, 3, "--thresholds"), default=(0.6, 0.7, 0.7),
                   help="PNet,RNet,ONet face-probability thresholds (default 0.6,0.7,0.7)")
    p.add_argument("--factor", type=float, default=0.709, help="pyramid scale factor (default 0.709)")
    _add_gpus(p)


def _detector(args):
    return MTCNNDetector.from_weights(args.weights, ctx=_contexts(args), data_root=args.data_root,
                                      min_face=args.min_face, thresholds=args.thresholds, factor=args.factor)


def _image_paths(inputs):
    paths, missing = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
        elif p.is_file():
            paths.append(item)
        else:
            missing.append(item)
    if missing:
        raise SystemExit(f"detect: not found: {', '.join(missing)}")
    return paths


# ------------------------------------------------------------------------------ detect, eval, demo

def cmd_detect(args):
    paths = _image_paths(args.inputs)
    det = _detector(args)
    result = detect_files(det, paths)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        for i, (path, r) in enumerate(result["images"].items()):
            drawn = draw_detections(read_image(path), r["boxes"], r["landmarks"])
            cv2.imwrite(str(out / f"{i:03d}_{Path(path).stem}.jpg"), drawn)
    doc = {"settings": {**det.settings(), "weights": str(args.weights)}, "images": result["images"]}
    if result["skipped"]:
        doc["skipped"] = result["skipped"]
    write_json(args.json or (out / "detections.json" if out else "detections.json"), doc)
    n = sum(len(r["boxes"]) for r in result["images"].values())
    print(f"{n} faces in {len(result['images'])} images"
          + (f"; {len(result['skipped'])} skipped: " + "; ".join(result["skipped"].values()) if result["skipped"] else ""))
    return 0


def cmd_eval(args):
    data_root = _need_data_root(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.predictions:
        result = score_predictions_json(args.predictions, data_root)
        write_json(out / "wider_ap.json", result.to_dict())
        plot_pr_curves(result, label=Path(args.predictions).stem, path=out / "pr_curves.png")
    else:
        r = evaluate_cascade(_detector(args), data_root, out=out, val_limit=args.limit or None,
                             landmark_faces=0 if args.no_landmarks else None, label=str(args.weights),
                             settings={"weights": str(args.weights)})
        result = r["wider"]
        if r["landmarks"] is not None:
            print(r["landmarks"].summary())
    print(result.summary())
    print(f"wrote {out}/wider_ap.json, {out}/pr_curves.png")
    return 0


def cmd_demo(args):
    """Detect faces in packaged photos with every cascade available; annotated images + JSON."""
    choices = []
    if os.path.isfile(os.path.join(pretrained_dir(), "onet.params")):
        choices.append("pretrained")
    if args.data_root and os.path.isdir(os.path.join(args.data_root, "reference_mtcnn")):
        choices.append("reference")
    if not choices:
        raise SystemExit("demo: no weights: pretrained/ holds no cascade and no data root with reference_mtcnn/ "
                         "was given (--data-root or $MTCNN_DATA_ROOT)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {}
    for weights in choices:
        det = MTCNNDetector.from_weights(weights, data_root=args.data_root)
        doc[weights] = {"settings": det.settings(), "images": {}}
        for name, img in packaged_photos(("astronaut",)).items():
            boxes, pts = det.detect(img)
            cv2.imwrite(str(out / f"{name}_{weights}.jpg"), draw_detections(img, boxes, pts))
            doc[weights]["images"][name] = detections_to_json(boxes, pts)
            print(f"{weights}: {len(boxes)} face(s) in {name}"
                  + "".join(f"\n  box {b[:4].astype(float).round(1).tolist()} score {b[4]:.3f}" for b in boxes))
    write_json(out / "detections.json", doc)
    print(f"wrote {out}/")
    return 0


def _add_detection_commands(sub):
    p = sub.add_parser("detect", help="detect faces and landmarks in images or folders")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    _add_detector_options(p)
    p.add_argument("--out", help="folder for annotated images")
    p.add_argument("--json", help="detections JSON (default <out>/detections.json)")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("eval", help="WIDER FACE AP (easy/medium/hard) and landmark NME")
    _add_detector_options(p)
    p.add_argument("--out", required=True, help="folder for predictions, AP JSON and PR figure")
    p.add_argument("--predictions", help="score this predictions JSON instead of detecting")
    p.add_argument("--limit", type=int, default=0, help="only the first N val images (0 = all present)")
    p.add_argument("--no-landmarks", action="store_true", help="skip the landmark NME")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="detect faces in photos shipped with installed packages")
    p.add_argument("--out", required=True)
    _add_data_root(p, "data folder with reference_mtcnn/ (optional)")
    p.set_defaults(func=cmd_demo)


# ---------------------------------------------------------------------------------------------- data

def _mix_from(args):
    mix = RecordMixConfig(encoding=args.encoding)
    if getattr(args, "ratio", None):
        parts = [float(v) for v in args.ratio.split(":")]
        if len(parts) != 4:
            raise SystemExit(f"--ratio: expected neg:pos:part:landmark, got {args.ratio!r}")
        mix.pnet_ratio = dict(zip(("neg", "pos", "part", "landmark"), parts))
    return mix


def _exclude(args):
    return resolve_exclude(args.data_root, args.exclude, holdout=args.landmark_holdout == "eval")


def cmd_data_pnet(args):
    data_root = _need_data_root(args)
    sampling = SamplingConfig(random_negatives=args.neg_per_image, min_face=args.min_face)
    build_pnet_records(data_root, args.out, sampling=sampling, mix=_mix_from(args), seed=args.seed,
                       workers=args.workers, limit=args.limit, landmark_limit=args.landmark_limit,
                       exclude=_exclude(args), resume=not args.no_resume, progress=not args.no_progress)
    return 0


def cmd_data_landmarks(args):
    data_root = _need_data_root(args)
    build_landmark_records(data_root, args.out, sizes=args.sizes,
                           landmark=LandmarkAugConfig(max_angle=args.max_angle), mix=_mix_from(args),
                           seed=args.seed, workers=args.workers, limit=args.limit, exclude=_exclude(args),
                           resume=not args.no_resume, progress=not args.no_progress)
    return 0


def cmd_data_download(args):
    report = download_all(args.to, names=args.only, keep_archives=args.keep_archives)
    return 0 if not report["failed"] else 1


def _add_record_options(p):
    _add_data_root(p, "folder with WIDER_FACE/ and landmarks/")
    p.add_argument("--out", default="data/records", help="output folder (default: data/records)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the output depends on it only")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--exclude", default=None, help="more landmark indices to hold out (.npy or text of integers)")
    p.add_argument("--landmark-holdout", choices=("eval", "none"), default="eval",
                   help="'eval' (default): leave out the faces the landmark NME is measured on "
                        "(mtcnn_gluon.data.facepoint.holdout_indices), so that evaluation is on unseen faces; "
                        "'none': use every face")
    p.add_argument("--encoding", choices=("raw", "png"), default="raw", help="image bytes in the records")
    p.add_argument("--no-resume", action="store_true", help="rebuild even when a complete record exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_data_commands(sub):
    data = sub.add_parser("data", help="download datasets and build training records")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("pnet", help="PNet record from WIDER FACE train + CNN_FacePoint (12 px)")
    _add_record_options(p)
    p.add_argument("--limit", type=int, default=None, help="use the first N WIDER images only")
    p.add_argument("--landmark-limit", type=int, default=None, help="use the first N landmark faces only")
    p.add_argument("--neg-per-image", type=int, default=SamplingConfig.random_negatives,
                   help="random negatives per image")
    p.add_argument("--min-face", type=int, default=SamplingConfig.min_face, help="smallest positive face, px")
    p.add_argument("--ratio", default="3:1:1:2", help="neg:pos:part:landmark in the record")
    p.set_defaults(func=cmd_data_pnet)

    p = dsub.add_parser("landmarks", help="landmark records for RNet/ONet (24/48 px)")
    _add_record_options(p)
    p.add_argument("--sizes", type=int, nargs="+", default=[24, 48], help="sample sizes, px")
    p.add_argument("--limit", type=int, default=None, help="use the first N landmark faces only")
    p.add_argument("--max-angle", type=float, default=LandmarkAugConfig.max_angle, help="rotation range, degrees")
    p.set_defaults(func=cmd_data_landmarks)

    p = dsub.add_parser("download", help="fetch WIDER FACE and CNN_FacePoint into the layout the parsers read")
    p.add_argument("--to", required=True, help="destination folder (becomes the data root)")
    p.add_argument("--only", nargs="+", default=None, help="registry names to fetch (default: all)")
    p.add_argument("--keep-archives", action="store_true", help="keep the zip files after unpacking")
    p.set_defaults(func=cmd_data_download)


# -------------------------------------------------------------------------- train, pipeline, course

def cmd_train(args) -> int:
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                   "optimizer": args.optimizer, "warmup_epochs": args.warmup_epochs,
                                   "seed": args.seed}.items() if v is not None}
    if args.no_flip:
        overrides["flip"] = False
    cfg = TrainConfig.preset(args.net, smoke=args.smoke, **overrides)
    result = fit(args.records, args.out, cfg, ctx=_contexts(args), resume=args.resume,
                 progress=not args.no_progress)
    print(f"wrote {result.params_path}")
    return 0


def cmd_pipeline(args):
    data_root = _need_data_root(args)
    changes = {"workers": args.workers}
    if args.epochs:
        epochs = dict(PipelineConfig.preset(args.preset).epochs)
        for item in args.epochs.split(","):
            k, _, v = item.partition("=")
            if k not in epochs or not v.isdigit():
                raise SystemExit(f"--epochs: expected net=N items (nets: pnet, rnet, onet), got {item!r}")
            epochs[k] = int(v)
        changes["epochs"] = epochs
    cfg = PipelineConfig.preset(args.preset, **changes)
    run_pipeline(data_root, args.out, cfg, ctx=_contexts(args), until=args.until)
    if args.publish:
        publish_cascade(args.out, args.publish)
        print(f"published the cascade to {args.publish}")
    return 0


def cmd_course(args):
    only = None
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        only = [s for s in course.NOTEBOOKS if any(s == w or s.split("_")[0] == w for w in wanted)]
        if len(only) != len(wanted):
            raise SystemExit(f"--only: unknown notebooks in {args.only!r}; choose from {', '.join(course.NOTEBOOKS)}")
    t0 = time.time()
    course.run_course(args.run_dir, data_root=args.data_root or "", preset=args.preset, gpus=args.gpus,
                      notebooks=only, kernel_name=args.kernel)
    print(f"[course] done in {time.time() - t0:.0f} s: {Path(args.run_dir) / 'index.md'}")
    return 0


def _add_training_commands(sub):
    p = sub.add_parser("train", help="train PNet, RNet or ONet from records")
    p.add_argument("net", choices=("pnet", "rnet", "onet"))
    p.add_argument("--records", required=True, help="records folder (the net's own, or one holding pnet/ rnet/ onet/)")
    p.add_argument("--out", required=True, help="run folder; <out>/<net>.params at the end")
    p.add_argument("--epochs", type=int, help="epochs (default: 30 PNet, 22 RNet/ONet)")
    p.add_argument("--batch-size", type=int, help="samples per step (default 384)")
    p.add_argument("--lr", type=float, help="base learning rate (default 0.001)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="default sgd (momentum 0.9)")
    p.add_argument("--warmup-epochs", type=float, help="linear warm-up, epochs (default 0)")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--smoke", action="store_true", help="a tiny run (2 epochs of 4 steps)")
    _add_gpus(p)
    p.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pipeline", help="the whole recipe: data, PNet, mining, RNet, mining, ONet, eval")
    _add_data_root(p)
    p.add_argument("--out", required=True, help="run folder (resumed if it exists)")
    p.add_argument("--preset", default="full", choices=("smoke", "full"))
    p.add_argument("--until", choices=STEPS, help="stop after this step")
    p.add_argument("--epochs", help="override epochs, e.g. pnet=10,rnet=8,onet=8")
    _add_gpus(p)
    p.add_argument("--workers", type=int, default=None, help="processes for data generation")
    p.add_argument("--publish", metavar="DIR", help="after the run, copy the cascade and its JSON card to DIR")
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("course", help="the course: every notebook in order through papermill")
    csub = p.add_subparsers(dest="course_command", required=True)
    p = csub.add_parser("run", help="execute every notebook in order into a run folder")
    p.add_argument("--run-dir", default=f"runs/course-{time.strftime('%Y%m%d-%H%M%S')}",
                   help="run folder (default runs/course-<timestamp>)")
    _add_data_root(p, "shared data folder; without it the embedded toy dataset")
    p.add_argument("--preset", default="smoke", choices=("smoke", "full"))
    _add_gpus(p)
    p.add_argument("--only", help="comma-separated notebook numbers or stems, e.g. 00,01,02")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    p.set_defaults(func=cmd_course)

    p = sub.add_parser("gpu", help="check that MXNet trains on gpu(0) as on the CPU (make gpu-check)")
    gsub = p.add_subparsers(dest="gpu_command", required=True)
    gsub.add_parser("check", help="a few PNet steps on gpu(0) and on the CPU; compare the losses") \
        .set_defaults(func=lambda args: gpu_check())


# ---------------------------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mtcnn_gluon", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_detection_commands(sub)
    _add_data_commands(sub)
    _add_training_commands(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
