"""The remote pointer in the web client: noVNC draws no pointer unless the server sends its
shape, so without one a browser user sees none at all. vncd sends the X pointer's shape
(noVNC asks for the VMware cursor first) and noVNC makes it the canvas's CSS cursor; moving
the mouse over the xterm in the remote picture changes it to the xterm's I-beam."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from protocol.encodings.cursor import Cursor
from tests.interop.vncd_process import x11_source
from tests.interop.xclients import busy_desktop
from tests.interop.xpointer import displayed_cursor, move_pointer, same_shape

from .client import CANVAS, open_client, screen_point, wait_for_state

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

#: noVNC sets the canvas's cursor to `url(data:image/png;base64,…) HOTX HOTY, default`.
XVFB_STARTED = re.compile(r"Xvfb started on :(\d+)")
CSS_CURSOR = re.compile(r'url\("?data:image/png;base64,([^")]+)"?\)\s*(\d+)\s+(\d+)')


def page_cursor(page: Page) -> Cursor | None:
    """The pointer shape the page shows over the remote screen (None: no shape)."""
    css = page.evaluate(f"() => document.querySelector({CANVAS!r}).style.cursor")
    match = CSS_CURSOR.search(css)
    if match is None:
        return None
    png, hot_x, hot_y = base64.b64decode(match[1]), int(match[2]), int(match[3])
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    return Cursor(rgba[..., [2, 1, 0, 3]], hot_x, hot_y)


def wait_for_shape(page: Page, display: str, timeout: float = 10.0) -> Cursor | None:
    """Poll until the page shows the shape the display shows; the page's shape either way."""
    deadline = time.monotonic() + timeout
    while True:
        shown = page_cursor(page)
        if shown is not None and same_shape(shown, displayed_cursor(display)):
            return shown
        if time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


def assert_pointer_follows(page: Page, url: str, display: str) -> None:
    """The page shows the display's pointer, and the xterm's once its mouse is over the
    xterm at (200, 150) of the remote screen."""
    move_pointer(display, 700, 500)  # on the root window
    open_client(page, url)
    wait_for_state(page, "connected")
    root = wait_for_shape(page, display)
    assert root is not None, "the page shows no remote pointer"
    assert same_shape(root, displayed_cursor(display))

    page.mouse.move(*screen_point(page, 200, 150))  # over the xterm, through noVNC
    over_xterm = wait_for_shape(page, display)
    assert over_xterm is not None and not same_shape(over_xterm, root), (
        "the page's pointer did not change over the xterm"
    )
    assert same_shape(over_xterm, displayed_cursor(display))


def test_the_page_shows_the_remote_pointer_and_its_changes(xvfb, vncd, page: Page):
    with busy_desktop(xvfb):  # an xterm at (40, 30)
        server = vncd(x11_source(xvfb))
        assert_pointer_follows(page, server.url(), xvfb)


def test_the_xvfb_source_shows_its_pointer_in_the_page(vncd, page: Page):
    """vncd's own Xvfb with an xterm as its session (no window manager: at the top left)."""
    server = vncd(
        '[source]\nkind = "xvfb"\ngeometry = "800x600"\ncommand = "xterm -geometry 60x20+0+0"\n'
    )
    assert server.log_path is not None
    started = XVFB_STARTED.search(server.log_path.read_text())
    assert started is not None, "vncd did not log its Xvfb's display"
    display = f":{started[1]}"
    deadline = time.monotonic() + 10
    while not xterm_mapped(display):  # the session command takes a moment
        assert time.monotonic() < deadline, "the xterm did not appear"
        time.sleep(0.1)
    assert_pointer_follows(page, server.url(), display)


def xterm_mapped(display: str) -> bool:
    tree = subprocess.run(
        ["xwininfo", "-root", "-children", "-display", display],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return '"xterm"' in tree
