"""noVNC through the scrolls, window moves and drags that vncd sends as CopyRect (rfbproto
7.7.2): the scenarios of tests/interop/test_copyrect.py (tests/interop/motion.py), with the
page's canvas compared with `xwd -root` pixel for pixel after every step.

The page's SetEncodings is narrowed to CopyRect and noVNC's pseudo-encodings without a JPEG
quality level: tests/browser/wire.py keeps a single encoding of noVNC's list, here CopyRect,
so vncd sends the pixels that did not move in Raw, which every viewer takes. Raw is lossless,
and its bytes are its area.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import numpy as np
import pytest

from protocol import Rectangle
from protocol.encodings import Encoding
from tests.interop.desktop import SIZE
from tests.interop.motion import (
    check_drags_copied,
    check_moves_copied,
    check_scrolls_copied,
    drag_steps,
    move_steps,
    scroll_steps,
)
from tests.interop.vncd_process import VncdProcess, vncd_launcher, x11_source
from tests.interop.xclients import busy_desktop
from tests.vncd._xvfb import private_xvfb

from .client import open_client, wait_for_pixels, wait_for_state
from .wire import QUALITY_LEVELS, record_rfb, recording

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@attrs.frozen
class Served:
    """The module's display and the vncd serving it."""

    display: str
    server: VncdProcess


@pytest.fixture(scope="module")
def served(
    browser_requirements: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The interop tests' busy desktop on a private Xvfb, served by vncd on a port it picks
    (Chromium refuses some ports that a scan from 5900 up may find)."""
    with (
        private_xvfb(*SIZE) as display,
        busy_desktop(display),
        vncd_launcher(tmp_path_factory.mktemp("copyrect")) as start,
    ):
        yield Served(display, start(x11_source(display)))


@attrs.frozen
class RecordedPage:
    """noVNC on a page whose conversation is recorded: what ``motion.run_steps`` drives."""

    page: Page

    def received(self) -> list[Rectangle]:
        return recording(self.page).rectangles

    def wait_until_shown(self, truth: np.ndarray, timeout: float) -> np.ndarray:
        return wait_for_pixels(self.page, truth, timeout)


def connect(page: Page, served: Served) -> RecordedPage:
    """Open the page, recording, asking for CopyRect and no JPEG; once it is connected."""
    record_rfb(page, first=Encoding.COPY_RECT, drop=QUALITY_LEVELS)
    open_client(page, served.server.url())
    wait_for_state(page, "connected")
    return RecordedPage(page)


def check_asked_for_copies(page: Page) -> None:
    """The page asked for CopyRect first, and was sent its pixels in Raw."""
    record = recording(page)
    assert record.encoding_lists, "the page sent no SetEncodings"
    assert all(asked[0] == Encoding.COPY_RECT for asked in record.encoding_lists)
    assert set(record.encodings_used()) == {Encoding.RAW}, record.encodings_used()


def test_xterm_scrolls_arrive_as_copies(served: Served, page: Page, tmp_path: Path):
    steps = scroll_steps(served.display, connect(page, served), tmp_path)
    check_asked_for_copies(page)
    check_scrolls_copied(steps)


def test_window_moves_arrive_as_copies(served: Served, page: Page):
    steps = move_steps(served.display, connect(page, served))
    check_asked_for_copies(page)
    check_moves_copied(steps)


def test_window_drags_end_exact(served: Served, page: Page):
    """Moves come faster than updates: vncd copies while the page is behind."""
    steps = drag_steps(served.display, connect(page, served))
    check_asked_for_copies(page)
    check_drags_copied(steps)
