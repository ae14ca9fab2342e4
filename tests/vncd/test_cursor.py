"""The pointer for every viewer (vncd.cursor): shapes in each viewer's own encoding, sent once
per change; positions only when something else moved the pointer; the pointer drawn into the
pixels of viewers that list no shape, and only theirs. No I/O: a desktop whose pointer the
test moves, sessions over memory streams, Trio's autojump clock."""

from __future__ import annotations

import numpy as np
import trio

from protocol import FramebufferUpdate, PointerEvent, SetEncodings
from protocol.encodings import Encoding
from protocol.encodings.cursor import MAX_CURSOR_SIZE, Cursor
from vncd.cursor import CursorBus, CursorView, protocol_cursor
from vncd.frames import Wakeup
from vncd.moves import Move
from vncd.region import Box
from vncd.sources.base import CursorNews, CursorShape
from vncd.sources.demo import ARROW, DemoSource

from .harness import ArraySource, running_hub
from .viewer import Viewer

WHITE, HALF = 0xFFFFFFFF, 0x80404040  # opaque white; half-transparent grey (premultiplied)


def shape(width: int = 4, height: int = 3, hotspot: tuple[int, int] = (1, 1), word: int = WHITE):
    return CursorShape(np.full((height, width), word, np.uint32), hotspot)


class PointerDesktop(ArraySource):
    """A desktop whose pointer the test moves and reshapes; it records each wait's poll."""

    def __init__(self) -> None:
        super().__init__()
        self.polls: list[float | None] = []
        self.position = (50, 40)
        self._news_in, self._news_out = trio.open_memory_channel[CursorNews](16)

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        super().inject_pointer(x, y, button_mask)
        self.position = (x, y)

    def point(self, news: CursorNews) -> None:
        self._news_in.send_nowait(news)

    async def wait_for_cursor(self, poll: float | None) -> CursorNews:
        self.polls.append(poll)
        with trio.move_on_after(poll if poll is not None else float("inf")):
            return await self._news_out.receive()
        return CursorNews(None, self.position)


async def connect(harness, *encodings: int) -> Viewer:
    viewer = harness.connect()
    await viewer.handshake(encodings=encodings)
    return viewer


async def update(viewer: Viewer) -> FramebufferUpdate:
    await viewer.request()
    return await viewer.next_update()


def encodings_of(update: FramebufferUpdate) -> list[int]:
    return [rectangle.encoding for rectangle in update.rectangles]


# --- shapes -------------------------------------------------------------------------------


def test_a_big_cursor_is_cropped_around_its_hotspot() -> None:
    big = np.arange(300 * 300, dtype=np.uint32).reshape(300, 300) | 0xFF000000
    cursor = protocol_cursor(CursorShape(big, (290, 10)))
    assert (cursor.width, cursor.height) == (MAX_CURSOR_SIZE, MAX_CURSOR_SIZE)
    left, top = 300 - MAX_CURSOR_SIZE, 0
    assert (cursor.hotspot_x, cursor.hotspot_y) == (290 - left, 10 - top)
    expected = Cursor.from_argb32(
        np.ascontiguousarray(big[top : top + 256, left:]).ravel(), 256, 256, 290 - left, 10
    )
    assert cursor == expected


def test_an_empty_cursor_is_invisible() -> None:
    assert protocol_cursor(CursorShape(np.zeros((0, 0), np.uint32), (0, 0))) == Cursor.invisible()


async def test_the_shape_goes_in_the_viewers_first_cursor_encoding_once_per_change() -> None:
    desktop = PointerDesktop()
    async with running_hub(desktop) as harness:
        desktop.point(CursorNews(shape(), (5, 5)))
        # noVNC's order: VMware cursor before Cursor; this viewer prefers -239.
        viewer = await connect(harness, Encoding.RAW, Encoding.CURSOR, Encoding.VMWARE_CURSOR)
        first = await viewer.full_update()
        assert encodings_of(first).count(Encoding.CURSOR) == 1
        assert Encoding.VMWARE_CURSOR not in encodings_of(first)
        assert viewer.framebuffer.cursor == protocol_cursor(shape())
        await viewer.assert_no_update(1.0, "the same shape was sent again")
        await viewer.send(PointerEvent(0, 60, 50))  # it draws the pointer where it moves it
        await viewer.request()
        await viewer.assert_no_update(1.0, "moving the pointer cost an update")

        desktop.point(CursorNews(shape(word=HALF, hotspot=(0, 2)), (5, 5)))
        second = await viewer.next_update()  # answers the request made above
        assert encodings_of(second) == [Encoding.CURSOR]
        assert viewer.framebuffer.cursor.hotspot_y == 2

        await viewer.send(SetEncodings((Encoding.RAW, Encoding.VMWARE_CURSOR)))
        again = await update(viewer)  # a new encoding: the shape in it
        assert encodings_of(again) == [Encoding.VMWARE_CURSOR]


# --- positions ----------------------------------------------------------------------------


