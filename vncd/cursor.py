"""The desktop's pointer for every viewer: its shape and where it is.

One ``CursorBus`` follows the source (sources that can say: ``sources.base.TracksCursor``)
and keeps the current shape and position; each session has a ``CursorView`` that knows what
its viewer has been sent and how to tell it more:

- a viewer that lists a cursor shape pseudo-encoding gets the shape whenever it changes, in
  the first of them in its own order (Cursor With Alpha, VMware cursor, Cursor, X Cursor),
  and draws the pointer itself;
- a viewer that lists a position pseudo-encoding (PointerPos, VMware cursor position) is told
  where the pointer went when something else moved it — never its own moves echoed back;
- a viewer that lists no shape encoding sees the pointer drawn into its pixels (the session
  sends that viewer ``pointer_patch`` over what it sends everyone, and only that viewer).

Nothing tells when a program on the desktop moves the pointer, so its position is asked for
every ``POLL_SECONDS`` while some viewer lists a position encoding (x0vncserver and x11vnc
poll it always), and never otherwise: a still screen costs nothing more. A drawn pointer
follows the viewers' own moves and every new shape, which comes with its position.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs
import numpy as np
import trio

from protocol import PixelFormat, Rectangle
from protocol.encodings import Encoding
from protocol.encodings.cursor import (
    MAX_CURSOR_SIZE,
    Cursor,
    cursor_with_alpha,
    pointer_pos,
    rich_cursor,
    vmware_cursor,
    vmware_cursor_position,
    x_cursor,
)

from .frames import Wakeup
from .moves import Move
from .region import Box, subtract_all
from .sources.base import CursorNews, CursorShape, Source

log = logging.getLogger(__name__)

#: How often the pointer's position is asked for while a viewer lists a position encoding.
#: A viewer's own moves are known at once (and shown to the others at once); polling only
#: catches moves by programs on the desktop.
POLL_SECONDS = 0.1

#: Shape encodings, each with how it is built for a viewer's pixel format.
SHAPE_ENCODINGS = {
    Encoding.CURSOR_WITH_ALPHA: lambda cursor, pixel_format: cursor_with_alpha(cursor),
    Encoding.VMWARE_CURSOR: lambda cursor, pixel_format: vmware_cursor(cursor),
    Encoding.CURSOR: rich_cursor,
    Encoding.X_CURSOR: lambda cursor, pixel_format: x_cursor(cursor),
}
POSITION_ENCODINGS = {
    Encoding.POINTER_POS: pointer_pos,
    Encoding.VMWARE_CURSOR_POSITION: vmware_cursor_position,
}


def protocol_cursor(shape: CursorShape) -> Cursor:
    """The source's shape as the protocol's ``Cursor``, cropped around the hotspot to what
    viewers accept."""
    argb, (hot_x, hot_y) = shape.argb, shape.hotspot
    height, width = argb.shape
    left = min(max(hot_x - MAX_CURSOR_SIZE // 2, 0), max(width - MAX_CURSOR_SIZE, 0))
    top = min(max(hot_y - MAX_CURSOR_SIZE // 2, 0), max(height - MAX_CURSOR_SIZE, 0))
    argb = argb[top : top + MAX_CURSOR_SIZE, left : left + MAX_CURSOR_SIZE]
    if argb.size == 0:
        return Cursor.invisible()
    height, width = argb.shape
    hot_x = min(max(hot_x - left, 0), width - 1)
    hot_y = min(max(hot_y - top, 0), height - 1)
    return Cursor.from_argb32(np.ascontiguousarray(argb).ravel(), width, height, hot_x, hot_y)


def around(boxes: Sequence[Box], pointer: Box) -> tuple[list[Box], list[Box]]:
    """``boxes`` without the drawn ``pointer``'s box, in reading order: those that come
    before it, and the rest. The pointer is sent in its place between them, so that the
    first rectangle of a whole update is still at the top left (vncdotool sizes its picture
    from the first rectangle it receives)."""
    rest = sorted(subtract_all(boxes, [pointer]), key=lambda box: (box.y, box.x))
    cut = sum((box.y, box.x) < (pointer.y, pointer.x) for box in rest)
    return rest[:cut], rest[cut:]


def first_listed(encodings: Sequence[int], wanted: dict[int, object]) -> int | None:
    """The first of ``wanted`` in the viewer's list (its order is its preference)."""
    return next((encoding for encoding in encodings if encoding in wanted), None)


