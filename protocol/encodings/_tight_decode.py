"""What the Tight and TightPNG decoders share: the reader, resets, fills and JPEG.

They differ in the third compression method (BasicCompression or PngCompression), which
each implements as ``_pixels``.
"""

from __future__ import annotations

import abc
from collections.abc import Generator
from typing import ClassVar

import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._base import require_inside
from ._tight_jpeg import decode_jpeg
from ._tight_pixels import tpixels_for
from ._tight_wire import Flavour, Method, TightRect, parse, recording, run_over
from ._tight_zlib import InflateStreams


class TightFamilyDecoder(abc.ABC):
    """One per connection: its zlib streams persist from rectangle to rectangle."""

    encoding: int
    flavour: ClassVar[Flavour]

    def __init__(self) -> None:
        self._streams = InflateStreams()

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        return (yield from recording(parse(rectangle, pixel_format, self.flavour)))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        fields = run_over(parse(rectangle, pixel_format, self.flavour), rectangle.payload)
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        require_inside(framebuffer, rectangle, self.flavour.value)
        # 7.7.6 [NOTE1]: reset what the control byte says, whatever the method.
        self._streams.reset(fields.resets)
        colour_map = framebuffer.colour_map
        if fields.method is Method.FILL:
            try:
                colour = tpixels_for(pixel_format).to_bgrx(fields.data, 1, colour_map)
            except ValueError as error:
                raise RemoteProtocolError(str(error)) from error
            framebuffer.pixels[y : y + height, x : x + width] = colour[0]
        elif fields.method is Method.JPEG:
            framebuffer.pixels[y : y + height, x : x + width] = decode_jpeg(
                fields.data, width, height, pixel_format, colour_map
            )
        else:
            framebuffer.pixels[y : y + height, x : x + width] = self._pixels(
                fields, width, height, pixel_format, colour_map
            )

    @abc.abstractmethod
    def _pixels(
        self,
        fields: TightRect,
        width: int,
        height: int,
        pixel_format: PixelFormat,
        colour_map: np.ndarray,
    ) -> np.ndarray:
        """The (height, width, 4) canonical pixels of a rectangle sent with the flavour's
        own method (raises RemoteProtocolError for bad data)."""
