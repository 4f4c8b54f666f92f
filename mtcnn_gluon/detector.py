"""The three-stage MTCNN detector: image pyramid → PNet → RNet → ONet.

It reproduces the original MTCNN's arithmetic (see :mod:`mtcnn_gluon.utils.boxes` for the pixel
convention): PNet cell ``(i, j)`` at scale ``s`` is the window
``round((2j + 1) / s), round((2i + 1) / s), round((2j + 1 + 12) / s), round((2i + 1 + 12) / s)``;
NMS 0.5 (union) per scale and 0.7 (union) over all scales; calibration with ``+ 1`` widths;
squaring and rounding between stages; crops padded with zeros where they leave the image and
resized with ``cv2.resize`` as the original does; ONet landmarks relative to the squared window; a final NMS 0.7 over the smaller area.

Speed comes from batching and from how the nets are laid out, not from changing the arithmetic:
each stage's crops run through the net as one batch per context, all pyramid scales are launched
before any is read back, the nets run in their inference form (:mod:`mtcnn_gluon.model.fused`: channels
padded for oneDNN, PReLU from oneDNN ops), and NMS looks only at pairs of boxes that can overlap
(:func:`mtcnn_gluon.utils.boxes.nms`).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os

import cv2
import mxnet as mx
import numpy as np
from tqdm.auto import tqdm

from .config import INPUT_SIZE, DetectorConfig
from .model.export import OnnxNet, to_onnx
from .model.fused import fuse as fuse_net
from .model.nets import get_net, load_reference_weights, load_weights
from .utils import boxes as bx
from .utils.device import as_context_list
from .utils.images import crop_and_resize, normalize, to_bgr, try_read_image

__all__ = ["DetectorConfig", "MTCNNDetector", "pyramid_scales", "resolve_weights", "pretrained_dir",
           "predict_landmarks", "detect_files", "detections_to_json"]

BACKENDS = ("mxnet", "onnx")
PNET_STRIDE = 2
PNET_CELL = INPUT_SIZE["pnet"]


def pyramid_scales(height: int, width: int, min_face: float = 20, factor: float = 0.709) -> list:
    """Scales of the image pyramid: ``12 / min_face`` times powers of ``factor`` while the short side,
    scaled, stays above 12 px (strictly, as in the original)."""
    m = PNET_CELL / float(min_face)
    short = min(height, width) * m
    scales = []
    k = 0
    while short > PNET_CELL:
        scales.append(m * factor ** k)
        short *= factor
        k += 1
    return scales


def _empty():
    return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)


class MTCNNDetector:
    """Detect faces and 5 landmarks with a PNet → RNet → ONet cascade.

    Parameters
    ----------
    pnet, rnet, onet : HybridBlock
        Nets with loaded weights (see :meth:`from_weights`); ``None`` for a stage not needed.
    ctx : mx.Context or list of mx.Context
        Where to run; PNet scales and RNet/ONet batches are spread over the list.
    fuse : bool
        Run copies of the nets in their inference form (:func:`mtcnn_gluon.model.fused.fuse`; same
        numbers, 2–3x faster on CPU), made here: train a net further and build a new detector to
        see the change. ``False`` runs the given nets as they are (any callable returning
        logits, box offsets and landmarks).
    backend : {'mxnet', 'onnx'}
        ``'onnx'`` runs the nets as exported ONNX graphs in onnxruntime (:mod:`mtcnn_gluon.model.export`):
        the same boxes within float rounding.
    nms : callable
        ``nms(boxes, thresh=..., mode=...)`` → kept indices; default :func:`mtcnn_gluon.utils.boxes.nms`
        (benchmarks pass the textbook loop to measure it).
    **config
        Fields of :class:`DetectorConfig` (``min_face``, ``thresholds``, ``factor``, ...).

    Each stage is callable on its own (:meth:`run_pnet`, :meth:`run_rnet`, :meth:`run_onet`), which
    hard example mining uses.
    """

    def __init__(self, pnet, rnet, onet, ctx=None, fuse: bool = True, nms=bx.nms, backend: str = "mxnet",
                 **config):
        self.config = DetectorConfig(**config)
        self.ctx = as_context_list(ctx)
        self.nms = nms
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self.pnet, self.rnet, self.onet = pnet, rnet, onet
        self._run = {}  # what each stage calls
        for name, net in zip(("pnet", "rnet", "onet"), (pnet, rnet, onet)):
            if net is None:
                continue
            if backend == "onnx":
                self._run[name] = OnnxNet(to_onnx(net))  # the exported graph in onnxruntime
            elif fuse:
                self._run[name] = fuse_net(net, ctx=self.ctx)
            else:
                net.hybridize()
                self._run[name] = net

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_weights(cls, weights, ctx=None, data_root=None, stages=("pnet", "rnet", "onet"), **config):
        """Build a detector from ``'reference'``, ``'pretrained'`` or a folder of our ``*.params``.

        ``'reference'`` reads the original MTCNN weights from ``<data_root>/reference_mtcnn`` (``data_root``
        defaults to ``$MTCNN_DATA_ROOT``); ``'pretrained'`` is the cascade shipped in the repo's
        ``pretrained/``; a folder holds ``pnet.params``, ``rnet.params`` and ``onet.params``. With
        ``stages`` a subset, the others are left ``None`` (e.g. PNet only, for mining).
        """
        ctxs = as_context_list(ctx)
        nets = {}
        folder, reference = resolve_weights(weights, data_root)
        for name in ("pnet", "rnet", "onet"):
            if name not in stages:
                nets[name] = None
                continue
            net = get_net(name, ctx=ctxs)
            if reference:
                load_reference_weights(net, folder)
            else:
                load_weights(net, os.path.join(folder, f"{name}.params"))
            nets[name] = net
        return cls(nets["pnet"], nets["rnet"], nets["onet"], ctx=ctxs, **config)

    def with_config(self, **changes) -> "MTCNNDetector":
        """A detector on the same nets with some :class:`DetectorConfig` fields changed; this one is
        left as it is (hard example mining runs at its own thresholds this way)."""
        other = copy.copy(self)
        other.config = dataclasses.replace(self.config, **changes)
        return other

    def fingerprint(self, stages=("pnet", "rnet", "onet")) -> str:
        """SHA-1 of the weights of ``stages`` (those present): what was mined or trained from them is
        stale when it changes."""
        h = hashlib.sha1()
        for name, net in zip(("pnet", "rnet", "onet"), (self.pnet, self.rnet, self.onet)):
            if name in stages and net is not None:
                for key, param in sorted(net.collect_params().items()):
                    h.update(key.split("_", 1)[-1].encode())
                    h.update(param.data(param.list_ctx()[0]).asnumpy().tobytes())
        return h.hexdigest()

    def settings(self) -> dict:
        """The configuration as a JSON-friendly dict."""
        d = dataclasses.asdict(self.config)
        d["thresholds"] = list(d["thresholds"])
        d["nms_thresholds"] = list(d["nms_thresholds"])
        return d

    # ---------------------------------------------------------------- running nets
    def _net(self, name: str):
        if name not in self._run:
            raise ValueError(f"this detector has no {name}: build it with {name!r} in stages")
        return self._run[name]

    def forward(self, stage: str, batch: np.ndarray):
        """Run RNet or ONet (``stage``) on a normalised NCHW float batch, split over the contexts.

        Returns
        -------
        prob : ndarray, shape (N, 2)
            Softmax of the class logits (face = column 1).
        box : ndarray, shape (N, 4)
        landmarks : ndarray, shape (N, 10)
        """
        chunk = {"rnet": self.config.rnet_batch, "onet": self.config.onet_batch}[stage]
        net = self._net(stage)
        if self.backend == "onnx":
            outs = [net(batch[i:i + chunk]) for i in range(0, len(batch), chunk)] or [net(batch)]
            return tuple(np.concatenate([o[k] for o in outs]) for k in range(3))
        probs, regs, lmks = [], [], []
        for start in range(0, len(batch), chunk * len(self.ctx)):
            part = batch[start:start + chunk * len(self.ctx)]
            pieces = np.array_split(part, min(len(self.ctx), len(part)))
            outs = []
            for piece, c in zip(pieces, self.ctx):
                cls, reg, lmk = net(mx.nd.array(piece, ctx=c))
                outs.append((mx.nd.softmax(cls, axis=1), reg, lmk))
            for p, r, l in outs:
                probs.append(p.asnumpy())
                regs.append(r.asnumpy())
                lmks.append(l.asnumpy())
        return np.concatenate(probs), np.concatenate(regs), np.concatenate(lmks)

    def _pnet_scale(self, img, scale, c):
        h, w = img.shape[:2]
        hs, ws = int(math.ceil(h * scale)), int(math.ceil(w * scale))
        resized = cv2.resize(img, (ws, hs), interpolation=cv2.INTER_LINEAR)
        if self.backend == "onnx":
            return self._net("pnet")(normalize(resized[None]))
        return self._net("pnet")(mx.nd.array(normalize(resized[None]), ctx=c))

    def _pnet_read(self, output):
        """One level's ``(probability map (h, w), offsets (4, h, w))`` as NumPy."""
        if self.backend == "onnx":
            return output[0][0, 1], output[1][0]
        cls, reg, _ = output
        return mx.nd.softmax(cls, axis=1)[0, 1].asnumpy(), reg[0].asnumpy()

    def probability_map(self, img: np.ndarray, scale: float) -> np.ndarray:
        """PNet's face probability for every 12 px window of ``img`` resized by ``scale`` (one pyramid level).

        Cell ``(i, j)`` of the map is the window with top-left corner ``(2j, 2i)`` in the resized image
        (stride 2), i.e. ``((2j + 1) / scale, (2i + 1) / scale)`` in the original's pixels as
        :meth:`run_pnet` maps it.

        Returns
        -------
        ndarray, shape (h, w), float32
        """
        return self._pnet_read(self._pnet_scale(to_bgr(img), scale, self.ctx[0]))[0]

    def run_pnet(self, img: np.ndarray) -> np.ndarray:
        """Stage 1: candidate windows from the pyramid.

        Returns
        -------
        ndarray, shape (N, 5)
            Calibrated, squared and rounded windows ``[x1, y1, x2, y2, score]`` (what RNet sees).
        """
        cfg = self.config
        img = to_bgr(img)
        h, w = img.shape[:2]
        scales = pyramid_scales(h, w, cfg.min_face, cfg.factor)
        if not scales or min(h, w) < PNET_CELL:
            return np.zeros((0, 5), np.float32)
        # launch every scale first (MXNet runs them asynchronously), then read the maps back
        outputs = [self._pnet_scale(img, s, self.ctx[k % len(self.ctx)]) for k, s in enumerate(scales)]
        found = []
        for scale, output in zip(scales, outputs):
            prob, reg = self._pnet_read(output)
            ys, xs = np.nonzero(prob > cfg.thresholds[0])
            if len(ys) == 0:
                continue
            if len(ys) > cfg.max_candidates:
                # an untrained or badly matched PNet can pass most cells; NMS over all of them is quadratic
                top = np.argsort(-prob[ys, xs], kind="stable")[: cfg.max_candidates]
                ys, xs = ys[top], xs[top]
            cand = np.stack([
                np.round((PNET_STRIDE * xs + 1) / scale),
                np.round((PNET_STRIDE * ys + 1) / scale),
                np.round((PNET_STRIDE * xs + 1 + PNET_CELL) / scale),
                np.round((PNET_STRIDE * ys + 1 + PNET_CELL) / scale),
                prob[ys, xs],
                reg[0, ys, xs], reg[1, ys, xs], reg[2, ys, xs], reg[3, ys, xs],
            ], axis=1)
            found.append(cand[self.nms(cand[:, :5], thresh=cfg.nms_thresholds[0], mode="union")])
        if not found:
            return np.zeros((0, 5), np.float32)
        cand = np.concatenate(found)
        cand = cand[self.nms(cand[:, :5], thresh=cfg.nms_thresholds[1], mode="union")]
        cand = cand[: cfg.max_candidates]
        boxes = bx.decode_offsets(cand[:, :5], cand[:, 5:9])
        boxes = bx.square(boxes)
        boxes[:, :4] = np.round(boxes[:, :4])
        return boxes.astype(np.float32)

    def run_rnet(self, img: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Stage 2: score and refine PNet's windows with RNet.

        Parameters
        ----------
        windows : ndarray, shape (N, 4+)
            Integer square windows (the output of :meth:`run_pnet`).

        Returns
        -------
        ndarray, shape (M, 5)
            Windows kept (prob > threshold, NMS), calibrated, squared and rounded.
        """
        cfg = self.config
        img = to_bgr(img)
        if len(windows) == 0:
            return np.zeros((0, 5), np.float32)
        windows = np.asarray(windows, np.float64)[: cfg.max_candidates, :4]
        crops = crop_and_resize(img, windows, INPUT_SIZE["rnet"], round_uint8=True)
        prob, reg, _ = self.forward("rnet", normalize(crops))
        keep = prob[:, 1] > cfg.thresholds[1]
        boxes = np.concatenate([windows[keep], prob[keep, 1:2].astype(np.float64)], axis=1)
        reg = reg[keep]
        pick = self.nms(boxes, thresh=cfg.nms_thresholds[2], mode="union")
        boxes = bx.decode_offsets(boxes[pick], reg[pick])
        boxes = bx.square(boxes)
        boxes[:, :4] = np.round(boxes[:, :4])
        return boxes.astype(np.float32)

    def run_onet(self, img: np.ndarray, windows: np.ndarray):
        """Stage 3: final boxes and landmarks from RNet's windows.

        Returns
        -------
        boxes : ndarray, shape (K, 5)
            ``[x1, y1, x2, y2, score]``, calibrated (not squared).
        landmarks : ndarray, shape (K, 5, 2)
            ``(x, y)`` of left eye, right eye, nose, left and right mouth corner.
        """
        cfg = self.config
        img = to_bgr(img)
        if len(windows) == 0:
            return _empty()
        windows = np.asarray(windows, np.float64)[: cfg.max_candidates, :4]
        crops = crop_and_resize(img, windows, INPUT_SIZE["onet"])
        prob, reg, lmk = self.forward("onet", normalize(crops))
        keep = prob[:, 1] > cfg.thresholds[2]
        boxes = np.concatenate([windows[keep], prob[keep, 1:2].astype(np.float64)], axis=1)
        if len(boxes) == 0:
            return _empty()
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        pts = lmk[keep].reshape(-1, 5, 2).astype(np.float64)
        pts[:, :, 0] = boxes[:, :1] + w[:, None] * pts[:, :, 0]
        pts[:, :, 1] = boxes[:, 1:2] + h[:, None] * pts[:, :, 1]
        boxes = bx.decode_offsets(boxes, reg[keep])
        pick = self.nms(boxes, thresh=cfg.nms_thresholds[3], mode="min")
        return boxes[pick].astype(np.float32), pts[pick].astype(np.float32)

    def detect(self, img: np.ndarray):
        """Find faces in one image.

        Parameters
        ----------
        img : ndarray
            ``uint8`` BGR ``(H, W, 3)`` as ``cv2.imread`` gives; greyscale ``(H, W)`` and BGRA are
            accepted.

        Returns
        -------
        boxes : ndarray, shape (N, 5), float32
            ``[x1, y1, x2, y2, score]`` in the original MTCNN convention (``x2`` inclusive).
        landmarks : ndarray, shape (N, 5, 2), float32
            Empty arrays of these shapes when nothing is found or the image is under 12 px.
        """
        img = to_bgr(img)
        windows = self.run_pnet(img)
        if len(windows) == 0:
            return _empty()
        windows = self.run_rnet(img, windows)
        return self.run_onet(img, windows)


def resolve_weights(weights, data_root=None):
    """``(folder, is_reference)`` for ``'reference'``, ``'pretrained'`` or a folder path."""
    if isinstance(weights, str) and weights == "reference":
        root = data_root or os.environ.get("MTCNN_DATA_ROOT")
        if not root:
            raise FileNotFoundError("--weights reference needs the data root: pass --data-root or set "
                                    "MTCNN_DATA_ROOT to the folder holding reference_mtcnn/")
        folder = os.path.join(os.fspath(root), "reference_mtcnn")
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: no reference_mtcnn folder under the data root")
        return folder, True
    if isinstance(weights, str) and weights == "pretrained":
        return pretrained_dir(), False
    folder = os.fspath(weights)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: weights folder not found (expected pnet/rnet/onet .params, "
                                f"or 'reference' / 'pretrained')")
    return folder, False


def pretrained_dir() -> str:
    """The ``pretrained/`` folder of this repository (the cascade we trained and publish)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), "pretrained")


