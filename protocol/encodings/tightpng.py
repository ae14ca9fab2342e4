"""TightPNG encoding (-260; rfbproto "Tight PNG Encoding", as noVNC implements it).

Tight's framing with BasicCompression replaced by PngCompression (bits 7-4 = 1010): a
compact length and a PNG image, which browsers decode natively. Fills and JPEG are Tight's.
The encoder cuts regions like Tight and sends blocks with a small palette as palette PNGs
(1 to 8 bits per pixel, Pillow picks the depth from the palette size), other lossless blocks
as RGB PNGs; the PNG zlib level follows the client's compression level like Tight's zlib.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from .._errors import RemoteProtocolError
from .._pixelformat import PixelFormat
from ._base import EncodeSettings
from ._registry import Encoding, register_decoder, register_encoder
from ._tight_decode import TightFamilyDecoder
from ._tight_encode import TightFamilyEncoder, fill_payload, zlib_levels
from ._tight_pixels import TPixels, as_seen_by, rgb_bytes
from ._tight_plan import Block
from ._tight_wire import PNG, Flavour, TightRect, compact_length

#: What Pillow raises on a malformed PNG, besides its OSError subclasses.
_PNG_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


@register_encoder
class TightPNGEncoder(TightFamilyEncoder):
    encoding = Encoding.TIGHT_PNG
    shareable = True

    def _lossless(
        self,
        block: Block,
        pixels: np.ndarray,
        values: np.ndarray,
        found: tuple[np.ndarray, np.ndarray] | None,
        tpixels: TPixels,
        settings: EncodeSettings,
    ) -> bytes:
        indexed_level, _, full_level = zlib_levels(settings)
        if found is None:
            image = Image.fromarray(rgb_bytes(pixels))
            level = full_level
        else:
            colours, indices = found
            if len(colours) == 1:
                return fill_payload(tpixels, int(colours[0]))
            image = _palette_image(indices)
            # The palette holds the colours as the client sees them (its format's values
            # decoded), so a PNG pixel equals what a PIXEL would have shown.
            seen = tpixels.to_bgrx(tpixels.from_values(colours), len(colours), None)
            image.putpalette(seen[:, 2::-1].tobytes(), "RGB")
            level = indexed_level
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=level)
        png = out.getvalue()
        return bytes((PNG << 4,)) + compact_length(len(png)) + png


def _palette_image(indices: np.ndarray) -> Image.Image:
    height, width = indices.shape
    return Image.frombuffer("P", (width, height), np.ascontiguousarray(indices), "raw", "P", 0, 1)


@register_decoder
class TightPNGDecoder(TightFamilyDecoder):
    encoding = Encoding.TIGHT_PNG
    flavour = Flavour.TIGHT_PNG

    def _pixels(
        self,
        fields: TightRect,
        width: int,
        height: int,
        pixel_format: PixelFormat,
        colour_map: np.ndarray,
    ) -> np.ndarray:
        """PngCompression: a PNG image exactly the rectangle's size (checked from its
        header before any pixel is inflated)."""
        try:
            image = Image.open(io.BytesIO(fields.data), formats=["PNG"])
            if image.size != (width, height):
                raise RemoteProtocolError(
                    f"PNG image is {image.size[0]}x{image.size[1]}, its rectangle {width}x{height}"
                )
            rgb = np.asarray(image.convert("RGB"))
        except _PNG_ERRORS as error:
            raise RemoteProtocolError(f"bad PNG image: {error}") from error
        pixels = np.zeros((height, width, 4), np.uint8)
        pixels[..., :3] = rgb[..., ::-1]
        return as_seen_by(pixels, pixel_format, colour_map)
