"""TigerVNC's viewer through a changing screen, with vncd's flow control proven on the wire.

TigerVNC's viewer lists the ContinuousUpdates and Fence pseudo-encodings: once vncd offers
continuous updates (EndOfContinuousUpdates) it enables them and stops requesting updates, and
it answers every fence vncd sends after an update. If vncd paced those updates wrongly (never
sending, waiting for requests that no longer come, or leaving damage behind), the viewer's
picture would fall behind the served display; if it did not speak the extensions, the tap
would not see them. So the viewer must show each change pixel for pixel (compared with
``xwd`` of the served display), also after a burst of changes faster than it is watched, and
the recorded conversation must show the extensions at work.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from tests.requirements import require_programs

from .desktop import SIZE, ServedDesktop, describe_difference
from .flow import check_flow_control
from .rfbtap import rfb_tap
from .tigervnc import TigerViewer, tigervnc_viewer

pytestmark = pytest.mark.interop

#: busy_desktop painted seed 1; every change shows new noise.
_SEEDS = itertools.count(100)
#: Changes waited for one at a time, then changes painted back to back.
STEPS = 4
BURST = 6


@pytest.fixture(scope="module", autouse=True)
def tigervnc_installed() -> None:
    """TigerVNC's viewer (Debian: tigervnc-viewer), checked before the served desktop starts."""
    require_programs("xtigervncviewer")


def assert_shows_truth(viewer: TigerViewer, desktop: ServedDesktop, step: str) -> None:
    """Wait until the viewer's window shows exactly what the served display shows."""
    truth = desktop.truth()
    picture = viewer.wait_for(lambda picture: np.array_equal(picture, truth))
    if picture is None or not np.array_equal(picture, truth):
        pytest.fail(f"{step}: {describe_difference(picture, truth)}")


def test_tigervnc_follows_changes_with_continuous_updates_and_fences(desktop: ServedDesktop):
    # ZRLE: lossless, so every pixel must match (TigerVNC's default, Tight, may send JPEG).
    with (
        rfb_tap(desktop.port) as tap,
        tigervnc_viewer(tap.port, SIZE, "-PreferredEncoding=ZRLE") as viewer,
    ):
        assert_shows_truth(viewer, desktop, "whole screen")
        for step in range(STEPS):
            before = desktop.truth()
            desktop.change(seed=next(_SEEDS))
            assert not np.array_equal(desktop.truth(), before), "the change changed nothing"
            assert_shows_truth(viewer, desktop, f"change {step + 1}")
        # Back to back: vncd coalesces what the viewer has not taken yet; the latest must win.
        started = time.monotonic()
        for _ in range(BURST):
            desktop.change(seed=next(_SEEDS))
        burst = f"after a burst of {BURST} changes in {time.monotonic() - started:.2f} s"
        assert_shows_truth(viewer, desktop, burst)
    # Read once the tap has closed: the recording no longer grows. Each single change, and
    # the burst, needed at least one update.
    check_flow_control(tap.only_recording(), changes=STEPS + 1)
