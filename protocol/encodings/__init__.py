"""Every encoding's encoder and decoder, and the registry that makes them by number.

Adding an encoding: write its module (classes decorated with ``register_encoder`` /
``register_decoder``) and import it on the line below.
"""

from __future__ import annotations

from . import copyrect, h264, hextile, jpeg, pseudo, raw, rre, tight, tightpng, trle, zlib, zrle
from ._base import Decoder, Encoder, EncodeSettings, Reader
from ._registry import (
    COMPRESS_LEVELS,
    DECODERS,
    ENCODERS,
    FINE_QUALITY_LEVELS,
    QUALITY_LEVELS,
    SUBSAMPLING_LEVELS,
    Encoding,
    make_decoder,
    make_encoder,
    register_decoder,
    register_encoder,
    settings_from_encodings,
)
from .copyrect import copy_rect
from .lossy import LOSSY_ENCODINGS, is_lossy
from .pseudo import desktop_size, last_rect

__all__ = [
    "COMPRESS_LEVELS",
    "DECODERS",
    "ENCODERS",
    "FINE_QUALITY_LEVELS",
    "LOSSY_ENCODINGS",
    "QUALITY_LEVELS",
    "SUBSAMPLING_LEVELS",
    "Decoder",
    "EncodeSettings",
    "Encoder",
    "Encoding",
    "Reader",
    "copy_rect",
    "copyrect",
    "desktop_size",
    "h264",
    "hextile",
    "is_lossy",
    "jpeg",
    "last_rect",
    "make_decoder",
    "make_encoder",
    "pseudo",
    "raw",
    "register_decoder",
    "register_encoder",
    "rre",
    "settings_from_encodings",
    "tight",
    "tightpng",
    "trle",
    "zlib",
    "zrle",
]
