"""Dataset parsers: WIDER FACE (face boxes) and CNN_FacePoint (five landmarks), plus downloads."""
from .wider import (WIDER_ATTRIBUTES, AnnotationFormatError, WiderImage, WiderSet, load_wider,
                    parse_wider_annotations)
from .facepoint import FacePoint, FacePointSet, load_facepoint, parse_facepoint_list

__all__ = [
    "WIDER_ATTRIBUTES", "AnnotationFormatError", "WiderImage", "WiderSet", "load_wider",
    "parse_wider_annotations", "FacePoint", "FacePointSet", "load_facepoint", "parse_facepoint_list",
]
