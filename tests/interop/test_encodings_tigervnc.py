"""TigerVNC's viewer against vncd, one encoding and pixel format at a time.

What the viewer shows must equal the served display (`xwd -root`) pixel for pixel, first for
the whole screen and then after part of it changed (so the zlib streams of ZRLE and Tight are
checked across updates), and the tap must show that the viewer really received that
encoding. Low-colour formats are compared at the precision of their wire values; Tight with
JPEG is compared by PSNR where it sent JPEG and exactly everywhere else.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

from protocol import BGRX, PixelFormat
from protocol.encodings import ENCODERS, Encoding, is_lossy
from tests.protocol.roundtrip import psnr
from tests.requirements import require_programs

from .desktop import SIZE, ServedDesktop, as_seen, describe_difference, served_desktop
from .rfbtap import Recording, RfbTap, rfb_tap
from .tigervnc import tigervnc_viewer

pytestmark = pytest.mark.interop

#: TigerVNC's -QualityLevel=8: vncd's JPEG areas of the served scene measured ~38 dB.
JPEG_MIN_PSNR = 34.0
_SEEDS = itertools.count(2)  # busy_desktop painted seed 1; every change shows new noise


@pytest.fixture(scope="module")
def desktop(
    tigervnc_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedDesktop]:
    """The served desktop with the lossless refresh off, so that JPEG areas keep what the
    viewer decoded (tests/interop/test_copyrect.py checks the refresh)."""
    config = "[encodings]\nlossless_refresh_ms = 0\n"
    with served_desktop(tmp_path_factory.mktemp("served"), config) as served:
        yield served


@pytest.fixture(scope="module", autouse=True)
def tigervnc_installed() -> None:
    """TigerVNC's viewer (Debian: tigervnc-viewer), checked before the served desktop starts."""
    require_programs("xtigervncviewer")


def viewer_format(tap: RfbTap) -> PixelFormat:
    """The pixel format the viewer asked for last (the server's own until it asks)."""
    formats = [f for recording in tap.recordings for f in recording.pixel_formats]
    return formats[-1] if formats else BGRX


def shows(tap: RfbTap, picture: np.ndarray, truth: np.ndarray) -> bool:
    """Whether the viewer's picture says the same wire values as the truth."""
    pixel_format = viewer_format(tap)
    return np.array_equal(as_seen(picture, pixel_format), as_seen(truth, pixel_format))


def first_pixel_encoding(encodings: tuple[int, ...]) -> int:
    """The viewer's most preferred encoding that carries pixels (the list mixes in
    pseudo-encodings, which TigerVNC puts first)."""
    return next(number for number in encodings if number in ENCODERS)


def tight_jpeg(recording: Recording) -> np.ndarray:
    """Per pixel rectangle: whether it is a Tight rectangle compressed with JPEG."""
    return np.array(
        [r.encoding == Encoding.TIGHT and is_lossy(r) for r in recording.pixel_rectangles()],
        dtype=bool,
    )


def check_received(tap: RfbTap, encoding: int) -> Recording:
    recording = tap.only_recording()
    assert recording.error is None, recording.error
    asked = recording.encoding_lists[-1]
    assert first_pixel_encoding(asked) == encoding, f"TigerVNC asked for {asked}"
    assert set(recording.encodings_used()) == {encoding}, recording.encodings_used()
    return recording


