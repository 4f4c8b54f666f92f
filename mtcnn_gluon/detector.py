"""The MTCNN detector in MXNet: the cascade (:mod:`mtcnn_gluon.cascade`) over our Gluon nets.

Speed comes from batching and from how the nets are laid out, not from changing the arithmetic:
each stage's crops run through the net as one batch per context, all pyramid scales are launched
before any is read back, the nets run in their inference form (:mod:`mtcnn_gluon.model.fused`: channels
padded for oneDNN, PReLU from oneDNN ops) or as exported graphs in onnxruntime (``backend="onnx"``), and NMS
looks only at pairs of boxes that can overlap (:func:`mtcnn_gluon.utils.boxes.nms`).
"""
from __future__ import annotations

import hashlib
import os

import cv2

import mxnet as mx
import numpy as np

from .cascade import PNET_CELL, PNET_STRIDE, Cascade, OnnxNets, detections_to_json, pyramid_scales
from .config import INPUT_SIZE, DetectorConfig
from .model.export import to_onnx
from .model.fused import fuse as fuse_net
from .model.nets import get_net, load_reference_weights, load_weights
from .utils import boxes as bx
from .utils.device import as_context_list
from .utils.images import crop_and_resize, normalize, to_bgr, try_read_image
from .utils.progress import tqdm

__all__ = ["DetectorConfig", "MTCNNDetector", "pyramid_scales", "resolve_weights", "pretrained_dir",
           "predict_landmarks", "detect_files", "detections_to_json", "BACKENDS", "PNET_CELL", "PNET_STRIDE"]

BACKENDS = ("mxnet", "onnx")


class MTCNNDetector(Cascade):
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
    threads : int, optional
        With ``backend='onnx'``: onnxruntime calls run at once, one thread each (default
        ``$OMP_NUM_THREADS``, else the number of CPUs; :func:`mtcnn_gluon.cascade.onnx_threads`).
    nms : callable
        ``nms(boxes, thresh=..., mode=...)`` → kept indices; default :func:`mtcnn_gluon.utils.boxes.nms`
        (benchmarks pass the textbook loop to measure it).
    **config
        Fields of :class:`DetectorConfig` (``min_face``, ``thresholds``, ``factor``, ...).

    Each stage is callable on its own (:meth:`run_pnet`, :meth:`run_rnet`, :meth:`run_onet`), which
    hard example mining uses.
    """

    def __init__(self, pnet, rnet, onet, ctx=None, fuse: bool = True, nms=bx.nms, backend: str = "mxnet",
                 threads: int | None = None, **config):
        super().__init__(nms=nms, **config)
        self.ctx = as_context_list(ctx)
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self.pnet, self.rnet, self.onet = pnet, rnet, onet
        present = {name: net for name, net in zip(("pnet", "rnet", "onet"), (pnet, rnet, onet)) if net is not None}
        if backend == "onnx":
            # the exported graphs in onnxruntime; PNet's without the landmark head, as export writes it
            self._onnx = OnnxNets({name: to_onnx(net, landmarks=name != "pnet") for name, net in present.items()},
                                  threads)
            self._run = self._onnx.nets
        else:
            self._run = {name: fuse_net(net, ctx=self.ctx) if fuse else _hybridized(net)
                         for name, net in present.items()}

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
        chunk = self._chunk(stage)
        net = self._net(stage)
        if self.backend == "onnx":
            return self._onnx.forward(stage, batch, chunk)
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

    def _pnet_scale(self, img, scale, k):
        if self.backend == "onnx":
            self._net("pnet")  # the error naming the missing stage
            return self._onnx.pnet_level(self._resized, img, scale)
        batch = self._resized(img, scale)
        return self._net("pnet")(mx.nd.array(batch, ctx=self.ctx[k % len(self.ctx)]))

    def _pnet_read(self, output):
        """One level's ``(probability map (h, w), offsets (4, h, w))`` as NumPy."""
        if self.backend == "onnx":
            return OnnxNets.read_level(output)
        cls, reg, _ = output
        return mx.nd.softmax(cls, axis=1)[0, 1].asnumpy(), reg[0].asnumpy()


def _hybridized(net):
    net.hybridize()
    return net


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


