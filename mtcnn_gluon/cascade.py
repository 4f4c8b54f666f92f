"""The cascade's arithmetic, whatever runs the nets: image pyramid → PNet → RNet → ONet.

It reproduces the original MTCNN's arithmetic (see :mod:`mtcnn_gluon.utils.boxes` for the pixel
convention): PNet cell ``(i, j)`` at scale ``s`` is the window
``round((2j + 1) / s), round((2i + 1) / s), round((2j + 1 + 12) / s), round((2i + 1 + 12) / s)``;
NMS 0.5 (union) per scale and 0.7 (union) over all scales; calibration with ``+ 1`` widths;
squaring and rounding between stages; crops padded with zeros where they leave the image and
resized with ``cv2.resize`` as the original does; ONet landmarks relative to the squared window; a final
NMS 0.7 over the smaller area.

:class:`Cascade` needs only NumPy and OpenCV; a subclass says how the nets run.
:class:`mtcnn_gluon.detector.MTCNNDetector` runs them in MXNet (or onnxruntime), and :class:`OnnxCascade` runs
an exported folder (``python -m mtcnn_gluon export``) with onnxruntime alone — a deployment imports this
module, never MXNet.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from .config import INPUT_SIZE, DetectorConfig
from .utils import boxes as bx
from .utils.checks import UserError
from .utils.images import crop_and_resize, normalize, to_bgr

__all__ = ["Cascade", "OnnxNet", "OnnxNets", "OnnxCascade", "pyramid_scales", "detections_to_json", "PNET_STRIDE", "PNET_CELL"]

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


class Cascade:
    """The three stages over nets run by a subclass, which provides ``forward(stage, batch)`` for RNet and
    ONet, and ``_pnet_scale`` / ``_pnet_read`` for one pyramid level of PNet.

    Parameters
    ----------
    nms : callable
        ``nms(boxes, thresh=..., mode=...)`` → kept indices; default :func:`mtcnn_gluon.utils.boxes.nms`.
    **config
        Fields of :class:`mtcnn_gluon.config.DetectorConfig`.
    """

    def __init__(self, nms=bx.nms, **config):
        self.config = DetectorConfig(**config)
        self.nms = nms

    def with_config(self, **changes) -> "Cascade":
        """A detector on the same nets with some :class:`DetectorConfig` fields changed; this one is
        left as it is (hard example mining runs at its own thresholds this way)."""
        other = copy.copy(self)
        other.config = dataclasses.replace(self.config, **changes)
        return other

    def settings(self) -> dict:
        """The configuration as a JSON-friendly dict."""
        d = dataclasses.asdict(self.config)
        d["thresholds"] = list(d["thresholds"])
        d["nms_thresholds"] = list(d["nms_thresholds"])
        return d

    def forward(self, stage: str, batch: np.ndarray):  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    def _pnet_scale(self, img, scale, k):  # pragma: no cover
        raise NotImplementedError

    def _pnet_read(self, output):  # pragma: no cover
        raise NotImplementedError

    def _chunk(self, stage: str) -> int:
        """Windows per forward call of RNet or ONet (``rnet_batch``, ``onet_batch``)."""
        return {"rnet": self.config.rnet_batch, "onet": self.config.onet_batch}[stage]

    def _resized(self, img, scale):
        h, w = img.shape[:2]
        hs, ws = int(math.ceil(h * scale)), int(math.ceil(w * scale))
        return normalize(cv2.resize(img, (ws, hs), interpolation=cv2.INTER_LINEAR)[None])

    def probability_map(self, img: np.ndarray, scale: float) -> np.ndarray:
        """PNet's face probability for every 12 px window of ``img`` resized by ``scale`` (one pyramid level).

        Cell ``(i, j)`` of the map is the window with top-left corner ``(2j, 2i)`` in the resized image
        (stride 2), i.e. ``((2j + 1) / scale, (2i + 1) / scale)`` in the original's pixels as
        :meth:`run_pnet` maps it.

        Returns
        -------
        ndarray, shape (h, w), float32
        """
        return self._pnet_read(self._pnet_scale(to_bgr(img), scale, 0))[0]

    def run_pnet(self, img: np.ndarray, calibrate: bool = True) -> np.ndarray:
        """Stage 1: candidate windows from the pyramid.

        Parameters
        ----------
        calibrate : bool
            ``False``: the cells' own windows after both NMS, without PNet's box offsets (to see what the
            regression adds).

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
        outputs = [self._pnet_scale(img, s, k) for k, s in enumerate(scales)]
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
        if not calibrate:
            return cand[:, :5].astype(np.float32)
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



class OnnxNet:
    """One exported net in an onnxruntime session: ``net(batch_nchw)`` → its outputs as NumPy, in the graph's
    order: ``(prob, box, landmarks)``, or ``(prob, box)`` for a PNet exported without its landmark head.
    ``threads``: onnxruntime's threads within one call (its default: one per physical core)."""

    def __init__(self, model, threads: int | None = None):
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        data = model if isinstance(model, bytes) else \
            (model.SerializeToString() if hasattr(model, "SerializeToString") else Path(model).read_bytes())
        self.session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, batch: np.ndarray):
        return tuple(self.session.run(self.outputs, {"input": np.ascontiguousarray(batch, np.float32)}))


