"""The X pointer on the viewers: its shape (Cursor With Alpha, rfbproto "Cursor With Alpha
Pseudo-encoding"; TigerVNC's viewer takes it too), its position (PointerPos) when something
else moves it, and the pointer drawn into the pixels of a viewer that lists no cursor shape.

The truth is what the served X server says: XFixes GetCursorImage (the displayed shape) and
`xwd -root` (the pixels, which never hold the pointer).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
import trio

from protocol import PointerEvent
from protocol.encodings import Encoding
from tests.requirements import require_programs
from tests.vncd.viewer import Viewer

from .desktop import ServedDesktop
from .tigervnc import tigervnc_viewer
from .xpointer import displayed_cursor, move_pointer, same_shape

pytestmark = pytest.mark.interop

#: On the root window (the X cursor) and inside busy_desktop's xterm (its I-beam).
ON_ROOT = (900, 600)
ON_XTERM = (200, 150)


def rgb(viewer: Viewer) -> np.ndarray:
    return viewer.framebuffer.pixels[..., 2::-1]


async def connect(desktop: ServedDesktop, *encodings: int) -> Viewer:
    viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", desktop.port))
    await viewer.handshake(encodings=encodings)
    await viewer.full_update()
    return viewer


async def keep_updating(viewer: Viewer, until: Callable[[], bool], timeout: float = 10.0) -> None:
    """Ask for updates and apply them until ``until()`` holds."""
    with trio.fail_after(timeout):
        while not until():
            await viewer.request()
            with trio.move_on_after(0.2):
                await viewer.next_update()


async def test_the_shape_follows_the_pointer_into_an_xterm(desktop: ServedDesktop) -> None:
    move_pointer(desktop.display, *ON_ROOT)
    viewer = await connect(desktop, Encoding.RAW, Encoding.CURSOR_WITH_ALPHA)
    root_cursor = displayed_cursor(desktop.display)
    await keep_updating(viewer, lambda: viewer.framebuffer.cursor == root_cursor)

    move_pointer(desktop.display, *ON_XTERM)
    xterm_cursor = displayed_cursor(desktop.display)
    assert xterm_cursor != root_cursor, "the xterm shows the same pointer as the root"
    await keep_updating(viewer, lambda: viewer.framebuffer.cursor == xterm_cursor)
    # No pointer in its pixels (the xterm redraws its text cursor as it gets the focus).
    await keep_updating(viewer, lambda: np.array_equal(rgb(viewer), desktop.truth()))
    move_pointer(desktop.display, *ON_ROOT)


async def test_position_comes_when_something_else_moves_the_pointer(
    desktop: ServedDesktop,
) -> None:
    encodings = (Encoding.RAW, Encoding.CURSOR_WITH_ALPHA, Encoding.POINTER_POS)
    watcher, mover = await connect(desktop, *encodings), await connect(desktop, *encodings)

    move_pointer(desktop.display, 700, 500)  # another X client moves it
    await keep_updating(watcher, lambda: watcher.framebuffer.pointer == (700, 500))

    await mover.send(PointerEvent(0, 650, 450))  # a viewer moves it
    await keep_updating(watcher, lambda: watcher.framebuffer.pointer == (650, 450))
    # The mover knows where it put the pointer: it is not told back.
    await mover.request()
    with trio.move_on_after(0.5):
        update = await mover.next_update()
        assert Encoding.POINTER_POS not in [r.encoding for r in update.rectangles], update
    move_pointer(desktop.display, *ON_ROOT)


async def test_a_viewer_without_cursor_shapes_sees_the_pointer_drawn(
    desktop: ServedDesktop,
) -> None:
    move_pointer(desktop.display, *ON_XTERM)
    viewer = await connect(desktop, Encoding.RAW)
    cursor = displayed_cursor(desktop.display)
    x, y = ON_XTERM[0] - cursor.hotspot_x, ON_XTERM[1] - cursor.hotspot_y
    expected = desktop.truth()
    under = (slice(y, y + cursor.height), slice(x, x + cursor.width))
    alpha = cursor.image[..., 3:4].astype(np.uint16)
    colour = cursor.image[..., 2::-1].astype(np.uint16)
    blended = (colour * alpha + expected[under] * (255 - alpha) + 127) // 255
    expected[under] = blended.astype(np.uint8)
    await keep_updating(viewer, lambda: np.array_equal(rgb(viewer), expected))

    move_pointer(desktop.display, *ON_ROOT)  # the drawn pointer leaves no trace there
    truth = desktop.truth()
    await keep_updating(viewer, lambda: np.array_equal(rgb(viewer)[under], truth[under]))


def test_tigervnc_shows_the_remote_pointer_shape(desktop: ServedDesktop) -> None:
    """TigerVNC's viewer sets the received shape as its window's cursor: with its own pointer
    over the xterm in the remote picture, its display shows the xterm's I-beam."""
    require_programs("xtigervncviewer")
    move_pointer(desktop.display, *ON_ROOT)
    with tigervnc_viewer(desktop.port, (1024, 768)) as viewer:
        assert viewer.wait_for(lambda picture: True) is not None, "the viewer never showed"
        move_pointer(viewer.display, *ON_XTERM)  # the viewer forwards it to the desktop
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            expected, shown = displayed_cursor(desktop.display), displayed_cursor(viewer.display)
            if same_shape(shown, expected):
                break
            time.sleep(0.1)
        else:
            pytest.fail(
                f"TigerVNC shows a {shown.width}x{shown.height} pointer, the desktop a "
                f"{expected.width}x{expected.height} one"
            )
    move_pointer(desktop.display, *ON_ROOT)
