"""noVNC decodes vncd's Zlib, TightPNG, JPEG (21) and Open H.264: encodings that no viewer in
tests/interop decodes (TigerVNC 1.12's viewer has none of them; gvnccapture and vncdotool pick
their own), so without these tests only our own decoders would check them.

noVNC chooses its own encoding list, so the page's SetEncodings is narrowed to one encoding
(tests/browser/wire.py), and the recorded conversation proves that every pixel the page shows
came in that encoding. What the page shows is compared with ``xwd -root``: pixel for pixel for
the lossless encodings, by PSNR for the lossy ones. One Xvfb and one vncd serve the module; each
test opens its own page (a new connection).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs
import numpy as np
import pytest

from benchmarks.contents import mixed
from protocol import Rectangle
from protocol.encodings import Encoding, h264
from tests.interop.desktop import describe_difference
from tests.interop.vncd_process import VncdProcess, vncd_launcher, x11_source
from tests.interop.xpaint import paint_root
from tests.interop.xwd import xwd_root
from tests.protocol.roundtrip import psnr
from tests.requirements import unavailable
from tests.vncd._xvfb import private_xvfb

from .client import (
    open_client,
    screen_pixels,
    wait_for_pixels,
    wait_for_psnr,
    wait_for_state,
)
from .wire import FILL, JPEG, PNG, QUALITY_LEVELS, record_rfb, recording, tight_compression

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

#: The screen of the H.264 report (issue 7): noVNC showed its top half flat green.
WIDTH, HEIGHT = 1280, 800
#: The lossy bound: what a viewer must reach for the picture to count as shown.
LOSSY_PSNR = 30.0


@attrs.frozen
class Served:
    """The module's vncd, and what its display showed when the tests began."""

    server: VncdProcess  # the lossless refresh off: what noVNC shows is what it decoded
    refreshing: VncdProcess  # the same display with the lossless refresh on (the default)
    truth: np.ndarray  # what xwd saw once the scene was painted (RGB)


@pytest.fixture(scope="module")
def served(
    browser_requirements: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A private Xvfb showing a desktop with text windows and a photo (thousands of colours,
    sharp edges, smooth areas), served by vncd with H.264 on."""
    if not h264.CAN_ENCODE:
        unavailable("PyAV with libx264 is not installed (the h264 extra)", extra="h264")
    with (
        private_xvfb(WIDTH, HEIGHT) as display,
        vncd_launcher(tmp_path_factory.mktemp("encodings")) as start,
    ):
        # Nothing else runs on the display, so the truth stays true. (Neither xwd nor vncd's
        # X capture shows the pointer; noVNC draws its cursor outside the screen's canvas.)
        paint_root(display, np.ascontiguousarray(mixed()[:HEIGHT, :WIDTH, 2::-1]))
        truth = xwd_root(display)
        assert len(np.unique(truth.reshape(-1, 3), axis=0)) > 1000, "scene not varied enough"
        server = start(x11_source(display) + "[encodings]\nh264 = true\nlossless_refresh_ms = 0\n")
        yield Served(server, start(x11_source(display)), truth)


def show_with(
    page: Page,
    served: Served,
    encoding: int,
    drop: frozenset[int] = frozenset(),
    refreshing: bool = False,
) -> None:
    """Open the page, recording, with its encoding list narrowed to ``encoding`` (less
    ``drop``), and wait until it is connected (to the refreshing server if asked)."""
    record_rfb(page, first=encoding, drop=drop)
    open_client(page, (served.refreshing if refreshing else served.server).url())
    wait_for_state(page, "connected")


def assert_received_only(page: Page, encoding: int) -> list[Rectangle]:
    """The page asked for ``encoding`` first and got every pixel rectangle in it, covering the
    whole screen; returns those rectangles."""
    record = recording(page)
    assert record.encoding_lists, "the page sent no SetEncodings"
    assert all(asked[0] == encoding for asked in record.encoding_lists), record.encoding_lists
    assert set(record.encodings_used()) == {encoding}, record.encodings_used()
    assert record.covers(WIDTH, HEIGHT), "the rectangles did not paint the whole screen"
    return record.pixel_rectangles()


def test_zlib_pixel_exact(served: Served, page: Page):
    show_with(page, served, Encoding.ZLIB)
    pixels = wait_for_pixels(page, served.truth)
    assert np.array_equal(pixels, served.truth), describe_difference(pixels, served.truth)
    assert_received_only(page, Encoding.ZLIB)


def test_tightpng_pixel_exact(served: Served, page: Page):
    """Without a JPEG quality level TightPNG is lossless: fills and PNG images (palette and
    full colour), which noVNC hands to the browser's own PNG decoder."""
    show_with(page, served, Encoding.TIGHT_PNG, drop=QUALITY_LEVELS)
    pixels = wait_for_pixels(page, served.truth)
    assert np.array_equal(pixels, served.truth), describe_difference(pixels, served.truth)
    rectangles = assert_received_only(page, Encoding.TIGHT_PNG)
    kinds = {tight_compression(rectangle) for rectangle in rectangles}
    assert PNG in kinds and kinds <= {FILL, PNG}, kinds


def test_jpeg_within_the_lossy_bound(served: Served, page: Page):
    show_with(page, served, Encoding.JPEG)
    quality = wait_for_psnr(page, served.truth, LOSSY_PSNR)
    assert quality >= LOSSY_PSNR, f"PSNR {quality:.1f} dB"
    assert_received_only(page, Encoding.JPEG)


def test_h264_within_the_lossy_bound(served: Served, page: Page):
    """The whole screen, not only its last slice: noVNC 1.7 takes every slice NAL unit for a
    frame (see tests/protocol/test_h264.py), and a two-slice frame left its top half green."""
    show_with(page, served, Encoding.OPEN_H264)
    # Asked of the loaded page: WebCodecs exists only in a secure context such as 127.0.0.1.
    supported = page.evaluate(
        """async () => 'VideoDecoder' in window && (await VideoDecoder.isConfigSupported(
            {codec: 'avc1.42E01E', codedWidth: 1280, codedHeight: 800})).supported"""
    )
    if not supported:
        unavailable("this Chromium cannot decode H.264 with WebCodecs")
    quality = wait_for_psnr(page, served.truth, LOSSY_PSNR)
    pixels = screen_pixels(page)
    halves = [f"{psnr(pixels[r], served.truth[r]):.1f}" for r in np.array_split(range(HEIGHT), 2)]
    assert quality >= LOSSY_PSNR, f"PSNR {quality:.1f} dB; top and bottom halves {halves} dB"
    assert_received_only(page, Encoding.OPEN_H264)


def test_jpeg_areas_end_exact_after_the_lossless_refresh(served: Served, page: Page):
    """Tight with a quality level sends the photo as JPEG, then, once it stood still, again
    losslessly: noVNC ends showing the display pixel for pixel."""
    show_with(page, served, Encoding.TIGHT, refreshing=True)
    pixels = wait_for_pixels(page, served.truth)
    assert np.array_equal(pixels, served.truth), describe_difference(pixels, served.truth)
    rectangles = assert_received_only(page, Encoding.TIGHT)
    kinds = [tight_compression(rectangle) for rectangle in rectangles]
    first_jpeg = kinds.index(JPEG)
    assert any(kind not in (JPEG, FILL) for kind in kinds[first_jpeg:]), kinds