#: Windows per onnxruntime call: small batches stay in cache (measured on RNet's 800 windows of a crowd
#: image: 2048 at once 95 ms, 256: 67 ms, 64: 58 ms on 2 cores).
ONNX_CHUNK = 64


def onnx_threads(threads: int | None = None) -> int:
    """How many calls :class:`OnnxNets` runs at once: ``threads``, else ``$OMP_NUM_THREADS`` (the setting
    that bounds MXNet too; of an OpenMP list such as ``4,2`` the first number), else the number of CPUs.

    Raises
    ------
    UserError
        For ``threads`` or ``$OMP_NUM_THREADS`` that is not a whole number >= 1, naming which.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise UserError(f"threads: expected a whole number >= 1, got {threads!r}")
        return threads
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not env:
        return os.cpu_count() or 1
    first = env.split(",")[0].strip()
    if not first.isdigit() or int(first) < 1:
        raise UserError(f"OMP_NUM_THREADS={env!r}: expected a whole number >= 1 (or unset it)")
    return int(first)


class OnnxNets:
    """The three nets in onnxruntime, each call on one core and ``threads`` calls at once.

    The cascade's calls are small (PNet's pyramid levels, RNet's and ONet's chunks of :data:`ONNX_CHUNK`
    windows), too small for onnxruntime to split well over cores; running several at a time, each in one
    thread, keeps every core busy (measured on 2 cores, PNet over 12 crowd images' pyramids: 35–38 ms per
    image in one session of 2 threads, 27–29 ms as two single-thread calls at a time, the same maps bit for
    bit). onnxruntime releases the GIL while it runs, and so do ``cv2.resize`` and NumPy's copies.

    Parameters
    ----------
    models : dict
        ``{'pnet': model, ...}``: ONNX ``ModelProto``, serialised bytes or ``.onnx`` paths.
    threads : int, optional
        Calls at once (:func:`onnx_threads`).
    per_call_threads : int or None
        onnxruntime's threads within a call (``None``: its default, one per physical core; ``threads=1,
        per_call_threads=None`` runs one call at a time over all cores, as a lone session does: the
        benchmarks compare the two).
    """

    def __init__(self, models: dict, threads: int | None = None, per_call_threads: int | None = 1):
        self.nets = {name: OnnxNet(model, threads=per_call_threads) for name, model in models.items()}
        self.threads = onnx_threads(threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx")

    def pnet_level(self, fn, *args) -> Future:
        """``fn(*args)`` — make one pyramid level's input — and PNet on it, in the pool: its outputs' future."""
        return self._pool.submit(lambda: self.nets["pnet"](fn(*args)))

    @staticmethod
    def read_level(output: Future):
        """A :meth:`pnet_level` future's ``(probability map (h, w), offsets (4, h, w))``."""
        prob, box = output.result()[:2]
        return prob[0, 1], box[0]

    def forward(self, stage: str, batch: np.ndarray, chunk: int):
        """RNet or ONet over ``batch`` in chunks of at most ``chunk`` (and :data:`ONNX_CHUNK`) windows,
        several at once: the outputs, concatenated."""
        net, chunk = self.nets[stage], min(chunk, ONNX_CHUNK)
        outs = list(self._pool.map(net, [batch[i:i + chunk] for i in range(0, len(batch), chunk)])) or [net(batch)]
        return tuple(np.concatenate([o[k] for o in outs]) for k in range(len(outs[0])))


class OnnxCascade(Cascade):
    """The cascade on an exported folder (``pnet.onnx``, ``rnet.onnx``, ``onet.onnx``, ``mtcnn.json``), with
    NumPy, OpenCV and onnxruntime only. Settings default to those in ``mtcnn.json``; ``**config`` overrides;
    ``threads``: calls run at once (:func:`onnx_threads`)."""

    def __init__(self, folder, threads: int | None = None, **config):
        folder = Path(folder)
        card = json.loads((folder / "mtcnn.json").read_text())
        settings = {k: v for k, v in card.get("settings", {}).items() if k in DetectorConfig.__dataclass_fields__}
        super().__init__(**{**settings, **config})
        self._onnx = OnnxNets({name: folder / f"{name}.onnx" for name in ("pnet", "rnet", "onet")}, threads)

    def forward(self, stage, batch):
        return self._onnx.forward(stage, batch, self._chunk(stage))

    def _pnet_scale(self, img, scale, k):
        return self._onnx.pnet_level(self._resized, img, scale)

    def _pnet_read(self, output):
        return OnnxNets.read_level(output)


def detections_to_json(boxes, landmarks) -> dict:
    """One image's detections as the detections JSON holds them: ``{"boxes": [[x1, y1, x2, y2, score],
    ...], "landmarks": [[[x, y] × 5], ...]}``, rounded to 0.01 px."""
    return {"boxes": np.round(np.asarray(boxes, np.float64), 2).tolist(),
            "landmarks": np.round(np.asarray(landmarks, np.float64), 2).tolist()}
