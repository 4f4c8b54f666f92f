"""Command line: ``python -m mtcnn_gluon detect|eval|data|train|pipeline ...``.

Each sub-command is a thin wrapper over the package; ``--help`` on any of them lists its options.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

from .files import write_json


def contexts(gpus: str | None):
    """``'0,1'`` → ``[mx.gpu(0), mx.gpu(1)]``; empty or None → ``[mx.cpu()]``."""
    import mxnet as mx

    if not gpus:
        return [mx.cpu()]
    try:
        ids = [int(g) for g in str(gpus).split(",") if g.strip()]
    except ValueError:
        raise SystemExit(f"--gpus: expected comma-separated GPU ids like 0,1, got {gpus!r}") from None
    return [mx.gpu(i) for i in ids] or [mx.cpu()]


def _floats(text: str, n: int, name: str):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected {n} comma-separated numbers, got {text!r}") from None
    if len(values) != n:
        raise argparse.ArgumentTypeError(f"{name}: expected {n} values, got {len(values)} in {text!r}")
    return values


def _add_detector_options(p):
    p.add_argument("--weights", default="reference",
                   help="'reference' (original MTCNN from <data-root>/reference_mtcnn), 'pretrained' "
                        "(the cascade in this repo's pretrained/) or a folder with pnet/rnet/onet.params")
    p.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"),
                   help="shared data folder (default $MTCNN_DATA_ROOT)")
    p.add_argument("--min-face", type=float, default=20, help="smallest face to find, px (default 20)")
    p.add_argument("--thresholds", type=lambda t: _floats(t, 3, "--thresholds"), default=(0.6, 0.7, 0.7),
                   help="PNet,RNet,ONet face-probability thresholds (default 0.6,0.7,0.7)")
    p.add_argument("--factor", type=float, default=0.709, help="pyramid scale factor (default 0.709)")
    p.add_argument("--gpus", default="", help="GPU ids, e.g. 0,1 (default: CPU)")


def _detector(args):
    from .detector import MTCNNDetector

    return MTCNNDetector.from_weights(args.weights, ctx=contexts(args.gpus), data_root=args.data_root,
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


def cmd_detect(args):
    import cv2

    from .detector import detect_files
    from .images import read_image
    from .viz import draw_detections

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
    from . import evaluation as ev

    if not args.data_root:
        raise SystemExit("eval: --data-root (or $MTCNN_DATA_ROOT) is required: it holds WIDER_FACE/")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.predictions:
        result = ev.score_predictions_json(args.predictions, args.data_root)
        label = Path(args.predictions).stem
    else:
        from .detector import detect_files, predict_landmarks

        det = _detector(args)
        images = ev.present_val_images(args.data_root)
        if args.limit:
            images = images[: args.limit]
        # keys are "<event>/<name>"; the JSON names files relative to the data root, as the reference's
        files = [f"WIDER_FACE/WIDER_val/images/{key}.jpg" for key in images]
        found = detect_files(det, files, root=args.data_root)
        doc = {"settings": {**det.settings(), "weights": str(args.weights)}, "images": found["images"],
               "skipped": found["skipped"]}
        write_json(out / "predictions.json", doc)
        preds = {k: np.asarray(v["boxes"], float).reshape(-1, 5) for k, v in found["images"].items()}
        ev.write_wider_predictions(preds, out / "wider_predictions")
        result = ev.evaluate_wider(preds, Path(args.data_root), images=images)
        label = str(args.weights)
        if not args.no_landmarks:
            lm = ev.evaluate_landmarks(lambda imgs, boxes: predict_landmarks(det, imgs, boxes), args.data_root)
            print(lm.summary())
            write_json(out / "landmarks.json", {"nme": lm.nme, "nme_per_point": list(map(float, lm.nme_per_point)),
                                                 "failure_rate": lm.failure_rate, "n_faces": int(len(lm.errors))})
    print(result.summary())
    write_json(out / "wider_ap.json", result.to_dict())
    ev.plot_pr_curves(result, label=label, path=out / "pr_curves.png")
    print(f"wrote {out}/wider_ap.json, {out}/pr_curves.png")
    return 0


def cmd_demo(args):
    """Detect faces in packaged photos with every cascade available; annotated images + JSON."""
    import cv2

    from .course import packaged_photos
    from .detector import MTCNNDetector, pretrained_dir
    from .viz import draw_detections

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
            doc[weights]["images"][name] = {"boxes": np.round(boxes.astype(float), 2).tolist(),
                                            "landmarks": np.round(pts.astype(float), 2).tolist()}
            print(f"{weights}: {len(boxes)} face(s) in {name}"
                  + "".join(f"\n  box {b[:4].astype(float).round(1).tolist()} score {b[4]:.3f}" for b in boxes))
    write_json(out / "detections.json", doc)
    print(f"wrote {out}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mtcnn_gluon", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

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
    p.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT"))
    p.set_defaults(func=cmd_demo)

    for module, adder in (("data_cli", "add_data_parser"), ("train", "add_train_parser"),
                          ("pipeline", "add_pipeline_parser")):
        try:
            mod = __import__(f"{__package__}.{module}", fromlist=[adder])
        except ImportError:
            continue
        getattr(mod, adder)(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
