"""CopyRect encoding (rfbproto 7.7.2): copy a rectangle from elsewhere in the framebuffer.

There is no encoder class: a copy is not found in pixels but known by whoever moved them
(window moves, scrolls), so the server builds the rectangle with ``copy_rect``.
"""

from __future__ import annotations

import struct
from collections.abc import Generator

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._registry import Encoding, register_decoder

_SOURCE = struct.Struct(">HH")  # src-x-position, src-y-position


def copy_rect(x: int, y: int, width: int, height: int, src_x: int, src_y: int) -> Rectangle:
    """The rectangle that tells a client to copy (src_x, src_y, width, height) to (x, y)."""
    if not (0 <= src_x <= 0xFFFF and 0 <= src_y <= 0xFFFF):
        raise ValueError(f"source ({src_x}, {src_y}) is not two U16")
    return Rectangle(x, y, width, height, Encoding.COPY_RECT, _SOURCE.pack(src_x, src_y))


@register_decoder
class CopyRectDecoder:
    encoding = Encoding.COPY_RECT

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        return (yield _SOURCE.size)

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        if len(rectangle.payload) != _SOURCE.size:
            raise RemoteProtocolError(f"CopyRect payload is {len(rectangle.payload)} bytes, not 4")
        src_x, src_y = _SOURCE.unpack(rectangle.payload)
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        for left, top in ((x, y), (src_x, src_y)):
            if not framebuffer.contains(left, top, width, height):
                raise RemoteProtocolError(
                    f"CopyRect {width}x{height} from ({src_x}, {src_y}) to ({x}, {y}) leaves "
                    f"the {framebuffer.width}x{framebuffer.height} framebuffer"
                )
        pixels = framebuffer.pixels
        # NumPy buffers an assignment whose source overlaps its destination (scrolls), so
        # every destination pixel gets the source's old value.
        pixels[y : y + height, x : x + width] = pixels[
            src_y : src_y + height, src_x : src_x + width
        ]