async def test_positions_only_when_something_else_moved_the_pointer() -> None:
    desktop = PointerDesktop()
    async with running_hub(desktop) as harness:
        desktop.point(CursorNews(shape(), (5, 5)))
        wanted = (Encoding.RAW, Encoding.CURSOR_WITH_ALPHA, Encoding.POINTER_POS)
        watcher, mover = await connect(harness, *wanted), await connect(harness, *wanted)
        await watcher.full_update()
        await mover.full_update()
        assert watcher.framebuffer.pointer == (5, 5)

        desktop.point(CursorNews(None, (70, 20)))  # another program moved it
        await update(watcher)
        assert watcher.framebuffer.pointer == (70, 20)

        await mover.send(PointerEvent(0, 30, 31))
        await update(watcher)
        assert watcher.framebuffer.pointer == (30, 31)
        await mover.request()
        await mover.assert_no_update(1.0, "the mover was told where it put the pointer")


async def test_positions_are_asked_for_only_while_a_viewer_needs_them() -> None:
    desktop = PointerDesktop()
    async with running_hub(desktop) as harness:
        shapes_only = await connect(harness, Encoding.RAW, Encoding.CURSOR_WITH_ALPHA)
        drawn = await connect(harness, Encoding.RAW)  # its pointer is drawn in: no polling
        await shapes_only.full_update()
        await drawn.full_update()
        desktop.polls.clear()
        await trio.sleep(1)
        assert set(desktop.polls) <= {None}, "polled for viewers that list no position"

        positions = await connect(harness, Encoding.RAW, Encoding.CURSOR, Encoding.POINTER_POS)
        await positions.full_update()
        await trio.sleep(1)
        assert desktop.polls[-1] is not None


# --- the pointer drawn into the pixels ------------------------------------------------------


def blend(under: np.ndarray, cursor: Cursor) -> np.ndarray:
    alpha = cursor.image[..., 3:4].astype(np.uint16)
    colour = cursor.image[..., :3].astype(np.uint16)
    return ((colour * alpha + under[..., :3] * (255 - alpha) + 127) // 255).astype(np.uint8)


async def test_a_viewer_without_shapes_gets_the_pointer_in_its_pixels_only() -> None:
    desktop = PointerDesktop()
    async with running_hub(desktop) as harness:
        cursor_shape = shape(word=HALF)
        desktop.point(CursorNews(cursor_shape, (50, 40)))
        plain = await connect(harness, Encoding.RAW)
        shaped = await connect(harness, Encoding.RAW, Encoding.CURSOR_WITH_ALPHA)
        await plain.full_update()
        await shaped.full_update()
        cursor = protocol_cursor(cursor_shape)
        expected = desktop.pixels.copy()
        under = Box(49, 39, 4, 3).slices()
        expected[under][..., :3] = blend(expected[under], cursor)
        assert np.array_equal(plain.framebuffer.pixels[..., :3], expected[..., :3])
        assert np.array_equal(shaped.framebuffer.pixels[..., :3], desktop.pixels[..., :3])

        desktop.point(CursorNews(None, (100, 80)))  # moved: the old place is clean again
        await update(plain)
        picture = plain.framebuffer.pixels[..., :3]
        assert np.array_equal(picture[under], desktop.pixels[under][..., :3])
        moved_to = Box(99, 79, 4, 3).slices()
        assert np.array_equal(picture[moved_to], blend(desktop.pixels[moved_to], cursor))


def test_the_drawn_pointer_is_a_patch_and_a_copy_of_it_is_painted_over() -> None:
    bus = CursorBus(DemoSource((64, 48)))
    view = CursorView(bus, Wakeup())
    bus.join(view)
    bus._publish(CursorNews(ARROW, (10, 10)))
    pixels = np.zeros((48, 64, 4), np.uint8)
    box, drawn = view.pointer_patch(pixels, [Box(0, 0, 64, 48)])
    height, width = ARROW.argb.shape
    assert box == Box(10, 10, width, height) and drawn.shape == (height, width, 4)
    assert drawn[0, 0, :3].tolist() == [255, 255, 255] and not pixels.any()
    assert view.pointer_patch(pixels, [Box(40, 40, 8, 8)]) is None  # not in the update
    view.pointer_patch(pixels, [Box(0, 0, 64, 48)])
    copy = Move(20, 0, (Box(20, 0, 44, 48),))
    assert view.copied(copy) == [Box(30, 10, width, height)]
    assert view.copied(Move(0, 20, (Box(40, 20, 10, 10),))) == []


async def test_the_demo_desktop_has_an_arrow_pointer() -> None:
    source = DemoSource((320, 200))
    news = await source.wait_for_cursor(None)
    assert news.shape is ARROW and news.position == (0, 0)
    cursor = protocol_cursor(ARROW)
    assert (cursor.hotspot_x, cursor.hotspot_y) == (0, 0)
    assert cursor.image[0, 0, 3] == 255 and cursor.image[5, 2].tolist() == [0, 0, 0, 255]
