"""mtcnn-gluon: train and run MTCNN (Zhang et al. 2016) from scratch in MXNet Gluon."""
import os as _os

# MXNet's OpenMP pool uses half the cores unless told otherwise; it reads this once, at import.
_os.environ.setdefault("OMP_NUM_THREADS", str(_os.cpu_count() or 1))
# Silence MXNet's one-line warning about the CachedOp shape cache on every new pyramid scale.
_os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")

__version__ = "0.1.0"
