"""Rectangles of the framebuffer, as the pipeline passes them around (damage, requests)."""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True)
class Box:
    """A rectangle of the framebuffer in pixels."""

    x: int
    y: int
    width: int
    height: int

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def intersect(self, other: Box) -> Box:
        x, y = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.width, other.x + other.width)
        bottom = min(self.y + self.height, other.y + other.height)
        return Box(x, y, max(0, right - x), max(0, bottom - y))

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)