class CursorView:
    """One session's side of the bus; see the module docstring."""

    def __init__(self, bus: CursorBus, wakeup: Wakeup) -> None:
        self._bus = bus
        self.wakeup = wakeup
        self.shape_encoding: int | None = None
        self.position_encoding: int | None = None
        self._shape_sent = 0  # the bus's shape serial this viewer has (0: none)
        self._position_sent: tuple[int, int] | None = None
        self._drawn: tuple[Box | None, int] = (None, 0)  # where and which pointer was drawn

    @property
    def draws_pointer(self) -> bool:
        """Whether the pointer must be drawn into this viewer's pixels."""
        return self.shape_encoding is None

    @property
    def wants_position(self) -> bool:
        """Whether the desktop's own pointer moves must be polled for this viewer: only for
        position encodings. A drawn pointer follows the viewers' moves and each new shape
        (which comes with its position); polling for it too would cost every still screen
        with such a viewer about 0.6 % of a core (10 polls a second, measured)."""
        return self.position_encoding is not None

    def set_encodings(self, encodings: Sequence[int]) -> None:
        shape_encoding = first_listed(encodings, SHAPE_ENCODINGS)
        if shape_encoding != self.shape_encoding:
            self._shape_sent = 0  # a new encoding: send the shape in it
        self.shape_encoding = shape_encoding
        self.position_encoding = first_listed(encodings, POSITION_ENCODINGS)
        self._bus.needs_changed()

    def moved_by_viewer(self, x: int, y: int) -> None:
        """The viewer put the pointer at (x, y): it knows, the others are told."""
        self._position_sent = (x, y)
        self._bus.moved(x, y)

    def news(self) -> bool:
        """Whether the viewer has a shape or position to be told (a drawn pointer's pixels
        are damage instead: ``overlay_damage``)."""
        return self._shape_news() or self._position_news()

    def _shape_news(self) -> bool:
        return (
            self.shape_encoding is not None
            and self._bus.shape is not None
            and self._shape_sent != self._bus.shape_serial
        )

    def _position_news(self) -> bool:
        return self.position_encoding is not None and self._bus.position not in (
            None,
            self._position_sent,
        )

    def take(self, pixel_format: PixelFormat) -> list[Rectangle]:
        """The pseudo-rectangles that bring the viewer up to date (they go first in its next
        update)."""
        rectangles = []
        shape, position = self._bus.shape, self._bus.position
        if self._shape_news():
            assert self.shape_encoding is not None and shape is not None
            rectangles.append(SHAPE_ENCODINGS[self.shape_encoding](shape, pixel_format))
            self._shape_sent = self._bus.shape_serial
        if self._position_news():
            assert self.position_encoding is not None and position is not None
            rectangles.append(POSITION_ENCODINGS[self.position_encoding](*position))
            self._position_sent = position
        return rectangles

    def _pointer(self) -> tuple[Box | None, int]:
        """Where the pointer covers the frame now, and which shape (None: nothing to draw)."""
        shape, position = self._bus.shape, self._bus.position
        if not self.draws_pointer or shape is None or position is None:
            return None, 0
        x, y = position[0] - shape.hotspot_x, position[1] - shape.hotspot_y
        return Box(x, y, shape.width, shape.height), self._bus.shape_serial

    def overlay_damage(self) -> list[Box]:
        """Boxes of the viewer's picture that the drawn pointer left, entered or changed in
        since it was last drawn: they must be sent again."""
        now = self._pointer()
        if now == self._drawn:
            return []
        return [box for box in {now[0], self._drawn[0]} if box is not None]

    def copied(self, copy: Move) -> list[Box]:
        """Where a CopyRect took the drawn pointer along (a ghost to paint over)."""
        drawn = self._drawn[0]
        if drawn is None or all(drawn.intersect(copy.source(box)).empty for box in copy.boxes):
            return []
        return [drawn.moved(copy.dx, copy.dy)]

    def pointer_patch(
        self, pixels: np.ndarray, boxes: Sequence[Box]
    ) -> tuple[Box, np.ndarray] | None:
        """Where the drawn pointer is and those pixels with it drawn in, if it touches
        ``boxes`` (None: nothing to draw there); remembers where it was drawn. Only the
        pointer's box is copied, and sent over the rest of the update, which comes from the
        shared frame as for every other viewer."""
        self._drawn = box, _ = self._pointer()
        shape = self._bus.shape
        if box is None or shape is None or all(box.intersect(b).empty for b in boxes):
            return None
        inside = box.intersect(Box(0, 0, pixels.shape[1], pixels.shape[0]))
        if inside.empty:
            return None
        drawn = pixels[inside.slices()].copy()
        image = shape.image[
            inside.y - box.y : inside.bottom - box.y, inside.x - box.x : inside.right - box.x
        ]
        alpha = image[..., 3:4].astype(np.uint16)
        blended = (image[..., :3] * alpha + drawn[..., :3] * (255 - alpha) + 127) // 255
        drawn[..., :3] = blended.astype(np.uint8)
        return inside, drawn


