"""Rectangles of the framebuffer, as the pipeline passes them around (damage, requests)."""

from __future__ import annotations

from collections.abc import Iterable

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

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.right, other.right) - x, max(self.bottom, other.bottom) - y)

    def subtract(self, other: Box) -> list[Box]:
        """The parts of this box outside ``other``: at most four boxes (bands above and below,
        then the pieces left and right of the overlap)."""
        overlap = self.intersect(other)
        if overlap.empty:
            return [self]
        parts = [
            Box(self.x, self.y, self.width, overlap.y - self.y),
            Box(self.x, overlap.bottom, self.width, self.bottom - overlap.bottom),
            Box(self.x, overlap.y, overlap.x - self.x, overlap.height),
            Box(overlap.right, overlap.y, self.right - overlap.right, overlap.height),
        ]
        return [part for part in parts if not part.empty]

    def moved(self, dx: int, dy: int) -> Box:
        """This box shifted by (dx, dy)."""
        return Box(self.x + dx, self.y + dy, self.width, self.height)

    def contains(self, other: Box) -> bool:
        return (
            self.x <= other.x
            and self.y <= other.y
            and other.right <= self.right
            and other.bottom <= self.bottom
        )


def bounds(boxes: Iterable[Box]) -> Box:
    """The smallest box holding all of ``boxes`` (an empty box when there are none)."""
    held: Box | None = None
    for box in boxes:
        held = box if held is None else held.union(box)
    return Box(0, 0, 0, 0) if held is None else held


def subtract_all(boxes: Iterable[Box], holes: Iterable[Box]) -> list[Box]:
    """The parts of ``boxes`` outside every one of ``holes`` (not merged)."""
    parts = list(boxes)
    for hole in holes:
        parts = [part for box in parts for part in box.subtract(hole)]
    return parts


#: Merging two boxes may cover at most this much more area than the two did (plus the slack):
#: a rectangle header and an encoder call cost about as much as a few thousand pixels.
MERGE_WASTE = 1.25
MERGE_SLACK = 64 * 64
#: A region with more boxes than this is simplified to their bounding box.
MAX_BOXES = 64


class Region:
    """Damage accumulated since a viewer's last update: a short list of boxes that together
    cover every change. Boxes are merged when that wastes little, so a growing change stays
    one box and a scattered one stays cheap to send."""

    def __init__(self) -> None:
        self._boxes: list[Box] = []

    def __bool__(self) -> bool:
        return bool(self._boxes)

    @property
    def boxes(self) -> list[Box]:
        return list(self._boxes)

    def add(self, box: Box) -> None:
        if box.empty:
            return
        merged = True
        while merged:
            merged = False
            for index, other in enumerate(self._boxes):
                if other.contains(box):
                    return
                union = other.union(box)
                if (
                    box.contains(other)
                    or union.area <= (other.area + box.area) * MERGE_WASTE + MERGE_SLACK
                ):
                    del self._boxes[index]
                    box, merged = union, True
                    break
        self._boxes.append(box)
        if len(self._boxes) > MAX_BOXES:
            self._boxes = [bounds(self._boxes)]

    def take(self, within: Box | None = None) -> list[Box]:
        """The boxes inside ``within`` (all of them when None), which leave the region; what
        lies outside stays for a later update that covers it."""
        boxes, self._boxes = self._boxes, []
        if within is None:
            return boxes
        # Not merged: a merge could cover ``within`` again and send it once more.
        self._boxes = [part for box in boxes for part in box.subtract(within)]
        return [inside for box in boxes if not (inside := box.intersect(within)).empty]
