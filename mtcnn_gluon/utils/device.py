"""Where the nets run: MXNet contexts from the command line's ``--gpus`` and from API arguments."""
from __future__ import annotations

import mxnet as mx

__all__ = ["contexts", "as_context_list"]


def contexts(gpus: str | None) -> list:
    """``'0,1'`` → ``[mx.gpu(0), mx.gpu(1)]``; empty or None → ``[mx.cpu()]``.

    Raises
    ------
    ValueError
        Naming ``--gpus`` and the text, for anything but comma-separated integers.
    """
    if not gpus:
        return [mx.cpu()]
    try:
        ids = [int(g) for g in str(gpus).split(",") if g.strip()]
    except ValueError:
        raise ValueError(f"--gpus: expected comma-separated GPU ids like 0,1, got {gpus!r}") from None
    return [mx.gpu(i) for i in ids] or [mx.cpu()]


def as_context_list(ctx) -> list:
    """One context, a list of them or None (the CPU) as a non-empty list."""
    if ctx is None:
        return [mx.cpu()]
    if isinstance(ctx, mx.Context):
        return [ctx]
    ctx = list(ctx)
    if not ctx:
        raise ValueError("ctx: empty list of contexts")
    return ctx