LOSSLESS = [
    pytest.param(Encoding.RAW, 32, ["-PreferredEncoding=Raw"], id="raw"),
    pytest.param(Encoding.RRE, 32, ["-PreferredEncoding=RRE"], id="rre"),
    pytest.param(Encoding.HEXTILE, 32, ["-PreferredEncoding=Hextile"], id="hextile"),
    pytest.param(Encoding.ZRLE, 32, ["-PreferredEncoding=ZRLE"], id="zrle"),
    pytest.param(
        Encoding.ZRLE, 32, ["-PreferredEncoding=ZRLE", "-CompressLevel=9"], id="zrle-level9"
    ),
    pytest.param(Encoding.TIGHT, 32, ["-PreferredEncoding=Tight", "-NoJPEG"], id="tight"),
    pytest.param(
        Encoding.TIGHT,
        32,
        ["-PreferredEncoding=Tight", "-NoJPEG", "-CompressLevel=0"],
        id="tight-level0",
    ),
    pytest.param(
        Encoding.TIGHT,
        32,
        ["-PreferredEncoding=Tight", "-NoJPEG", "-CompressLevel=9"],
        id="tight-level9",
    ),
    # -FullColor=0: 8 bits per pixel; -LowColorLevel 0, 1, 2 = 8, 64, 256 colours.
    pytest.param(
        Encoding.RAW, 8, ["-PreferredEncoding=Raw", "-FullColor=0", "-LowColorLevel=1"], id="raw-8"
    ),
    pytest.param(
        Encoding.RRE, 8, ["-PreferredEncoding=RRE", "-FullColor=0", "-LowColorLevel=2"], id="rre-8"
    ),
    pytest.param(
        Encoding.HEXTILE,
        8,
        ["-PreferredEncoding=Hextile", "-FullColor=0", "-LowColorLevel=0"],
        id="hextile-8",
    ),
    pytest.param(
        Encoding.ZRLE,
        8,
        ["-PreferredEncoding=ZRLE", "-FullColor=0", "-LowColorLevel=2"],
        id="zrle-8",
    ),
    pytest.param(
        Encoding.TIGHT,
        8,
        ["-PreferredEncoding=Tight", "-NoJPEG", "-FullColor=0", "-LowColorLevel=1"],
        id="tight-8",
    ),
]


@pytest.mark.parametrize(("encoding", "bits_per_pixel", "options"), LOSSLESS)
def test_lossless_encoding_is_pixel_exact(desktop, encoding, bits_per_pixel, options):
    with rfb_tap(desktop.port) as tap, tigervnc_viewer(tap.port, SIZE, *options) as viewer:
        previous = None
        for step in ("whole screen", "after a change"):
            if previous is not None:
                desktop.change(seed=next(_SEEDS))
            truth = desktop.truth()
            assert previous is None or not np.array_equal(truth, previous), "nothing changed"
            previous = truth
            picture = viewer.wait_for(lambda picture, truth=truth: shows(tap, picture, truth))
            if picture is None or not shows(tap, picture, truth):
                pixel_format = viewer_format(tap)
                seen = None if picture is None else as_seen(picture, pixel_format)
                pytest.fail(f"{step}: {describe_difference(seen, as_seen(truth, pixel_format))}")
        recording = check_received(tap, encoding)
    assert viewer_format(tap).bits_per_pixel == bits_per_pixel
    if encoding == Encoding.TIGHT:
        assert not tight_jpeg(recording).any(), "Tight sent JPEG to a viewer that said -NoJPEG"


def test_tight_jpeg_is_close_where_jpeg_and_exact_elsewhere(desktop):
    options = ["-PreferredEncoding=Tight", "-QualityLevel=8"]
    with rfb_tap(desktop.port) as tap, tigervnc_viewer(tap.port, SIZE, *options) as viewer:
        truth = desktop.truth()
        shown: list[np.ndarray] = []

        def settled(picture: np.ndarray) -> bool:
            """Every pixel received, and the picture the same as at the last look."""
            received = bool(tap.recordings) and tap.recordings[0].covers(*SIZE)
            steady = bool(shown) and np.array_equal(shown[-1], picture)
            shown.append(picture)
            return received and steady

        picture = viewer.wait_for(settled)
        if picture is None or not settled(picture):
            pytest.fail("the viewer's picture never settled")
        recording = check_received(tap, Encoding.TIGHT)
    assert Encoding.JPEG_QUALITY_LEVEL_8 in recording.encoding_lists[-1]
    jpeg = tight_jpeg(recording)[recording.last_painter(*SIZE)]
    assert jpeg.any(), "Tight sent no JPEG to a viewer that allows it"
    assert not jpeg.all(), "Tight sent even the flat areas as JPEG"
    np.testing.assert_array_equal(picture[~jpeg], truth[~jpeg])
    assert psnr(picture[jpeg], truth[jpeg]) >= JPEG_MIN_PSNR
