"""A toy face dataset built offline, in seconds, from images that ship inside scikit-image.

Like the banana-detection set of *Dive into Deep Learning*, it exists to teach the flow — records,
training, mining, detection, evaluation — not to reach any accuracy. The course notebooks use it when
no ``data_root`` is given, so a fresh clone runs end to end without the research-only data.

What it is made of
------------------
- **Faces**: the 100 face crops of ``skimage.data.lfw_subset()`` (25 x 25 px, grey, from Labeled
  Faces in the Wild; each crop spans roughly eyebrows to chin) and, in the val split only, the face of
  ``skimage.data.astronaut()`` (Eileen Collins). Faces 0-79 go to train and landmarks, faces 80-99 to
  val, so val identities are never trained on.
- **Backgrounds**: scikit-image photos without human faces that are bundled with the package (no
  download): see :data:`BACKGROUNDS`. ``astronaut`` and ``camera`` are not used as backgrounds because
  they hold unlabelled faces.
- **Distractors**: the 100 non-face crops of ``lfw_subset`` pasted unlabelled, so that "a pasted
  square" is not by itself a face.

Faces are pasted at random sizes (log-uniform) and places with little overlap, so each box is exact:
the pasted square, in the package's convention (``x2 = x + w - 1``).

Layouts (the same parsers read it as the real data)
---------------------------------------------------
::

    <root>/WIDER_FACE/WIDER_{train,val}/images/<event>/<name>.jpg
    <root>/WIDER_FACE/wider_face_split/wider_face_{train,val}_bbx_gt.txt   (attributes all 0)
    <root>/WIDER_FACE/eval_tools/ground_truth/wider_{face,easy,medium,hard}_val.mat
    <root>/landmarks/trainImageList.txt, <root>/landmarks/toy/*.jpg        (CNN_FacePoint format)
    <root>/toy_dataset.json                                                settings, counts, caveats

The easy/medium/hard settings of the official protocol come from detection difficulty; here they are
by face height: easy >= 40 px, medium >= 24 px, hard all faces (:data:`SETTING_MIN_HEIGHT`).

Landmarks are an approximation
------------------------------
``lfw_subset`` has no landmark annotations. Every face gets the **same five points in crop
coordinates**, :data:`TEMPLATE_25`: the dark spots (eyes, mouth corners) and the bright nose tip read
off the *mean of the 100 crops*, scaled to the pasted size (and mirrored with the face). They are a
mean-face template, not per-face annotations: off by a few pixels of 25 wherever a face is turned or
not centred. Landmark errors measured on this set measure agreement with that template.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from ..utils.labels import MIRROR_ORDER

__all__ = ["build_toy_dataset", "toy_settings", "BACKGROUNDS", "TEMPLATE_25", "SETTING_MIN_HEIGHT",
           "ASTRONAUT_FACE", "LANDMARK_NOTE"]

#: Bundled scikit-image photos without human faces (``skimage.data.<name>()`` works offline).
BACKGROUNDS = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "coins", "moon", "page", "text",
               "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel", "clock", "cell")

#: Five points (left eye, right eye, nose, left mouth corner, right mouth corner) in the pixel indices of
#: a 25 x 25 ``lfw_subset`` crop, read off the mean of its 100 face crops (see the module docstring).
TEMPLATE_25 = np.array([[6.0, 7.5], [14.5, 7.5], [10.3, 12.0], [7.0, 17.5], [14.0, 17.5]])

#: Face height (px) from which a val face counts in each setting.
SETTING_MIN_HEIGHT = {"easy": 40, "medium": 24, "hard": 0}

#: The astronaut's face in ``skimage.data.astronaut()``, ``(x1, y1, x2, y2)`` inclusive (where the
#: original MTCNN finds it, checked by eye).
ASTRONAUT_FACE = (176, 57, 266, 173)

LANDMARK_NOTE = ("approximate: lfw_subset has no landmark annotations; every face carries the same mean-face "
                 "template (eyes, nose, mouth corners read off the mean of the 100 crops), scaled to the pasted "
                 "size and mirrored with the face - not per-face annotations")

_VERSION = 2  # bump when the generated content changes (2: no face covers another)


def _to_bgr(img: np.ndarray) -> np.ndarray:
    """scikit-image's RGB (or greyscale, or boolean) image as contiguous ``uint8`` BGR."""
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[:, :, :3][:, :, ::-1])


