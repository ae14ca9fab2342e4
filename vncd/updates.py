"""Turning a viewer's damage into rectangles: which encoding, and encoding the boxes.

The boxes come exact from the frame bus (vncd.frames), so the builder keeps no copy of what
the viewer shows and compares nothing; it only encodes, with the viewer's preferred encoding.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import trio

from protocol import PixelFormat, Rectangle
from protocol.encodings import ENCODERS, EncodeSettings, Encoding, make_encoder

from .region import Box


def offered_encodings(h264: bool) -> frozenset[int]:
    """The pixel encodings this server will use: every registered encoder, except the ones
    that are off unless the configuration asks for them."""
    offered = set(ENCODERS)
    if not h264:
        offered.discard(Encoding.OPEN_H264)
    return frozenset(offered)


def choose_encoding(
    client_encodings: Sequence[int], pixel_format: PixelFormat, offered: Collection[int]
) -> int:
    """The viewer's most preferred encoding that we offer and that can carry its pixel
    format (Raw, which every viewer must support, when none)."""
    for number in client_encodings:
        if number in offered:
            supports = getattr(ENCODERS[number], "supports", None)
            if supports is None or supports(pixel_format):
                return number
    return Encoding.RAW


#: Regions up to this many pixels are encoded in the Trio thread: handing them to a worker
#: thread costs more than encoding them (a 64×64 tile encodes in well under 100 µs).
INLINE_PIXELS = 64 * 64


class UpdateBuilder:
    """Per-viewer encoders (with their zlib streams): changed boxes in, rectangles out."""

    def __init__(self) -> None:
        self._encoders: dict[int, object] = {}

    async def build(
        self,
        pixels: np.ndarray,
        boxes: list[Box],
        pixel_format: PixelFormat,
        encoding: int,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        """Rectangles carrying ``boxes`` of ``pixels``; big jobs run in a worker thread
        (numpy, zlib and libjpeg release the GIL), small ones at once."""
        if sum(box.area for box in boxes) <= INLINE_PIXELS:
            return self.encode(pixels, boxes, pixel_format, encoding, settings)
        return await trio.to_thread.run_sync(
            self.encode, pixels, boxes, pixel_format, encoding, settings
        )

    def encode(
        self,
        pixels: np.ndarray,
        boxes: list[Box],
        pixel_format: PixelFormat,
        encoding: int,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        encoder = self._encoder(encoding)
        if boxes and getattr(encoder, "whole_frame", False):
            # A video codec keeps one context for the whole screen.
            boxes = [Box(0, 0, pixels.shape[1], pixels.shape[0])]
        rectangles: list[Rectangle] = []
        for box in boxes:
            rows, columns = box.slices()
            rectangles.extend(
                encoder.encode(pixels[rows, columns], box.x, box.y, pixel_format, settings)
            )
        return rectangles

    def _encoder(self, encoding: int):
        if encoding not in self._encoders:
            self._encoders[encoding] = make_encoder(encoding)
        return self._encoders[encoding]
