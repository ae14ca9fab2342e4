"""The client's copy of the remote framebuffer: what viewers, recorders and tests keep.

Decoders write into it; the pixels are canonical BGRX (see ``protocol._pixelformat``) whatever
the pixel format on the wire, so a consumer never deals with the client's PixelFormat. The
cursor pseudo-encodings leave the pointer's shape and position beside the pixels, not in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np

from ._pixelformat import colour_map_to_bgrx

if TYPE_CHECKING:  # encodings import this module: a runtime import would be circular
    from .encodings.cursor import Cursor


def _is_bgrx(instance: Framebuffer, attribute: attrs.Attribute, value: np.ndarray) -> None:
    if value.ndim != 3 or value.shape[2] != 4 or value.dtype != np.uint8:
        raise ValueError(f"pixels must be (height, width, 4) uint8, got {value.shape}")


def _is_colour_map(instance: Framebuffer, attribute: attrs.Attribute, value: np.ndarray) -> None:
    if value.ndim != 2 or value.shape[1] != 4 or value.dtype != np.uint8:
        raise ValueError(f"colour map must be (N, 4) uint8, got {value.shape}")


def _black_colour_map() -> np.ndarray:
    # 7.6.2 leaves entries the server never set undefined; black is the honest guess.
    return np.zeros((256, 4), np.uint8)


@attrs.define(eq=False)
class Framebuffer:
    """Pixels (H, W, 4) uint8 BGRX plus the colour map (N, 4) uint8 BGRX that colour-map
    pixel formats index (7.4, 7.6.2); the last cursor shape the server sent and the last
    position it gave the pointer's hotspot (None until one arrives)."""

    pixels: np.ndarray = attrs.field(validator=_is_bgrx)
    colour_map: np.ndarray = attrs.field(factory=_black_colour_map, validator=_is_colour_map)
    cursor: Cursor | None = None
    pointer: tuple[int, int] | None = None

    @classmethod
    def blank(cls, width: int, height: int) -> Framebuffer:
        """A black framebuffer, as a client has before the first update (7.3.2 sizes)."""
        return cls(np.zeros((height, width, 4), np.uint8))

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    def contains(self, x: int, y: int, width: int, height: int) -> bool:
        """Whether the rectangle lies wholly inside; decoders must check before writing."""
        return x >= 0 and y >= 0 and x + width <= self.width and y + height <= self.height

    def resize(self, width: int, height: int) -> None:
        """New size, keeping the overlapping pixels (DesktopSize: 'Client Semantics' asks the
        client to retain what it can); new area is black."""
        pixels = np.zeros((height, width, 4), np.uint8)
        keep_h, keep_w = min(height, self.height), min(width, self.width)
        pixels[:keep_h, :keep_w] = self.pixels[:keep_h, :keep_w]
        self.pixels = pixels

    def set_colour_map_entries(self, first: int, colours: Sequence[tuple[int, int, int]]) -> None:
        """Apply SetColourMapEntries (7.6.2): 16-bit colours from index ``first`` on; the map
        grows to cover every index the server addresses."""
        entries = colour_map_to_bgrx(colours)
        end = first + len(entries)
        if end > len(self.colour_map):
            grown = np.zeros((end, 4), np.uint8)
            grown[: len(self.colour_map)] = self.colour_map
            self.colour_map = grown
        self.colour_map[first:end] = entries