def predict_landmarks(detector: MTCNNDetector, images, boxes) -> np.ndarray:
    """ONet landmarks for given face boxes (no detection): each box is squared, cropped at 48 px.

    Parameters
    ----------
    detector : MTCNNDetector
        Only its ONet and contexts are used.
    images : list of ndarray
        One ``uint8`` BGR image per box.
    boxes : ndarray, shape (N, 4)
        ``(x1, y1, x2, y2)`` face boxes, one per image.

    Returns
    -------
    ndarray, shape (N, 5, 2)
        Points in image pixels.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    windows = bx.square(boxes)
    windows[:, :4] = np.round(windows[:, :4])
    crops = np.concatenate([crop_and_resize(to_bgr(img), windows[i:i + 1], INPUT_SIZE["onet"])
                            for i, img in enumerate(images)]) if len(boxes) else np.zeros((0, 48, 48, 3))
    if len(boxes) == 0:
        return np.zeros((0, 5, 2), np.float32)
    _, _, lmk = detector.forward("onet", normalize(crops))
    w = windows[:, 2] - windows[:, 0] + 1
    h = windows[:, 3] - windows[:, 1] + 1
    pts = lmk.reshape(-1, 5, 2).astype(np.float64)
    pts[:, :, 0] = windows[:, :1] + w[:, None] * pts[:, :, 0]
    pts[:, :, 1] = windows[:, 1:2] + h[:, None] * pts[:, :, 1]
    return pts.astype(np.float32)


def detect_files(detector: MTCNNDetector, paths, root=None, progress: bool = True, exif: bool = False) -> dict:
    """Detect faces in image files; one bad file never stops the others.

    Parameters
    ----------
    paths : list of str
        As the user gave them (keys of the result); read relative to ``root`` when given.
    root : path, optional
    exif : bool
        Apply the EXIF orientation of photos (:func:`mtcnn_gluon.utils.images.read_image`).

    Returns
    -------
    dict
        ``{"images": {path: {"boxes": [[x1, y1, x2, y2, score], ...], "landmarks": [[[x, y] × 5], ...]}},
        "skipped": {path: reason}}``; unreadable images are skipped and listed, never dropped silently.
    """
    images, skipped = {}, {}
    for path in tqdm(list(paths), desc="detect", unit="img", disable=not progress):
        full = os.path.join(os.fspath(root), path) if root is not None else path
        img, skip = try_read_image(full, exif=exif)
        if img is None:
            skipped[path] = skip.detail
            continue
        try:
            images[path] = detections_to_json(*detector.detect(img))
        except (cv2.error, MemoryError, ValueError) as err:  # e.g. an image too large for the pyramid
            skipped[path] = f"{full}: detection failed ({type(err).__name__}: {str(err).strip().splitlines()[-1]})"
    return {"images": images, "skipped": skipped}


def detections_to_json(boxes, landmarks) -> dict:
    """One image's detections as the detections JSON holds them: ``{"boxes": [[x1, y1, x2, y2, score],
    ...], "landmarks": [[[x, y] × 5], ...]}``, rounded to 0.01 px."""
    return {"boxes": np.round(np.asarray(boxes, np.float64), 2).tolist(),
            "landmarks": np.round(np.asarray(landmarks, np.float64), 2).tolist()}
