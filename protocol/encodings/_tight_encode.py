"""What the Tight and TightPNG encoders share: the plan, fills, JPEG, levels, palette sizes.

They differ only in how a lossless block is sent (zlib behind a filter, or PNG), which each
implements as ``_lossless``.
"""

from __future__ import annotations

import abc

import numpy as np

from .._events import Rectangle
from .._pixelformat import PixelFormat
from ._base import EncodeSettings
from ._tight_jpeg import JpegParameters, requested_jpeg
from ._tight_palette import palette
from ._tight_pixels import TPixels, tpixels_for
from ._tight_plan import DETAIL_WIDTH, LOSSLESS_AREA, MAX_WIDTH, TILE, Block, Kind, plan
from ._tight_wire import FILL, JPEG, MAX_COMPACT, compact_length

#: A JPEG block may cover this many pixels (rows of photo tiles joined): fewer, larger
#: images carry fewer tables and headers, and each call of libjpeg costs its set-up.
JPEG_AREA = MAX_WIDTH * MAX_WIDTH
#: The widest detail block when JPEG is on: one with too many colours for a palette becomes
#: a JPEG image, which costs the same per pixel at any width, so wide blocks (as wide as
#: TigerVNC's zlib area allows a tile row) save palettes and rectangles.
JPEG_DETAIL_WIDTH = LOSSLESS_AREA // TILE
#: Compression level the client did not choose (TigerVNC's default).
DEFAULT_COMPRESS_LEVEL = 2
#: Compression level 0..9 -> zlib level for (palette indices, 1-bit data, full colour):
#: TigerVNC's table (VirtualGL's measurements); level 0 still frames data as zlib.
ZLIB_LEVELS = (
    (0, 0, 0),
    (1, 1, 1),
    (3, 3, 2),
    (5, 5, 2),
    (6, 7, 3),
    (7, 8, 4),
    (7, 8, 5),
    (8, 9, 6),
    (9, 9, 7),
    (9, 9, 9),
)


def zlib_levels(settings: EncodeSettings) -> tuple[int, int, int]:
    """(palette indices, 1-bit data, full colour) zlib levels for the client's level."""
    level = settings.compress_level
    return ZLIB_LEVELS[DEFAULT_COMPRESS_LEVEL if level is None else level]


def max_palette(area: int, settings: EncodeSettings, jpeg: bool) -> int:
    """The most colours worth a palette for a block of ``area`` pixels: TigerVNC's rule
    (area / (8 * level), at most 256; with JPEG on, 24 at levels 0-1 and 96 above, so
    colourful blocks go to JPEG)."""
    level = settings.compress_level
    if jpeg:
        return 24 if level is not None and level < 2 else 96
    divisor = max(4, 8 * (DEFAULT_COMPRESS_LEVEL if level is None else level))
    return min(256, max(2, area // divisor))


class TightFamilyEncoder(abc.ABC):
    """Cuts a region with ``plan`` and sends each block as a fill, a JPEG image or
    (subclass) losslessly. Instances belong to one connection (they may keep zlib state)."""

    encoding: int

    def encode(
        self,
        pixels: np.ndarray,
        x: int,
        y: int,
        pixel_format: PixelFormat,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        height, width = pixels.shape[:2]
        if not height or not width:
            return []
        tpixels = tpixels_for(pixel_format)
        values = tpixels.values(pixels)
        # 7.7.6: JPEG only for clients that asked for a quality and have 16 or 32 bpp (and
        # true colour: a colour-map client cannot show what JPEG decodes to).
        jpeg = None
        if pixel_format.true_colour and pixel_format.bits_per_pixel >= 16:
            jpeg = requested_jpeg(settings)
        rectangles = []
        limits = (JPEG_AREA, JPEG_DETAIL_WIDTH) if jpeg else (LOSSLESS_AREA, DETAIL_WIDTH)
        for block in plan(values, *limits):
            block_pixels, block_values = block.of(pixels), block.of(values)
            left, top = x + block.x, y + block.y
            found = None
            if block.kind is Kind.DETAIL:
                area = block.width * block.height
                found = palette(block_values, max_palette(area, settings, jpeg is not None))
            if block.kind is Kind.FILL:
                payload = fill_payload(tpixels, block.colour)
            elif jpeg is not None and found is None:
                rectangles += self._jpeg(block_pixels, left, top, jpeg)
                continue
            else:
                payload = self._lossless(
                    block, block_pixels, block_values, found, tpixels, settings
                )
            rectangles.append(
                Rectangle(left, top, block.width, block.height, self.encoding, payload)
            )
        return rectangles

    def _jpeg(self, pixels: np.ndarray, x: int, y: int, jpeg: JpegParameters) -> list[Rectangle]:
        """JpegCompression (7.7.6); an image too big for the compact length is halved."""
        height, width = pixels.shape[:2]
        image = jpeg.encode(pixels)
        if len(image) <= MAX_COMPACT:
            payload = bytes((JPEG << 4,)) + compact_length(len(image)) + image
            return [Rectangle(x, y, width, height, self.encoding, payload)]
        if height > 1:
            half = height // 2
            return self._jpeg(pixels[:half], x, y, jpeg) + self._jpeg(
                pixels[half:], x, y + half, jpeg
            )
        half = width // 2
        return self._jpeg(pixels[:, :half], x, y, jpeg) + self._jpeg(
            pixels[:, half:], x + half, y, jpeg
        )

    @abc.abstractmethod
    def _lossless(
        self,
        block: Block,
        pixels: np.ndarray,
        values: np.ndarray,
        found: tuple[np.ndarray, np.ndarray] | None,
        tpixels: TPixels,
        settings: EncodeSettings,
    ) -> bytes:
        """The payload of a block sent without loss; ``found`` is its palette (colour values,
        (H, W) indices) when it has a small one."""


def fill_payload(tpixels: TPixels, colour: int) -> bytes:
    """FillCompression (7.7.6): one TPIXEL for the whole rectangle."""
    return bytes((FILL << 4,)) + tpixels.from_values(np.array([colour], np.uint32))
