"""An encoder that says it is shareable keeps no state: what it encodes for a region does not
depend on what it encoded before, so a server may send one encoding to many clients."""

from __future__ import annotations

import numpy as np
import pytest

from protocol import BGRX, PixelFormat
from protocol._framebuffer import Framebuffer
from protocol.encodings import ENCODERS, EncodeSettings, Encoding, make_decoder, make_encoder

RGB565 = PixelFormat(16, 16, False, True, 31, 63, 31, 11, 5, 0)


def desktop_like(seed: int) -> np.ndarray:
    """A region with fills, text-like detail and noise, so every sub-encoder path runs."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((96, 160, 4), np.uint8)
    pixels[:, :80] = rng.integers(0, 256, 4, dtype=np.uint8)
    pixels[20:40, 10:150] = rng.integers(0, 4, (20, 140, 1), dtype=np.uint8) * 60
    pixels[50:] = rng.integers(0, 256, (46, 160, 4), dtype=np.uint8)
    return pixels


@pytest.mark.parametrize(
    "encoding", sorted(number for number, cls in ENCODERS.items() if getattr(cls, "shareable", 0))
)
@pytest.mark.parametrize("pixel_format", [BGRX, RGB565], ids=["bgrx", "rgb565"])
@pytest.mark.parametrize("settings", [EncodeSettings(), EncodeSettings(quality=7)])
def test_shareable_encoders_do_not_depend_on_history(encoding, pixel_format, settings) -> None:
    used, fresh = make_encoder(encoding), make_encoder(encoding)
    for seed in range(3):
        used.encode(desktop_like(seed), 0, 0, pixel_format, settings)
    region = desktop_like(99)
    assert used.encode(region, 8, 16, pixel_format, settings) == fresh.encode(
        region, 8, 16, pixel_format, settings
    )


def test_the_stateful_encoders_say_so() -> None:
    """zlib streams carry history: Zlib, ZRLE and Tight must never be shared."""
    assert {number for number, cls in ENCODERS.items() if getattr(cls, "shareable", False)} == {
        0,
        2,
        5,
        15,
        21,
        -260,
    }


def test_make_encoder_gives_the_shareable_variant_or_refuses() -> None:
    assert make_encoder(Encoding.RAW, shareable=True).shareable
    tight = make_encoder(Encoding.TIGHT, shareable=True)
    assert tight.shareable and not make_encoder(Encoding.TIGHT).shareable
    for encoding in (Encoding.ZLIB, Encoding.ZRLE):
        with pytest.raises(ValueError):
            make_encoder(encoding, shareable=True)


@pytest.mark.parametrize("settings", [EncodeSettings(), EncodeSettings(compress_level=9)])
def test_shareable_tight_does_not_depend_on_history(settings) -> None:
    used, fresh = (make_encoder(Encoding.TIGHT, shareable=True) for _ in range(2))
    for seed in range(3):
        used.encode(desktop_like(seed), 0, 0, BGRX, settings)
    region = desktop_like(99)
    assert used.encode(region, 8, 16, BGRX, settings) == fresh.encode(region, 8, 16, BGRX, settings)


def test_a_client_served_by_both_tight_variants_in_turn_decodes_every_rectangle() -> None:
    """A viewer that shares updates with others for a while, then has its own again: the
    private encoder resets the streams the shared one used (forget_client)."""
    private, shared = make_encoder(Encoding.TIGHT), make_encoder(Encoding.TIGHT, shareable=True)
    decoder = make_decoder(Encoding.TIGHT)
    framebuffer = Framebuffer.blank(160, 96)
    previous = private
    for seed, encoder in enumerate([private, private, shared, shared, private, shared, private]):
        if encoder is private and previous is shared:
            private.forget_client()
        region = desktop_like(seed)
        for rectangle in encoder.encode(region, 0, 0, BGRX, EncodeSettings()):
            decoder.decode(rectangle, BGRX, framebuffer)
        np.testing.assert_array_equal(framebuffer.pixels[..., :3], region[..., :3])
        previous = encoder
