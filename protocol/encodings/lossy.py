"""Whether a rectangle, as sent, shows the client only an approximation of the pixels.

A server re-sends such areas losslessly once they stop changing (a "lossless refresh"), so
it must know which of the rectangles it sent were lossy: those of the JPEG encoding (21),
Open H.264 (50), and Tight or TightPNG rectangles of JpegCompression (rfbproto 7.7.6:
bits 7-4 of the compression-control byte are 1001). Every other rectangle, Tight's fills,
BasicCompression and PNG included, carries the pixels exactly.
"""

from __future__ import annotations

from .._events import Rectangle
from ._registry import Encoding
from ._tight_wire import JPEG

#: Encodings whose every rectangle is lossy.
LOSSY_ENCODINGS = frozenset((Encoding.JPEG, Encoding.OPEN_H264))
#: Encodings whose rectangles are lossy when their compression control says JPEG.
_TIGHT_FAMILY = frozenset((Encoding.TIGHT, Encoding.TIGHT_PNG))


def is_lossy(rectangle: Rectangle) -> bool:
    """True when the rectangle's payload is lossy as sent (see the module's docstring)."""
    if rectangle.encoding in LOSSY_ENCODINGS:
        return True
    if rectangle.encoding in _TIGHT_FAMILY:
        return bool(rectangle.payload) and rectangle.payload[0] >> 4 == JPEG
    return False
