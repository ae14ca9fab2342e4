"""TigerVNC's viewer through scrolls and window moves that vncd sends as CopyRect (rfbproto
7.7.2), and through JPEG areas that vncd sends again losslessly once they stand still.

Our own decoder agreeing with our encoder proves little: here a real viewer copies its own
pixels, and after every step (tests/interop/motion.py: lines printed in an xterm, a photo
window moved step by step or dragged faster than updates follow) its picture must equal
`xwd -root` of the served display pixel for pixel, while the tap shows that the moved pixels
came as CopyRect, not as pixels.
"""

from __future__ import annotations

import time
from pathlib import Path

import attrs
import numpy as np
import pytest

from protocol import Rectangle
from protocol.encodings import Encoding, is_lossy
from tests.requirements import require_programs

from .desktop import SIZE, ServedDesktop, describe_difference
from .motion import (
    Step,
    check_drags_copied,
    check_moves_copied,
    check_scrolls_copied,
    drag_steps,
    move_steps,
    painted_window,
    photo_pixels,
    scroll_steps,
    settled,
    show,
)
from .rfbtap import RfbTap, rfb_tap
from .tigervnc import TigerViewer, tigervnc_viewer

pytestmark = pytest.mark.interop

#: Lossless encodings that TigerVNC's viewer decodes alongside CopyRect (it always asks for
#: CopyRect).
ZRLE = ("-PreferredEncoding=ZRLE",)
TIGHT_LOSSLESS = ("-PreferredEncoding=Tight", "-NoJPEG")
#: TigerVNC's default JPEG quality.
TIGHT_JPEG = ("-PreferredEncoding=Tight", "-QualityLevel=8")
#: How long JPEG areas may take to become exact once the display stands still: vncd sends
#: them again 50 ms after they were sent, which a loaded machine may stretch.
REFRESH_SECONDS = 5.0


@pytest.fixture(scope="module", autouse=True)
def tigervnc_installed() -> None:
    """TigerVNC's viewer (Debian: tigervnc-viewer) and xwininfo, which finds its window,
    checked before the served desktop starts."""
    require_programs("xtigervncviewer", "xwininfo")


@attrs.frozen
class RecordedTiger:
    """TigerVNC's viewer behind the tap: what ``motion.run_steps`` drives."""

    viewer: TigerViewer
    tap: RfbTap

    def received(self) -> list[Rectangle]:
        recording = self.tap.only_recording()
        assert recording.error is None, recording.error
        return list(recording.rectangles)

    def wait_until_shown(self, truth: np.ndarray, timeout: float) -> np.ndarray | None:
        return self.viewer.wait_for(lambda picture: np.array_equal(picture, truth), timeout)


@pytest.mark.parametrize("options", [ZRLE, TIGHT_LOSSLESS], ids=["zrle", "tight"])
def test_xterm_scrolls_arrive_as_copies(desktop: ServedDesktop, tmp_path: Path, options):
    with rfb_tap(desktop.port) as tap, tigervnc_viewer(tap.port, SIZE, *options) as viewer:
        steps = scroll_steps(desktop.display, RecordedTiger(viewer, tap), tmp_path)
    check_scrolls_copied(steps)


@pytest.mark.parametrize("options", [ZRLE, TIGHT_LOSSLESS], ids=["zrle", "tight"])
def test_window_moves_arrive_as_copies(desktop: ServedDesktop, options):
    with rfb_tap(desktop.port) as tap, tigervnc_viewer(tap.port, SIZE, *options) as viewer:
        steps = move_steps(desktop.display, RecordedTiger(viewer, tap))
    check_moves_copied(steps)


def test_window_drags_end_exact(desktop: ServedDesktop):
    """Moves come faster than updates: vncd copies while the viewer is behind."""
    with rfb_tap(desktop.port) as tap, tigervnc_viewer(tap.port, SIZE, *ZRLE) as viewer:
        steps = drag_steps(desktop.display, RecordedTiger(viewer, tap))
    check_drags_copied(steps)


def test_jpeg_areas_become_exact_once_still(desktop: ServedDesktop):
    """A photo appears and stays: TigerVNC is sent it as JPEG, then again losslessly, and
    within a few seconds its picture is exact."""
    with rfb_tap(desktop.port) as tap, tigervnc_viewer(tap.port, SIZE, *TIGHT_JPEG) as viewer:
        tiger = RecordedTiger(viewer, tap)
        before = settled(desktop.display, None)
        show(tiger, before, "before the photo")  # the JPEG areas of the desktop refreshed
        mark = len(tiger.received())
        started = time.monotonic()
        with painted_window(desktop.display, photo_pixels(400, 300), 300, 330):
            truth = settled(desktop.display, before)
            picture = tiger.wait_until_shown(truth, REFRESH_SECONDS)
            waited = time.monotonic() - started
            step = Step(before, truth, tuple(tiger.received()[mark:]))
    assert picture is not None and np.array_equal(picture, truth), (
        f"not exact {waited:.1f} s after the photo appeared: {describe_difference(picture, truth)}"
    )
    rectangles = step.pixel_rectangles()
    assert {r.encoding for r in rectangles} == {Encoding.TIGHT}, step.describe()
    jpeg = np.array([is_lossy(r) for r in rectangles], dtype=bool)
    assert jpeg.any(), f"no JPEG for a viewer that allows it: {step.describe()}"
    painter = np.full(SIZE[::-1], -1)
    for index, r in enumerate(rectangles):
        painter[r.y : r.y + r.height, r.x : r.x + r.width] = index
    last = np.unique(painter[painter >= 0])
    assert not jpeg[last].any(), f"JPEG never sent again losslessly: {step.describe()}"