def packaged_photos(names=("astronaut", "chelsea")) -> dict:
    """Photos that ship with scikit-image, as ``uint8`` BGR: ``{name: image}``.

    ``astronaut`` holds one face (:data:`ASTRONAUT_FACE`); ``chelsea`` is a cat (no human face).
    """
    import skimage.data as skd

    return {n: _to_bgr(getattr(skd, n)()) for n in names}


def _sources():
    import skimage.data as skd

    lfw = skd.lfw_subset()  # (200, 25, 25) float in [0, 1]: 100 faces then 100 non-faces
    grey = np.round(lfw * 255).astype(np.uint8)
    faces = [_to_bgr(g) for g in grey[:100]]
    distractors = [_to_bgr(g) for g in grey[100:]]
    x1, y1, x2, y2 = ASTRONAUT_FACE
    astro = _to_bgr(skd.astronaut())
    # a square around the astronaut's face, as tight as the lfw crops (eyebrows to chin)
    side = x2 - x1 + 1
    cy = (y1 + y2) // 2 + 6
    astro_face = astro[cy - side // 2:cy - side // 2 + side, x1:x1 + side]
    backgrounds = {name: _to_bgr(getattr(skd, name)()) for name in BACKGROUNDS}
    return faces, distractors, astro_face, backgrounds


def _jitter(patch: np.ndarray, rng) -> np.ndarray:
    """Random contrast and brightness, so faces differ in more than their identity."""
    alpha, beta = rng.uniform(0.75, 1.25), rng.uniform(-30, 30)
    return np.clip(patch.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def _resize(patch: np.ndarray, side: int) -> np.ndarray:
    interp = cv2.INTER_AREA if side < patch.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(patch, (side, side), interpolation=interp)


def _canvas(backgrounds: dict, rng, width: int, height: int):
    name = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    bg = backgrounds[name]
    h, w = bg.shape[:2]
    # a random window of the photo with the canvas's aspect ratio, at least half its size
    scale = rng.uniform(0.5, 1.0) * min(w / width, h / height)
    cw, ch = max(8, int(width * scale)), max(8, int(height * scale))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = bg[y0:y0 + ch, x0:x0 + cw]
    return name, cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA).copy()


def _overlap(box, boxes) -> float:
    """Largest share of either box that the other covers, over ``boxes`` (inclusive pixel boxes).

    Both ways: a face pasted later must neither be hidden by an earlier one nor hide it (a hidden face
    would stay in the labels: a phantom face the nets are asked to find).
    """
    if not boxes:
        return 0.0
    b = np.asarray(boxes, np.float64)
    iw = np.minimum(box[2], b[:, 2]) - np.maximum(box[0], b[:, 0]) + 1
    ih = np.minimum(box[3], b[:, 3]) - np.maximum(box[1], b[:, 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    areas = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return float((inter / np.minimum(area, areas)).max())


def _paste_faces(canvas, face_pool, distractors, rng, n_faces, min_face):
    """Paste ``n_faces`` faces and 0-2 distractors; returns (N, 4) inclusive boxes."""
    h, w = canvas.shape[:2]
    boxes = []
    max_side = int(min(h, w) * 0.6)
    for _ in range(n_faces):
        for _try in range(30):
            side = int(round(np.exp(rng.uniform(np.log(min_face), np.log(max_side)))))
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            box = (x, y, x + side - 1, y + side - 1)
            if _overlap(box, boxes) < 0.1:
                break
        else:
            continue  # crowded: fewer faces in this image
        patch = face_pool[int(rng.integers(len(face_pool)))]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        canvas[y:y + side, x:x + side] = _resize(_jitter(patch, rng), side)
        boxes.append(box)
    for _ in range(int(rng.integers(0, 3))):
        side = int(rng.integers(min_face, max(min_face + 1, max_side // 2)))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        if _overlap((x, y, x + side - 1, y + side - 1), boxes) < 0.05:
            patch = distractors[int(rng.integers(len(distractors)))]
            canvas[y:y + side, x:x + side] = _resize(_jitter(patch, rng), side)
    return np.asarray(boxes, np.float64).reshape(-1, 4)


def _write_jpg(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise OSError(f"{path}: could not write the image")


def _wider_split(root: Path, split: str, n_images: int, face_pool, distractors, backgrounds, rng,
                 max_faces: int, min_face: int):
    """Images and their ``*_bbx_gt.txt``; returns [(event, name, boxes)] in list order."""
    items = []
    for i in range(n_images):
        width = int(rng.integers(240, 401))
        height = int(width * rng.uniform(0.65, 1.0))
        bg_name, canvas = _canvas(backgrounds, rng, width, height)
        boxes = _paste_faces(canvas, face_pool, distractors, rng, int(rng.integers(1, max_faces + 1)), min_face)
        k = BACKGROUNDS.index(bg_name)
        event = f"{k}--{bg_name.title().replace('_', '')}"
        name = f"{k}_{bg_name}_toy_{split}_{i:04d}"
        _write_jpg(root / f"WIDER_{split}" / "images" / event / f"{name}.jpg", canvas)
        items.append((event, name, boxes))
    items.sort(key=lambda t: (int(t[0].split("--")[0]), t[1]))  # grouped by event, as the official lists
    lines = []
    for event, name, boxes in items:
        lines += [f"{event}/{name}.jpg", str(len(boxes))]
        lines += [f"{int(b[0])} {int(b[1])} {int(b[2] - b[0] + 1)} {int(b[3] - b[1] + 1)} 0 0 0 0 0 0" for b in boxes]
        if len(boxes) == 0:  # the official placeholder line of an image without faces
            lines.append("0 0 0 0 0 0 0 0 0 0")
    split_dir = root / "wider_face_split"
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / f"wider_face_{split}_bbx_gt.txt").write_text("\n".join(lines) + "\n")
    return items


def _cell(values) -> np.ndarray:
    out = np.empty((len(values), 1), dtype=object)
    for i, v in enumerate(values):
        out[i, 0] = v
    return out


def _write_val_mat(root: Path, items) -> None:
    """``wider_{face,easy,medium,hard}_val.mat`` in the official structure (cells per event)."""
    from scipy.io import savemat

    events = sorted({e for e, _, _ in items}, key=lambda e: int(e.split("--")[0]))
    per_event = {e: [(n, b) for ev, n, b in items if ev == e] for e in events}
    gt_dir = root / "eval_tools" / "ground_truth"
    gt_dir.mkdir(parents=True, exist_ok=True)
    files = _cell([_cell([n for n, _ in per_event[e]]) for e in events])
    xywh = {e: [np.column_stack([b[:, :2], b[:, 2:] - b[:, :2] + 1]).astype(np.float64) for _, b in per_event[e]]
            for e in events}
    savemat(gt_dir / "wider_face_val.mat", {"event_list": _cell(events), "file_list": files,
                                            "face_bbx_list": _cell([_cell(xywh[e]) for e in events])})
    for setting, min_h in SETTING_MIN_HEIGHT.items():
        gt_list = _cell([_cell([(np.flatnonzero(bx[:, 3] >= min_h) + 1).astype(np.float64).reshape(-1, 1)
                                for bx in xywh[e]]) for e in events])
        savemat(gt_dir / f"wider_{setting}_val.mat", {"event_list": _cell(events), "file_list": files,
                                                       "gt_list": gt_list})


def _landmarks(root: Path, n_faces: int, face_pool, backgrounds, rng) -> int:
    """CNN_FacePoint-format faces: one face per small image, box = the pasted square, template points."""
    folder = root / "landmarks"
    lines = []
    for i in range(n_faces):
        size = int(rng.integers(64, 97))
        _, canvas = _canvas(backgrounds, rng, size, size)
        side = int(rng.integers(int(size * 0.45), int(size * 0.75) + 1))
        x, y = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
        patch = face_pool[int(rng.integers(len(face_pool)))]
        pts = TEMPLATE_25.copy()
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
            pts[:, 0] = 24 - pts[:, 0]
            pts = pts[MIRROR_ORDER]
        canvas[y:y + side, x:x + side] = _resize(_jitter(patch, rng), side)
        # pixel index p of the 25 px crop covers [p, p + 1); its centre p + 0.5 maps to (p + 0.5) * side / 25
        pts = (pts + 0.5) * side / 25.0 - 0.5 + np.array([x, y])
        rel = f"toy\\{i:05d}.jpg"  # Windows separator, as the original list
        _write_jpg(folder / "toy" / f"{i:05d}.jpg", canvas)
        left, right, top, bottom = x, x + side - 1, y, y + side - 1
        lines.append(" ".join([rel] + [str(v) for v in (left, right, top, bottom)]
                              + [f"{v:.2f}" for v in pts.ravel()]))
    (folder / "trainImageList.txt").write_text("\n".join(lines) + "\n")
    return n_faces


def toy_settings(n_train: int = 80, n_val: int = 30, n_landmark: int = 400, seed: int = 0,
                 max_faces: int = 4, min_face: int = 16) -> dict:
    """The settings that fix a toy dataset (what ``toy_dataset.json`` records)."""
    return {"version": _VERSION, "n_train": int(n_train), "n_val": int(n_val), "n_landmark": int(n_landmark),
            "seed": int(seed), "max_faces": int(max_faces), "min_face": int(min_face)}


def build_toy_dataset(root, n_train: int = 80, n_val: int = 30, n_landmark: int = 400, seed: int = 0,
                      max_faces: int = 4, min_face: int = 16) -> Path:
    """Build (or find already built) the toy dataset under ``root``.

    Parameters
    ----------
    root : path
        Created; if it holds a toy dataset with the same settings nothing is done. A folder with
        other content is refused (never overwritten), except an older toy dataset, which is rebuilt.
    n_train, n_val : int
        WIDER-style images per split (1 to ``max_faces`` faces each).
    n_landmark : int
        CNN_FacePoint-style faces (one per image).
    seed : int
        The same settings give the same files.
    max_faces : int
        Most faces pasted into one image.
    min_face : int
        Smallest pasted face side, px.

    Returns
    -------
    Path
        ``root``, a data root for :func:`~mtcnn_gluon.data.wider.load_wider`,
        :func:`~mtcnn_gluon.data.facepoint.load_facepoint` and :func:`~mtcnn_gluon.eval.wider.evaluate_wider`.
    """
    root = Path(root)
    settings = toy_settings(n_train, n_val, n_landmark, seed, max_faces, min_face)
    summary_path = root / "toy_dataset.json"
    if summary_path.is_file():
        old = json.loads(summary_path.read_text())
        if old.get("settings") == settings:
            return root
        shutil.rmtree(root)  # our own toy set made with other settings
    elif root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root}: exists and is not a toy dataset (no toy_dataset.json); choose another folder")
    t0 = time.time()
    tmp = root.with_name(root.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    rng = np.random.default_rng(seed)
    faces, distractors, astro_face, backgrounds = _sources()
    wider = tmp / "WIDER_FACE"
    train = _wider_split(wider, "train", n_train, faces[:80], distractors, backgrounds, rng, max_faces, min_face)
    val = _wider_split(wider, "val", n_val, faces[80:] + [astro_face], distractors, backgrounds, rng,
                       max_faces, min_face)
    _write_val_mat(wider, val)
    _landmarks(tmp, n_landmark, faces[:80], backgrounds, rng)
    n_boxes = {s: int(sum(len(b) for _, _, b in items)) for s, items in (("train", train), ("val", val))}
    summary = {
        "settings": settings,
        "purpose": "teaches the flow of the course (records, training, mining, detection, evaluation), "
                   "not accuracy: a few hundred pasted 25 px faces",
        "images": {"train": len(train), "val": len(val), "landmark": n_landmark},
        "faces": n_boxes,
        "val_faces_per_setting": {s: int(sum(int((b[:, 3] - b[:, 1] + 1 >= h).sum()) for _, _, b in val))
                                  for s, h in SETTING_MIN_HEIGHT.items()},
        "sources": {"faces": "skimage.data.lfw_subset() faces 0-79 (train, landmarks), 80-99 + the face of "
                             "skimage.data.astronaut() (val)",
                    "distractors": "skimage.data.lfw_subset() non-faces 100-199, unlabelled",
                    "backgrounds": [f"skimage.data.{b}()" for b in BACKGROUNDS]},
        "boxes": "exact: the pasted squares, (x, y, w, h) in the WIDER lists",
        "settings_easy_medium_hard": f"by face height, px: {SETTING_MIN_HEIGHT} (the official ones come from "
                                     "detection difficulty)",
        "landmarks": LANDMARK_NOTE,
        "landmark_template_25px": TEMPLATE_25.tolist(),
        "seconds": round(time.time() - t0, 2),
    }
    (tmp / "toy_dataset.json").write_text(json.dumps(summary, indent=1))
    if root.exists():
        root.rmdir()  # empty (checked above)
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, root)
    return root
