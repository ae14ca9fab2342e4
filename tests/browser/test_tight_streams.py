"""Tight's zlib streams as noVNC inflates them: its own Inflator (pako) in Node, fed the
zlib data of what our encoder sends, rectangle by rectangle.

pako cannot continue a stream that was reset while the previous one was unfinished; our
decoder and TigerVNC's viewer can. A compression level changed mid-session, or a viewer going
back to its own streams after shared (independent) rectangles, once broke noVNC this way.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from protocol import BGRX
from protocol.encodings import EncodeSettings, tight
from protocol.encodings._tight_wire import compact_length
from tests.requirements import require_programs

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).with_name("tight_inflate.mjs")
_EXPLICIT_FILTER, _PALETTE_FILTER = 0x4, 1


def zlib_data(rectangle, bytes_per_pixel: int = 3) -> list | None:
    """[reset bits, stream, zlib data as hex, inflated size] of a Tight rectangle with zlib
    data (rfbproto 7.7.6), or None (fill, JPEG, or data too short to compress)."""
    payload = rectangle.payload
    control = payload[0]
    kind, at = control >> 4, 1
    if kind & 0x8:
        return None
    size = rectangle.width * rectangle.height * bytes_per_pixel
    if kind & _EXPLICIT_FILTER:
        if payload[at] == _PALETTE_FILTER:
            colours = payload[at + 1] + 1
            at += 2 + colours * bytes_per_pixel
            width = (rectangle.width + 7) // 8 if colours == 2 else rectangle.width
            size = width * rectangle.height
        else:
            at += 1
    if size < 12:
        return None
    [used] = [n for n in (1, 2, 3) if compact_length(len(payload) - at - n) == payload[at : at + n]]
    return [control & 0x0F, kind & 0x3, payload[at + used :].hex(), size]


def novnc_inflates(rectangles: list) -> str:
    require_programs("node")
    data = [entry for r in rectangles if (entry := zlib_data(r)) is not None]
    assert data, "no zlib data to check"
    done = subprocess.run(
        ["node", str(SCRIPT)], input=json.dumps(data), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def frames(count: int) -> list[np.ndarray]:
    """Few-colour pictures (a palette, one stream, matches reaching into earlier
    rectangles: what pako gets wrong after a reset) that repeat with small changes."""
    rng = np.random.default_rng(9)
    picture = (rng.integers(0, 6, (48, 96, 1), np.uint8) * 40).repeat(4, axis=2)
    pictures = []
    for _ in range(count):
        picture = picture.copy()
        picture[rng.integers(0, 48), :] = 200
        pictures.append(picture)
    return pictures


def test_a_compression_level_change_mid_session():
    encoder = tight.TightEncoder()
    rectangles = []
    for index, pixels in enumerate(frames(6)):
        settings = EncodeSettings(compress_level=1 if index < 3 else 9)
        rectangles += encoder.encode(pixels, 0, 0, BGRX, settings)
    assert novnc_inflates(rectangles) == "ok"


def test_shared_rectangles_after_private_ones():
    """What a viewer gets when another viewer with its settings arrives: its own streams,
    then the shareable variant (a reset in every rectangle), which it keeps (vncd's
    UpdateBuilder never goes back: see the next test)."""
    private, shared = tight.TightEncoder(), tight.TightEncoder(shareable=True)
    rectangles = []
    for index, pixels in enumerate(frames(8)):
        encoder = private if index < 3 else shared
        rectangles += encoder.encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert novnc_inflates(rectangles) == "ok"


def test_noVNC_cannot_continue_a_stream_after_resetting_one_in_use():
    """Why: back to private streams (reset on their next use) after shared rectangles is
    valid Tight, which our decoder and TigerVNC's viewer take, but noVNC 1.7 fails on the
    first rectangle that continues the new stream. If this starts passing, noVNC fixed it."""
    private, shared = tight.TightEncoder(), tight.TightEncoder(shareable=True)
    rectangles = []
    for index, pixels in enumerate(frames(8)):
        if index == 5:
            private.forget_client()
        encoder = shared if 2 <= index < 5 else private
        rectangles += encoder.encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert novnc_inflates(rectangles).startswith("fail 6:")
