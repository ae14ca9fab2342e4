"""is_lossy: judged on the rectangles our encoders really produce, against what a client
decoding them sees (a rectangle is lossy exactly when its area does not come out exact)."""

from __future__ import annotations

import numpy as np
import pytest

from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, quantise
from protocol.encodings import (
    ENCODERS,
    EncodeSettings,
    Encoding,
    h264,
    is_lossy,
    make_decoder,
    make_encoder,
)

from .strategies import smooth


def desktop() -> np.ndarray:
    """A flat background, a window of two-colour text and a photo: every kind of block."""
    rng = np.random.default_rng(3)
    pixels = np.zeros((160, 256, 4), np.uint8)
    pixels[:] = (165, 110, 58, 0)
    text = pixels[16:80, 16:240]
    text[:] = 255
    text[rng.random(text.shape[:2]) < 0.2] = (20, 20, 20, 0)
    photo = smooth(64, 128)
    photo[..., :3] += rng.integers(0, 12, (64, 128, 3), np.uint8)  # noise: a photo's texture
    pixels[88:152, 64:192] = photo
    return pixels


LOSSY = {Encoding.JPEG, Encoding.OPEN_H264}
#: (encoding, settings, what is_lossy says of its rectangles): every encoder by default
#: (Tight's family without a quality is lossless), and Tight's family with JPEG for the
#: photo and exact blocks for the rest.
ROWS = [
    pytest.param(number, EncodeSettings(), {number in LOSSY}, id=Encoding(number).name)
    for number in sorted(ENCODERS)
    if number != Encoding.OPEN_H264 or h264.CAN_DECODE
] + [
    pytest.param(Encoding.TIGHT, EncodeSettings(quality=8), {True, False}, id="TIGHT-q8"),
    pytest.param(Encoding.TIGHT_PNG, EncodeSettings(quality=8), {True, False}, id="PNG-q8"),
    pytest.param(Encoding.TIGHT, EncodeSettings(quality=0), {True, False}, id="TIGHT-q0"),
]


@pytest.mark.parametrize(("encoding", "settings", "answers"), ROWS)
def test_lossy_exactly_where_the_client_sees_other_pixels(
    encoding: int, settings: EncodeSettings, answers: set[bool]
) -> None:
    pixels = desktop()
    truth = quantise(pixels, BGRX)
    framebuffer = Framebuffer.blank(256, 160)
    decoder = make_decoder(encoding)
    rectangles = make_encoder(encoding).encode(pixels, 0, 0, BGRX, settings)
    assert rectangles
    for rectangle in rectangles:
        decoder.decode(rectangle, BGRX, framebuffer)
        area = np.s_[
            rectangle.y : rectangle.y + rectangle.height,
            rectangle.x : rectangle.x + rectangle.width,
        ]
        exact = np.array_equal(framebuffer.pixels[area], truth[area])
        assert is_lossy(rectangle) is not exact, rectangle.payload[:1]
    assert {is_lossy(rectangle) for rectangle in rectangles} == answers


def test_tight_family_judges_by_the_compression_control() -> None:
    """7.7.6: bits 7-4 = 1001 is JpegCompression, whatever the reset bits below them."""
    for encoding in (Encoding.TIGHT, Encoding.TIGHT_PNG):
        for control in range(256):
            rectangle = Rectangle(0, 0, 4, 4, encoding, bytes((control,)) + b"payload")
            assert is_lossy(rectangle) is (control >> 4 == 0x9)


def test_a_jpeg_is_lossy_however_well_it_came_out() -> None:
    """A quality-9 (libjpeg 100) image of black decodes exactly; it is still JPEG."""
    black = np.zeros((8, 8, 4), np.uint8)
    (rectangle,) = make_encoder(Encoding.JPEG).encode(black, 0, 0, BGRX, EncodeSettings(quality=9))
    framebuffer = Framebuffer.blank(8, 8)
    framebuffer.pixels[:] = 7
    make_decoder(Encoding.JPEG).decode(rectangle, BGRX, framebuffer)
    assert np.array_equal(framebuffer.pixels, black)
    assert is_lossy(rectangle)
    assert not is_lossy(Rectangle(0, 0, 8, 8, Encoding.COPY_RECT, b"\x00\x00\x00\x00"))
