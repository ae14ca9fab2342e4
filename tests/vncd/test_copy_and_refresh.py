"""CopyRect for scrolls and moved windows, and the lossless refresh of lossy areas, through
real sessions over memory streams (the viewer decodes everything it is sent)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import trio

from protocol.encodings import Encoding, h264, is_lossy
from tests.protocol.roundtrip import psnr
from tests.requirements import unavailable
from vncd.refresh import REFRESH_PIXELS

from .harness import ArraySource, running_hub, same_pixels


def pixel_bytes(update) -> int:
    return sum(len(rectangle.payload) for rectangle in update.rectangles)


def copies(update) -> list:
    return [r for r in update.rectangles if r.encoding == Encoding.COPY_RECT]


def scroll_up(source: ArraySource, rows: int, seed: int) -> None:
    """The whole screen scrolls up by ``rows``; new random rows come in at the bottom."""
    source.pixels[:-rows] = source.pixels[rows:].copy()
    rng = np.random.default_rng(seed)
    source.pixels[-rows:] = rng.integers(0, 256, source.pixels[-rows:].shape, dtype=np.uint8)


async def test_a_scroll_goes_as_a_copy_and_the_new_rows(autojump_clock):
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(Encoding.COPY_RECT, Encoding.RAW))
        await viewer.full_update()
        await viewer.request()
        scroll_up(source, 10, seed=1)
        update = await viewer.next_update()
        is_copy = [r.encoding == Encoding.COPY_RECT for r in update.rectangles]
        assert is_copy[0] and is_copy == sorted(is_copy, reverse=True), "copies go first"
        others = update.rectangles[sum(is_copy) :]
        assert sum(r.width * r.height for r in others) <= 200 * 10 * 2
        assert same_pixels(viewer.framebuffer, source)


async def test_a_viewer_without_copyrect_gets_the_pixels(autojump_clock):
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(Encoding.RAW,))
        await viewer.full_update()
        await viewer.request()
        scroll_up(source, 10, seed=1)
        update = await viewer.next_update()
        assert not copies(update)
        assert same_pixels(viewer.framebuffer, source)


async def test_a_copy_from_where_the_viewer_is_behind_sends_those_pixels(autojump_clock):
    """Damage not yet sent lies in the copy's source: the viewer would copy stale pixels
    there, so those destinations go as pixels (the rest still as a copy)."""
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(Encoding.COPY_RECT, Encoding.RAW))
        await viewer.full_update()
        source.pixels[60:70, 20:180] = 200  # not sent: no request is outstanding
        await trio.sleep(0.05)  # captured on its own
        scroll_up(source, 10, seed=2)
        await trio.sleep(0.05)
        await viewer.request()
        update = await viewer.next_update()
        assert copies(update)
        assert same_pixels(viewer.framebuffer, source)


async def test_a_window_dragged_over_a_background_goes_as_copies(autojump_clock):
    source = ArraySource(320, 240)
    rng = np.random.default_rng(3)
    background = source.pixels.copy()
    window = rng.integers(0, 256, (80, 120, 4), dtype=np.uint8)
    x, y = 40, 50
    source.pixels[y : y + 80, x : x + 120] = window
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(Encoding.COPY_RECT, Encoding.RAW))
        await viewer.full_update()
        for step, (dx, dy) in enumerate([(7, 3), (5, -4), (-9, 6), (12, 0)]):
            await viewer.request()
            source.pixels[y : y + 80, x : x + 120] = background[y : y + 80, x : x + 120]
            x, y = x + dx, y + dy
            source.pixels[y : y + 80, x : x + 120] = window
            update = await viewer.next_update()
            assert copies(update), f"step {step}"
            assert pixel_bytes(update) < window.nbytes / 2, f"step {step}"
            assert same_pixels(viewer.framebuffer, source), f"step {step}"


TIGHT_JPEG = (Encoding.TIGHT, Encoding.JPEG_QUALITY_LEVEL_8)


@pytest.mark.parametrize(
    "encodings",
    [
        pytest.param(TIGHT_JPEG, id="tight-jpeg"),
        pytest.param((Encoding.TIGHT_PNG, Encoding.JPEG_QUALITY_LEVEL_8), id="tightpng-jpeg"),
        pytest.param((Encoding.JPEG, Encoding.ZRLE, Encoding.JPEG_QUALITY_LEVEL_8), id="jpeg"),
    ],
)
async def test_lossy_areas_end_exact_once_the_screen_is_still(autojump_clock, encodings):
    source = ArraySource(320, 240)  # noise: photo-like, so JPEG where the viewer allows it
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=encodings)
        first = await viewer.full_update()
        assert any(is_lossy(rectangle) for rectangle in first.rectangles)
        assert not same_pixels(viewer.framebuffer, source)
        assert psnr(viewer.framebuffer.pixels[..., :3], source.pixels[..., :3]) > 20
        started = trio.current_time()
        refreshes = []
        while not same_pixels(viewer.framebuffer, source):
            await viewer.request()
            refreshes.append(await viewer.next_update())
            assert trio.current_time() - started < 2
        assert all(not is_lossy(r) for update in refreshes for r in update.rectangles)
        # The first refresh waited for the screen to be still.
        assert trio.current_time() - started >= 0.05
        await viewer.request()
        await viewer.assert_no_update(1, "an exact picture of a still screen was sent again")


async def test_an_area_that_keeps_changing_is_not_refreshed(autojump_clock):
    source = ArraySource(320, 240)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=TIGHT_JPEG)
        await viewer.full_update()
        rng = np.random.default_rng(5)
        lossless = 0
        for _ in range(10):  # every 20 ms, inside the refresh delay
            await trio.sleep(0.02)
            source.pixels[:] = rng.integers(0, 256, source.pixels.shape, dtype=np.uint8)
            await viewer.request()
            update = await viewer.next_update()
            lossless += sum(not is_lossy(r) for r in update.rectangles)
        assert lossless == 0


async def test_an_h264_viewer_asking_for_the_whole_picture_gets_an_intra_frame():
    if importlib.util.find_spec("av") is None:
        unavailable("PyAV is not installed: pip install -e '.[h264]'", extra="h264")
    source = ArraySource(320, 240)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(Encoding.OPEN_H264,))
        flags = []
        for incremental in (False, True, False):
            await viewer.request(incremental=incremental)
            source.pixels[10:20, 10:200] += 1
            update = await viewer.next_update()
            [rectangle] = [r for r in update.rectangles if r.encoding == Encoding.OPEN_H264]
            flags.append(int.from_bytes(rectangle.payload[4:8], "big"))
        assert flags == [h264.RESET_CONTEXT, 0, h264.RESET_CONTEXT]


async def test_a_big_refresh_goes_in_bounded_pieces(autojump_clock):
    source = ArraySource(800, 600)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=TIGHT_JPEG)
        await viewer.full_update()
        pieces = []
        while not same_pixels(viewer.framebuffer, source):
            await viewer.request()
            update = await viewer.next_update()
            pieces.append(sum(r.width * r.height for r in update.rectangles))
        assert len(pieces) >= 2 and max(pieces) <= REFRESH_PIXELS


async def test_with_the_refresh_off_lossy_areas_stay_lossy(autojump_clock):
    source = ArraySource(320, 240)
    async with running_hub(source) as hub:
        hub.hub.lossless_refresh = None  # [encodings] lossless_refresh_ms = 0
        viewer = hub.connect()
        await viewer.handshake(encodings=TIGHT_JPEG)
        await viewer.full_update()
        await viewer.request()
        await viewer.assert_no_update(2, "a still screen was sent again")
        assert not same_pixels(viewer.framebuffer, source)