@attrs.define
class CursorStatistics:
    shapes: int = 0  # shape changes seen
    positions: int = 0  # position changes seen (polled or by a viewer)
    views: int = 0


class CursorBus:
    """Follows the source's pointer for the joined views; whoever runs the hub runs
    ``run()``. A source that cannot tell (no ``TracksCursor``) leaves it without a shape:
    viewers then keep their own local pointer, as with any server that sends none."""

    def __init__(self, source: Source, poll_seconds: float = POLL_SECONDS) -> None:
        self._source = source
        self._poll_seconds = poll_seconds
        self._views: set[CursorView] = set()
        self.shape: Cursor | None = None
        self.shape_serial = 0
        self.position: tuple[int, int] | None = None
        self._stats = CursorStatistics()
        self._needs = Wakeup()
        self._waiting: trio.CancelScope | None = None

    def join(self, view: CursorView) -> None:
        self._views.add(view)
        self.needs_changed()

    def leave(self, view: CursorView) -> None:
        self._views.discard(view)

    def statistics(self) -> CursorStatistics:
        return attrs.evolve(self._stats, views=len(self._views))

    def needs_changed(self) -> None:
        """A view joined or changed what it wants: decide again whether to poll."""
        self._needs.set()
        if self._waiting is not None:
            self._waiting.cancel()

    def moved(self, x: int, y: int) -> None:
        """A viewer moved the pointer."""
        self._publish(CursorNews(None, (x, y)))

    async def run(self) -> None:
        wait_for_cursor = getattr(self._source, "wait_for_cursor", None)
        if wait_for_cursor is None:
            return
        while True:
            if not self._views:
                await self._needs.wait()
                continue
            poll = self._poll_seconds if any(v.wants_position for v in self._views) else None
            news = None
            with trio.CancelScope() as self._waiting:
                news = await wait_for_cursor(poll)
            self._waiting = None
            if news is not None:
                self._publish(news)

    def _publish(self, news: CursorNews) -> None:
        changed = False
        if news.shape is not None:
            self.shape = protocol_cursor(news.shape)
            self.shape_serial += 1
            self._stats.shapes += 1
            changed = True
        if news.position != self.position:
            self.position = news.position
            self._stats.positions += 1
            changed = True
        if changed:
            for view in self._views:
                view.wakeup.set()
