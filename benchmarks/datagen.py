"""PNet training-data generation speed: this package vs a straightforward version of the original scripts.

The baseline is written the way the classic ``gen_12net_data.py`` works: one process, one Python loop
iteration per candidate crop, IoU of that one crop against the faces, the crop resized before its
label is known, and every kept crop written with ``cv2.imwrite`` as a JPEG plus a line in a text list.
The package version draws each image's candidates in one batch, labels them with one IoU matrix,
keeps crops in memory, spreads images over processes and writes one RecordIO file.

Both run on the same images in the same process, one after the other::

    MTCNN_DATA_ROOT=/work/shared/data python benchmarks/datagen.py --images 100
    MTCNN_DATA_ROOT=/work/shared/data python benchmarks/datagen.py --counts   # full shared data: samples per type
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mtcnn_gluon.config import SamplingConfig  # noqa: E402
from mtcnn_gluon.data.wider import load_wider  # noqa: E402
from mtcnn_gluon.data.records import write_records  # noqa: E402
from mtcnn_gluon.data.sampling import generate_pnet_samples  # noqa: E402


def _iou_one(box, boxes):
    """IoU of one crop with the faces, as the original per-crop helper does it."""
    area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    xx1 = np.maximum(box[0], boxes[:, 0])
    yy1 = np.maximum(box[1], boxes[:, 1])
    xx2 = np.minimum(box[2], boxes[:, 2])
    yy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.maximum(0, xx2 - xx1 + 1) * np.maximum(0, yy2 - yy1 + 1)
    return inter / (area + areas - inter + 1e-10)


def baseline(images, image_dir, out_dir, cfg=SamplingConfig(), seed=0):
    """Single-process, per-crop loop, JPEG per crop + text lists (the original scripts' structure)."""
    rng = np.random.RandomState(seed)
    os.makedirs(out_dir, exist_ok=True)
    files = {t: open(os.path.join(out_dir, f"{t}_12.txt"), "w") for t in ("pos", "neg", "part")}
    for t in files:
        os.makedirs(os.path.join(out_dir, t), exist_ok=True)
    n = {"pos": 0, "neg": 0, "part": 0}

    def save(kind, im, label):
        path = os.path.join(out_dir, kind, f"{n[kind]}.jpg")
        cv2.imwrite(path, im)
        files[kind].write(path + " " + label + "\n")
        n[kind] += 1

    for item in images:
        img = cv2.imread(os.path.join(image_dir, item.name))
        H, W = img.shape[:2]
        boxes = item.boxes
        max_side = min(W, H) // 2
        neg, tries = 0, 0
        while max_side > cfg.min_crop and neg < cfg.random_negatives and tries < cfg.random_negative_tries:
            tries += 1
            size = rng.randint(cfg.min_crop, max_side)
            nx = rng.randint(0, W - size)
            ny = rng.randint(0, H - size)
            crop = np.array([nx, ny, nx + size - 1, ny + size - 1])
            ov = _iou_one(crop, boxes) if len(boxes) else np.zeros(1)
            im = cv2.resize(img[ny:ny + size, nx:nx + size], (12, 12), interpolation=cv2.INTER_LINEAR)
            if np.max(ov) < cfg.neg_iou:
                save("neg", im, "0")
                neg += 1
        for j, box in enumerate(boxes):
            x1, y1, x2, y2 = box
            w, h = x2 - x1 + 1, y2 - y1 + 1
            if max(w, h) < cfg.min_face or x1 < 0 or y1 < 0 or not item.usable[j]:
                continue
            for _ in range(cfg.negatives_near_face):
                if max_side <= cfg.min_crop:
                    break
                size = rng.randint(cfg.min_crop, max_side)
                dx = rng.randint(max(-size, -x1), w)
                dy = rng.randint(max(-size, -y1), h)
                nx1, ny1 = int(max(0, x1 + dx)), int(max(0, y1 + dy))
                if nx1 + size > W or ny1 + size > H:
                    continue
                crop = np.array([nx1, ny1, nx1 + size - 1, ny1 + size - 1])
                if np.max(_iou_one(crop, boxes)) < cfg.neg_iou:
                    im = cv2.resize(img[ny1:ny1 + size, nx1:nx1 + size], (12, 12), interpolation=cv2.INTER_LINEAR)
                    save("neg", im, "0")
            for _ in range(cfg.jitter_tries):
                if w < cfg.min_face_for_jitter:
                    break
                size = rng.randint(int(min(w, h) * 0.8), int(np.ceil(1.25 * max(w, h))))
                dx = rng.randint(int(-w * 0.2), max(int(w * 0.2), int(-w * 0.2) + 1))
                dy = rng.randint(int(-h * 0.2), max(int(h * 0.2), int(-h * 0.2) + 1))
                nx1 = int(max(x1 + w / 2 + dx - size / 2, 0))
                ny1 = int(max(y1 + h / 2 + dy - size / 2, 0))
                if nx1 + size > W or ny1 + size > H:
                    continue
                crop = np.array([nx1, ny1, nx1 + size - 1, ny1 + size - 1])
                off = (box - crop) / float(size)
                im = cv2.resize(img[ny1:ny1 + size, nx1:nx1 + size], (12, 12), interpolation=cv2.INTER_LINEAR)
                ov = _iou_one(crop, box[None])[0]
                label = " ".join(f"{v:.2f}" for v in off)
                if ov >= cfg.pos_iou:
                    save("pos", im, "1 " + label)
                elif ov >= cfg.part_iou:
                    save("part", im, "-1 " + label)
    for f in files.values():
        f.close()
    return n


def package(images, image_dir, out_dir, workers, seed=0):
    s = generate_pnet_samples(images, image_dir, seed=seed, workers=workers, progress=False)
    write_records(os.path.join(out_dir, "train"), s.images, s.labels, meta=s.meta)
    return s.counts()


def _best(fn, repeat):
    """Fastest of ``repeat`` runs (a shared machine adds noise, never speed) and the last result."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run_speed(data_root, n_images, workers_list, seed=0, repeat=3):
    import mxnet  # noqa: F401  (imported before timing: it is a one-off cost of the process)
    wider = load_wider(data_root, "train")
    images = wider.images[:n_images]
    rows = []
    tmp = tempfile.mkdtemp(prefix="datagen_")
    try:
        for img in images:  # warm the file cache for both
            with open(os.path.join(wider.image_dir, img.name), "rb") as f:
                f.read()
        base_s, n = _best(lambda: baseline(images, wider.image_dir, os.path.join(tmp, "baseline"), seed=seed),
                          repeat)
        rows.append(("original-style loop, JPEG per crop", 1, base_s, sum(n.values()), n))
        for w in workers_list:
            sec, n = _best(lambda: package(images, wider.image_dir, os.path.join(tmp, f"pkg{w}"), workers=w,
                                           seed=seed), repeat)
            rows.append(("mtcnn_gluon (batched IoU, RecordIO)", w, sec, sum(n.values()), n))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"\nPNet sample generation, {len(images)} WIDER FACE train images, {os.cpu_count()} CPU cores "
          f"(load average {load:.1f}), best of {repeat}\n")
    print(f"| {'method':38s} | workers | seconds | images/s | samples | speedup |")
    print(f"|{'-' * 40}|---------|---------|----------|---------|---------|")
    for name, w, s, k, _ in rows:
        print(f"| {name:38s} | {w:7d} | {s:7.2f} | {len(images) / s:8.1f} | {k:7d} | {base_s / s:6.1f}x |")
    return rows


def run_counts(data_root, workers, seed=0):
    from mtcnn_gluon.data.build import build_landmark_records, build_pnet_records
    tmp = tempfile.mkdtemp(prefix="datagen_counts_")
    try:
        t = time.perf_counter()
        p = build_pnet_records(data_root, tmp, seed=seed, workers=workers, progress=False, verbose=False)
        tp = time.perf_counter() - t
        t = time.perf_counter()
        lm = build_landmark_records(data_root, tmp, sizes=(24, 48), seed=seed, workers=workers, progress=False,
                                    verbose=False)
        tl = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nShared data ({p['wider_images_used']} WIDER train images, {p['landmark_faces_used']} landmark faces), "
          f"seed {seed}, {workers} workers\n")
    print("| record | pos | part | neg | landmark | total | seconds |")
    print("|---|---|---|---|---|---|---|")
    g = p["generated"]
    print(f"| PNet crops generated (12 px) | {g['pos']} | {g['part']} | {g['neg']} | {g['landmark']} | "
          f"{sum(g.values())} | {tp:.0f} |")
    c = p["counts"]
    print(f"| PNet record, mixed 3:1:1:2 | {c['pos']} | {c['part']} | {c['neg']} | {c['landmark']} | "
          f"{p['samples']} | |")
    for s, net in ((24, "RNet"), (48, "ONet")):
        c = lm[s]["counts"]
        print(f"| {net} landmark record ({s} px) | | | | {c['landmark']} | {lm[s]['samples']} | {tl:.0f} (both) |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("MTCNN_DATA_ROOT", "../shared/data"))
    ap.add_argument("--images", type=int, default=100, help="WIDER train images for the speed comparison")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--counts", action="store_true", help="instead: samples per type for all the shared data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest is reported")
    args = ap.parse_args()
    if args.counts:
        run_counts(args.data_root, max(args.workers), args.seed)
    else:
        run_speed(args.data_root, args.images, sorted(set(args.workers)), args.seed, args.repeat)


if __name__ == "__main__":
    main()
