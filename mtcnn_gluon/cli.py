"""Command line: ``python -m mtcnn_gluon detect|align|export|eval|demo|data|train|pipeline|course|gpu ...``.

The only argparse of the package: each sub-command reads its options here and calls the package;
``--help`` on any of them lists its options.

One rule for the data: every command takes ``--data-root``, which defaults to ``$MTCNN_DATA_ROOT``. Commands
that read WIDER FACE or CNN_FacePoint (``eval``, ``data``, ``pipeline``) stop when neither is given;
``--weights reference`` needs it for ``reference_mtcnn/``; ``course`` and ``demo`` run without it (the
course then builds the embedded toy dataset). GPUs are chosen with ``--gpus 0,1`` (default: the CPU).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
from pathlib import Path

import cv2
import numpy as np

from . import course
from .config import LandmarkAugConfig, PipelineConfig, RecordMixConfig, SamplingConfig, TrainConfig
from .data.build import build_landmark_records, build_pnet_records, resolve_exclude
from .data.download import download_all
from .data.toy import packaged_photos
from .detector import BACKENDS, MTCNNDetector, detect_files, detections_to_json, pretrained_dir
from .eval.cascade import evaluate_cascade
from .eval.predictions import score_predictions_json
from .gpu import gpu_check
from .model.export import export_cascade
from .pipeline import STEPS, publish_cascade, run_pipeline
from .train import fit
from .utils.checks import OutputLock, UserError, same_file
from .utils.device import contexts
from .utils.files import write_json
from .utils.align import align_face, template
from .utils.images import VIDEO_EXTENSIONS, read_image, try_read_image, video_frames
from .viz import draw_detections, plot_pr_curves

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


# ------------------------------------------------------------------------------------------ helpers

def _typed(convert, ok, what):
    """An argparse type: ``convert(text)`` that must satisfy ``ok``; argparse names the option on failure."""
    def parse(text):
        try:
            value = convert(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


positive_int = _typed(int, lambda v: v >= 1, "an integer >= 1")
nonneg_int = _typed(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _typed(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
nonneg_float = _typed(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
unit_float = _typed(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
min_face_px = _typed(float, lambda v: math.isfinite(v) and v >= 1, "a face size in px >= 1")
pyramid_factor = _typed(float, lambda v: math.isfinite(v) and 0 < v < 1, "a number between 0 and 1")
angle_degrees = _typed(float, lambda v: math.isfinite(v) and 0 <= v <= 180, "an angle in [0, 180] degrees")


def _floats(text: str, n: int, name: str):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {n} comma-separated numbers, got {text!r}") from None
    if len(values) != n:
        example = ",".join(["0.6", "0.7", "0.7", "0.7"][:n])
        raise argparse.ArgumentTypeError(f"expected {n} comma-separated values like {example}, "
                                         f"got {len(values)} in {text!r}")
    if not all(math.isfinite(v) and 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected probabilities in [0, 1], got {text!r}")
    return values


def _ratio(text: str):
    parts = text.split(":")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected neg:pos:part:landmark numbers like 3:1:1:2, got {text!r}") from None
    if len(values) != 4 or not all(math.isfinite(v) and v >= 0 for v in values) or not any(values):
        raise argparse.ArgumentTypeError(f"expected four shares >= 0 (not all 0) like 3:1:1:2, got {text!r}")
    return dict(zip(("neg", "pos", "part", "landmark"), values))


def _gpu_ids(text: str):
    try:
        contexts(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated GPU ids like 0,1, got {text!r}") from None
    return text


def _add_data_root(p, what: str = "shared data folder"):
    p.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT") or None,
                   help=f"{what} (default $MTCNN_DATA_ROOT)")


def _add_gpus(p):
    p.add_argument("--gpus", type=_gpu_ids, default="", help="GPU ids, e.g. 0,1 (default: CPU)")


def _need_data_root(args) -> str:
    if not args.data_root:
        raise UserError(f"{args.command}: --data-root (or $MTCNN_DATA_ROOT) is required: the folder holding "
                        "WIDER_FACE/ and landmarks/")
    if not os.path.isdir(args.data_root):
        raise UserError(f"--data-root {args.data_root}: no such folder")
    return args.data_root


def _add_detector_options(p):
    p.add_argument("--weights", default="reference",
                   help="'reference' (original MTCNN from <data-root>/reference_mtcnn), 'pretrained' "
                        "(the cascade in this repo's pretrained/) or a folder with pnet/rnet/onet.params")
    _add_data_root(p)
    p.add_argument("--min-face", type=min_face_px, default=20, help="smallest face to find, px (default 20)")
    p.add_argument("--thresholds", type=lambda t: _floats(t, 3, "--thresholds"), default=(0.6, 0.7, 0.7),
                   help="PNet,RNet,ONet face-probability thresholds (default 0.6,0.7,0.7)")
    p.add_argument("--factor", type=pyramid_factor, default=0.709, help="pyramid scale factor (default 0.709)")
    _add_gpus(p)


def _detector(args):
    return MTCNNDetector.from_weights(args.weights, ctx=contexts(args.gpus), data_root=args.data_root,
                                      min_face=args.min_face, thresholds=args.thresholds, factor=args.factor,
                                      backend=getattr(args, "backend", "mxnet"))


def _image_paths(inputs):
    """Image files named or found (recursively) in folders; ``(paths, not_images)``: files of folders that are
    not images (by extension) and folders that could not be read, named so that nothing goes unsaid."""
    paths, missing, not_images = [], [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            def unreadable(err):
                not_images.append(f"{err.filename}: folder not readable ({err.strerror})")
            for folder, dirs, files in sorted(os.walk(p, onerror=unreadable)):
                dirs.sort()
                for name in sorted(files):
                    f = Path(folder) / name
                    ok = f.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
                    (paths if ok else not_images).append(
                        str(f) if ok else f"{f}: not an image file ({f.suffix or 'no extension'})")
        elif p.is_file():
            paths.append(item)
        else:
            missing.append(item)
    if missing:
        raise SystemExit(f"detect: not found: {', '.join(missing)}")
    return paths, not_images


def _check_outputs(inputs, out=None, json_path=None):
    """Refuse outputs that would overwrite or land among the inputs (writability: :class:`OutputLock`)."""
    for item in inputs:
        if json_path and (same_file(json_path, item) or Path(json_path).resolve() == Path(item).resolve()):
            raise UserError(f"--json {json_path}: is one of the inputs; it would be overwritten")
        if out and Path(item).is_dir():
            o, i = Path(out).resolve(), Path(item).resolve()
            if o == i or i in o.parents:
                raise UserError(f"--out {out}: inside the input folder {item}; the annotated images would be "
                                "read as inputs by the next run")


def _detect_video(det, video, stride, images, skipped, out):
    """Every ``stride``-th frame of ``video`` into ``images`` as ``<video>#frame=<index>``; annotated frames
    to ``out``."""
    try:
        for index, frame in video_frames(video, stride):
            boxes, pts = det.detect(frame)
            images[f"{video}#frame={index}"] = detections_to_json(boxes, pts)
            if out:
                cv2.imwrite(str(out / f"{Path(video).stem}_frame{index:06d}.jpg"), draw_detections(frame, boxes, pts))
    except (OSError, ValueError, cv2.error) as err:
        skipped[video] = str(err)


def cmd_detect(args):
    paths, not_images = _image_paths(args.inputs)
    out = Path(args.out) if args.out else None
    json_path = Path(args.json) if args.json else (out / "detections.json" if out else Path("detections.json"))
    _check_outputs(args.inputs, out, json_path)
    with OutputLock(out or json_path.resolve().parent, "--out" if out else "--json"):
        det = _detector(args)
        videos = [p for p in paths if Path(p).suffix.lower() in VIDEO_EXTENSIONS]
        result = detect_files(det, [p for p in paths if p not in videos], exif=not args.no_exif)
        skipped = dict(result["skipped"])
        for video in videos:
            _detect_video(det, video, args.frame_stride, result["images"], skipped, out)
        for i, (path, r) in enumerate(result["images"].items()):
            if out and "#frame=" not in path:
                drawn = draw_detections(read_image(path, exif=not args.no_exif), r["boxes"], r["landmarks"])
                target = out / f"{i:03d}_{Path(path).stem}.jpg"
                if not cv2.imwrite(str(target), drawn):
                    raise UserError(f"--out {target}: could not write the annotated image")
        doc = {"settings": {**det.settings(), "weights": str(args.weights)}, "images": result["images"]}
        if skipped or not_images:
            doc["skipped"] = {**skipped, **{n.split(": ", 1)[0]: n.split(": ", 1)[1] for n in not_images}}
        write_json(json_path, doc)
    n = sum(len(r["boxes"]) for r in result["images"].values())
    print(f"{n} faces in {len(result['images'])} images; wrote {json_path}")
    for line in list(skipped.items())[:20]:
        print(f"skipped {line[0]}: {line[1]}")
    if not_images:
        print(f"left out {len(not_images)} files or folders that are not readable images, e.g. {not_images[0]}")
    if skipped:
        print(f"{len(skipped)} of {len(paths)} images could not be read (listed in {json_path} under 'skipped')")
    return 1 if args.strict and (skipped or not_images) else 0


def cmd_align(args):
    paths, not_images = _image_paths(args.inputs)
    out = Path(args.out)
    _check_outputs(args.inputs, out)
    crops, skipped = [], {}
    with OutputLock(out):
        det = _detector(args)
        for path in paths:
            img, skip = try_read_image(path, exif=True)
            if img is None:
                skipped[path] = skip.detail
                continue
            boxes, pts = det.detect(img)
            for k, (box, points) in enumerate(zip(boxes, pts)):
                crop, in_crop = align_face(img, points, args.size)
                name = f"{Path(path).stem}_{k:02d}.png"
                if not cv2.imwrite(str(out / name), crop):
                    raise UserError(f"--out {out / name}: could not write the crop")
                crops.append({"crop": name, "source": path, "box": [round(float(v), 2) for v in box[:4]],
                              "score": round(float(box[4]), 4),
                              "landmarks_in_crop": np.round(in_crop, 2).tolist()})
        write_json(out / "align.json", {"size": args.size, "template": template(args.size).tolist(),
                                        "crops": crops, "skipped": skipped})
    print(f"{len(crops)} aligned {args.size} px crops from {len(paths) - len(skipped)} images; wrote {out}/align.json")
    for path, why in skipped.items():
        print(f"skipped {path}: {why}")
    return 0


def cmd_export(args):
    out = Path(args.out)
    with OutputLock(out):
        card = export_cascade(_detector(args), out, weights_label=str(args.weights))
    print(f"wrote {', '.join(str(out / f) for f in card['files'].values())} and {out / 'mtcnn.json'}")
    return 0


def cmd_eval(args):
    data_root = _need_data_root(args)
    out = Path(args.out)
    with OutputLock(out):
        if args.predictions:
            result = score_predictions_json(args.predictions, data_root)
            write_json(out / "wider_ap.json", result.to_dict())
            plot_pr_curves(result, label=Path(args.predictions).stem, path=out / "pr_curves.png")
            skipped = {}
        else:
            r = evaluate_cascade(_detector(args), data_root, out=out, val_limit=args.limit or None,
                                 landmark_faces=0 if args.no_landmarks else None, label=str(args.weights),
                                 settings={"weights": str(args.weights)})
            result, skipped = r["wider"], r["skipped"]
            if r["landmarks"] is not None:
                print(r["landmarks"].summary())
    print(result.summary())
    for path, why in skipped.items():
        print(f"skipped {path}: {why}")
    if skipped:
        print(f"{len(skipped)} val images could not be read: their faces count as missed in the AP above "
              f"(listed in {out}/predictions.json under 'skipped')")
    print(f"wrote {out}/wider_ap.json, {out}/pr_curves.png" + ("" if args.predictions else f", {out}/per_event_ap.json"))
    return 1 if args.strict and skipped else 0


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


def _add_backend(p):
    p.add_argument("--backend", choices=BACKENDS, default="mxnet",
                   help="run the nets in MXNet (default) or as exported ONNX graphs in onnxruntime")


def _add_detection_commands(sub):
    p = sub.add_parser("detect", help="detect faces and landmarks in images or folders")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    _add_detector_options(p)
    p.add_argument("--out", help="folder for annotated images")
    p.add_argument("--json", help="detections JSON (default <out>/detections.json)")
    p.add_argument("--no-exif", action="store_true",
                   help="use the pixels as stored, ignoring the EXIF orientation of phone photos")
    p.add_argument("--strict", action="store_true", help="exit 1 when any input was skipped")
    _add_backend(p)
    p.add_argument("--frame-stride", type=positive_int, default=1,
                   help="videos: detect on every N-th frame (results keyed <video>#frame=<index>)")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("align", help="aligned face crops (5-point similarity to the ArcFace template)")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    _add_detector_options(p)
    p.add_argument("--out", required=True, help="folder for the crops and align.json")
    p.add_argument("--size", type=int, choices=(112, 160), default=112, help="crop side, px (default 112)")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("export", help="write the cascade as ONNX graphs (pnet/rnet/onet.onnx) and a JSON card")
    _add_detector_options(p)
    p.add_argument("--out", required=True, help="folder for pnet.onnx, rnet.onnx, onet.onnx and mtcnn.json")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("eval", help="WIDER FACE AP (easy/medium/hard) and landmark NME")
    _add_detector_options(p)
    p.add_argument("--out", required=True, help="folder for predictions, AP JSON and PR figure")
    p.add_argument("--predictions", help="score this predictions JSON instead of detecting")
    p.add_argument("--limit", type=nonneg_int, default=0, help="only the first N val images (0 = all present)")
    p.add_argument("--no-landmarks", action="store_true", help="skip the landmark NME")
    p.add_argument("--strict", action="store_true", help="exit 1 when any val image could not be read")
    _add_backend(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="detect faces in photos shipped with installed packages")
    p.add_argument("--out", required=True)
    _add_data_root(p, "data folder with reference_mtcnn/ (optional)")
    p.set_defaults(func=cmd_demo)


# ---------------------------------------------------------------------------------------------- data

def _mix_from(args):
    if getattr(args, "ratio", None):
        return RecordMixConfig(encoding=args.encoding, pnet_ratio=args.ratio)
    return RecordMixConfig(encoding=args.encoding)


def _exclude(args):
    return resolve_exclude(args.data_root, args.exclude, holdout=args.landmark_holdout == "eval")


def _records_skipped(summary) -> int:
    n = summary.get("skipped", {}).get("count", 0)
    if n:
        print(f"{n} files could not be read and were skipped (listed in the record's JSON under 'skipped')")
    return n


def cmd_data_pnet(args):
    data_root = _need_data_root(args)
    sampling = SamplingConfig(random_negatives=args.neg_per_image, min_face=args.min_face)
    with OutputLock(args.out):
        summary = build_pnet_records(data_root, args.out, sampling=sampling, mix=_mix_from(args), seed=args.seed,
                                     workers=args.workers, limit=args.limit, landmark_limit=args.landmark_limit,
                                     exclude=_exclude(args), resume=not args.no_resume,
                                     progress=not args.no_progress)
    return 1 if _records_skipped(summary) and args.strict else 0


def cmd_data_landmarks(args):
    data_root = _need_data_root(args)
    with OutputLock(args.out):
        summaries = build_landmark_records(data_root, args.out, sizes=args.sizes,
                                           landmark=LandmarkAugConfig(max_angle=args.max_angle), mix=_mix_from(args),
                                           seed=args.seed, workers=args.workers, limit=args.limit,
                                           exclude=_exclude(args), resume=not args.no_resume,
                                           progress=not args.no_progress)
    skipped = max((_records_skipped(v) for v in summaries.values()), default=0)
    return 1 if skipped and args.strict else 0


def cmd_data_download(args):
    report = download_all(args.to, names=args.only, keep_archives=args.keep_archives)
    return 0 if not report["failed"] else 1


def _add_record_options(p):
    _add_data_root(p, "folder with WIDER_FACE/ and landmarks/")
    p.add_argument("--out", default="data/records", help="output folder (default: data/records)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="random seed; the output depends on it only")
    p.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    p.add_argument("--exclude", default=None, help="more landmark indices to hold out (.npy or text of integers)")
    p.add_argument("--landmark-holdout", choices=("eval", "none"), default="eval",
                   help="'eval' (default): leave out the faces the landmark NME is measured on "
                        "(mtcnn_gluon.data.facepoint.holdout_indices), so that evaluation is on unseen faces; "
                        "'none': use every face")
    p.add_argument("--encoding", choices=("raw", "png"), default="raw", help="image bytes in the records")
    p.add_argument("--no-resume", action="store_true", help="rebuild even when a complete record exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--strict", action="store_true", help="exit 1 when any image could not be read")


def _add_data_commands(sub):
    data = sub.add_parser("data", help="download datasets and build training records")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("pnet", help="PNet record from WIDER FACE train + CNN_FacePoint (12 px)")
    _add_record_options(p)
    p.add_argument("--limit", type=positive_int, default=None, help="use the first N WIDER images only")
    p.add_argument("--landmark-limit", type=positive_int, default=None, help="use the first N landmark faces only")
    p.add_argument("--neg-per-image", type=nonneg_int, default=SamplingConfig.random_negatives,
                   help="random negatives per image")
    p.add_argument("--min-face", type=positive_int, default=SamplingConfig.min_face, help="smallest positive face, px")
    p.add_argument("--ratio", type=_ratio, default=_ratio("3:1:1:2"), help="neg:pos:part:landmark in the record")
    p.set_defaults(func=cmd_data_pnet)

    p = dsub.add_parser("landmarks", help="landmark records for RNet/ONet (24/48 px)")
    _add_record_options(p)
    p.add_argument("--sizes", type=positive_int, nargs="+", default=[24, 48], help="sample sizes, px")
    p.add_argument("--limit", type=positive_int, default=None, help="use the first N landmark faces only")
    p.add_argument("--max-angle", type=angle_degrees, default=LandmarkAugConfig.max_angle,
                   help="rotation range, degrees")
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
    if args.colour_jitter is not None:
        overrides["colour_jitter"] = args.colour_jitter
    if args.blur is not None:
        overrides["blur"] = args.blur
    cfg = TrainConfig.preset(args.net, smoke=args.smoke, **overrides)
    if not os.path.isdir(args.records):
        raise UserError(f"--records {args.records}: no such folder")
    with OutputLock(args.out):
        result = fit(args.records, args.out, cfg, ctx=contexts(args.gpus), resume=args.resume or args.resume_changed,
                     progress=not args.no_progress, resume_changed=args.resume_changed)
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
    with OutputLock(args.out):
        run_pipeline(data_root, args.out, cfg, ctx=contexts(args.gpus), until=args.until)
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
    p.add_argument("--epochs", type=nonneg_int, help="epochs (default: 30 PNet, 22 RNet/ONet)")
    p.add_argument("--batch-size", type=positive_int, help="samples per step (default 384)")
    p.add_argument("--lr", type=positive_float, help="base learning rate (default 0.001)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="default sgd (momentum 0.9)")
    p.add_argument("--warmup-epochs", type=nonneg_float, help="linear warm-up, epochs (default 0)")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    p.add_argument("--colour-jitter", type=unit_float, metavar="S",
                   help="brightness, contrast and saturation each x U(1-S, 1+S) per sample (default 0: off)")
    p.add_argument("--blur", type=unit_float, metavar="P",
                   help="Gaussian blur per sample with probability P, sigma U(0.02, 0.08) x its side (default 0: off)")
    p.add_argument("--seed", type=nonneg_int, help="default 0")
    p.add_argument("--smoke", action="store_true", help="a tiny run (2 epochs of 4 steps)")
    _add_gpus(p)
    p.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint in --out")
    p.add_argument("--resume-changed", action="store_true",
                   help="resume even when the checkpoint was made with other settings or data")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pipeline", help="the whole recipe: data, PNet, mining, RNet, mining, ONet, eval")
    _add_data_root(p)
    p.add_argument("--out", required=True, help="run folder (resumed if it exists)")
    p.add_argument("--preset", default="full", choices=("smoke", "full"))
    p.add_argument("--until", choices=STEPS, help="stop after this step")
    p.add_argument("--epochs", help="override epochs, e.g. pnet=10,rnet=8,onet=8")
    _add_gpus(p)
    p.add_argument("--workers", type=positive_int, default=None, help="processes for data generation")
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
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_detection_commands(sub)
    _add_data_commands(sub)
    _add_training_commands(sub)
    return parser


def main(argv=None) -> int:
    """Run one command. A mistake in the input is one line on stderr (``error: ...``, exit 2), never a
    traceback; ``--debug`` shows the traceback too."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - every failure becomes one readable line
        if args.debug:
            traceback.print_exc()
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not isinstance(err, (UserError, OSError, ValueError, KeyError, IndexError)):
            message = f"{type(err).__name__}: {message} (--debug shows where)"
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
