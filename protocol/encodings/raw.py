"""Raw encoding (rfbproto 7.7.1): width * height PIXELs in the client's format, row-major."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat, decode_pixels, encode_pixels
from ._base import EncodeSettings, read_bytes, require_inside
from ._registry import Encoding, register_decoder, register_encoder


@register_encoder
class RawEncoder:
    """Stateless: the region's pixels converted to the client's format."""

    encoding = Encoding.RAW
    shareable = True

    def encode(
        self,
        pixels: np.ndarray,
        x: int,
        y: int,
        pixel_format: PixelFormat,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        height, width = pixels.shape[:2]
        payload = encode_pixels(pixels, pixel_format)
        return [Rectangle(x, y, width, height, self.encoding, payload)]


@register_decoder
class RawDecoder:
    encoding = Encoding.RAW

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        remaining = rectangle.width * rectangle.height * pixel_format.bytes_per_pixel
        return (yield from read_bytes(remaining))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        require_inside(framebuffer, rectangle, "raw")
        try:
            pixels = decode_pixels(
                rectangle.payload, width, height, pixel_format, framebuffer.colour_map
            )
        except ValueError as error:
            raise RemoteProtocolError(str(error)) from error
        framebuffer.pixels[y : y + height, x : x + width] = pixels
