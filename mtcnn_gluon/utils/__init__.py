"""The ground floor: pure helpers every other layer uses and that use nothing of the package above them.

``boxes`` (IoU, NMS, squaring, offsets; the original pixel convention), ``images`` (reading, the one padded
crop, the input normalisation), ``labels`` (the label layout of a training sample), ``device`` (contexts),
``files`` (atomic writes), ``progress`` (progress bars: widget or text).
"""
