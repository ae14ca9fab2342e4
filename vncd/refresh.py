"""Lossless refresh: where a viewer's picture is lossy, and when to send it again exactly.

JPEG (and H.264) rectangles leave the viewer with an approximation. Once an area has stopped
changing for ``REFRESH_DELAY`` it is sent again with a lossless encoding, a bounded piece per
update, so a still screen ends pixel-exact (TurboVNC's automatic lossless refresh, TigerVNC's
lossless refresh). Pure bookkeeping: time is an argument.
"""

from __future__ import annotations

import attrs

from .region import Box, bounds

#: An area is refreshed once it has not been sent lossy for this long (TigerVNC waits 50 ms
#: after the last change).
REFRESH_DELAY = 0.05
#: Pixels refreshed per update at most, so that a refresh never holds fresh damage back for
#: long: about an eighth of a 1080p screen.
REFRESH_PIXELS = 256 * 1024
#: Lossy areas remembered one by one before the oldest are merged into their bounding box.
MAX_AREAS = 64


@attrs.define
class LossyAreas:
    """The areas of one viewer's picture that were last sent lossy, each with the time
    (none while ``delay`` is None: the refresh is off)."""

    delay: float | None = REFRESH_DELAY
    _areas: list[tuple[Box, float]] = attrs.field(factory=list, init=False)

    def __bool__(self) -> bool:
        return bool(self._areas)

    @property
    def boxes(self) -> list[Box]:
        return [box for box, _ in self._areas]

    def sent(self, box: Box, lossy: bool, now: float) -> None:
        """``box`` went to the viewer, ``lossy`` or exact."""
        self._forget(box)
        if lossy and self.delay is not None:
            self._areas.append((box, now))
            if len(self._areas) > MAX_AREAS:
                self._areas.sort(key=lambda area: area[1])
                merged = self._areas[: len(self._areas) // 2]
                whole = bounds(box for box, _ in merged), max(time for _, time in merged)
                self._areas = [whole, *self._areas[len(merged) :]]

    def copied(self, dx: int, dy: int, boxes: tuple[Box, ...]) -> None:
        """The viewer copied its own pixels by (dx, dy) into ``boxes`` (CopyRect): lossy
        pixels moved with them."""
        moved = [
            (part.moved(dx, dy), time)
            for box in boxes
            for lossy, time in self._areas
            if not (part := lossy.intersect(box.moved(-dx, -dy))).empty
        ]
        for box in boxes:
            self._forget(box)
        self._areas.extend(moved)

    def due_at(self) -> float | None:
        """When the oldest lossy area is due for its refresh (None: nothing is lossy)."""
        if not self._areas or self.delay is None:
            return None
        return min(time for _, time in self._areas) + self.delay

    def due(self, now: float, budget: int = REFRESH_PIXELS) -> list[Box]:
        """Lossy areas still for ``delay`` by ``now``, oldest first, at most ``budget`` pixels
        (a larger area is cut into bands of rows; a row wider than the budget goes alone)."""
        chosen: list[Box] = []
        if self.delay is None:
            return chosen
        for box, time in sorted(self._areas, key=lambda area: area[1]):
            if time + self.delay > now or budget <= 0:
                break
            if box.area > budget:
                rows = budget // box.width
                if not rows and chosen:
                    break
                box = Box(box.x, box.y, box.width, max(1, rows))
            chosen.append(box)
            budget -= box.area
        return chosen

    def _forget(self, box: Box) -> None:
        self._areas = [(part, time) for lossy, time in self._areas for part in lossy.subtract(box)]
