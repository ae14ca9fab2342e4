"""noVNC through a changing screen, with vncd's flow control proven by the recorded stream.

noVNC 1.7 lists the Fence and ContinuousUpdates pseudo-encodings. Once vncd offers continuous
updates (EndOfContinuousUpdates) it enables them and never requests an update again, and it
answers each of vncd's fences; it sends no fences of its own. So if vncd paced those updates
wrongly, the page's canvas would fall behind the display: the canvas must equal ``xwd`` of
the display after each change and after a burst of changes, and the page's recorded RFB
conversation (tests/browser/wire.py) must show the extensions at work.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from protocol.encodings import Encoding
from tests.interop.desktop import describe_difference
from tests.interop.flow import check_flow_control
from tests.interop.vncd_process import x11_source
from tests.interop.xpaint import paint_root, varied_scene
from tests.interop.xwd import xwd_root

from .client import open_client, wait_for_pixels, wait_for_state
from .wire import QUALITY_LEVELS, record_rfb, recording

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

SIZE = (1024, 768)  # the xvfb fixture's
#: Changes waited for one at a time, then changes painted back to back.
STEPS = 4
BURST = 6


def assert_page_shows(page: Page, display: str, step: str) -> None:
    """Wait until the canvas shows exactly what the display shows."""
    truth = xwd_root(display)
    pixels = wait_for_pixels(page, truth)
    if not np.array_equal(pixels, truth):
        pytest.fail(f"{step}: {describe_difference(pixels, truth)}")


def test_novnc_follows_changes_with_continuous_updates_and_fences(xvfb, vncd, page: Page):
    seeds = itertools.count(1)
    paint_root(xvfb, varied_scene(*SIZE, seed=next(seeds)))
    server = vncd(x11_source(xvfb))
    # Tight without a JPEG quality level: noVNC's own first choice among vncd's encodings,
    # made lossless, so every pixel must match.
    record_rfb(page, first=Encoding.TIGHT, drop=QUALITY_LEVELS)
    open_client(page, server.url())
    wait_for_state(page, "connected")
    assert_page_shows(page, xvfb, "whole screen")
    for step in range(STEPS):
        paint_root(xvfb, varied_scene(*SIZE, seed=next(seeds)))
        assert_page_shows(page, xvfb, f"change {step + 1}")
    started = time.monotonic()
    for _ in range(BURST):
        paint_root(xvfb, varied_scene(*SIZE, seed=next(seeds)))
    assert_page_shows(page, xvfb, f"after {BURST} changes in {time.monotonic() - started:.2f} s")
    record = recording(page)
    assert {r.encoding for r in record.pixel_rectangles()} == {Encoding.TIGHT}
    # Each single change, and the burst, needed at least one update.
    check_flow_control(record, changes=STEPS + 1)
