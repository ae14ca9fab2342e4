"""Turning boxes into rectangles: work split over both cores, and the lossless encoding
that refreshes lossy areas (no sockets; the decoders check the pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import trio

from protocol import BGRX, Rectangle
from protocol._framebuffer import Framebuffer
from protocol.encodings import EncodeSettings, Encoding, make_decoder
from vncd.region import Box
from vncd.updates import (
    BAND_ROWS,
    PARALLEL_PIXELS,
    WORKERS,
    EncodeJob,
    SharedEncodings,
    UpdateBuilder,
    WorkerEncoders,
    lossless_encoding,
    lossless_settings,
    offered_encodings,
    split_for_workers,
)

from .cover import cover_count


def test_a_whole_frame_is_cut_once_on_a_band_boundary():
    assert split_for_workers([Box(0, 0, 1920, 1080)], 2) == [
        [Box(0, 0, 1920, 576)],
        [Box(0, 576, 1920, 504)],
    ]


def test_boxes_are_dealt_in_order_and_cover_everything_once():
    boxes = [Box(0, 0, 100, 100), Box(0, 200, 1920, 1000), Box(5, 5, 640, 480)]
    groups = split_for_workers(boxes, 2)
    assert len(groups) == 2
    pieces = [box for group in groups for box in group]
    assert np.array_equal(cover_count(pieces, 1300, 1920), cover_count(boxes, 1300, 1920))
    for box in pieces:
        assert any((box.y - whole.y) % BAND_ROWS == 0 for whole in boxes if whole.contains(box))
    areas = [sum(box.area for box in group) for group in groups]
    assert max(areas) - min(areas) <= 2 * 1920 * BAND_ROWS  # one band too many, or few


def test_a_small_update_stays_whole():
    assert split_for_workers([Box(0, 0, 1920, 30)], 2) == [[Box(0, 0, 1920, 30)]]


@pytest.mark.parametrize("encoding", [Encoding.RAW, Encoding.HEXTILE, Encoding.TRLE])
async def test_big_updates_encoded_on_workers_decode_exact(encoding):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 4, (700, 900, 4), dtype=np.uint8) * 60
    boxes = [Box(0, 0, 900, 700)]
    assert sum(box.area for box in boxes) > PARALLEL_PIXELS
    builder = UpdateBuilder(SharedEncodings(), WorkerEncoders())
    rectangles = await builder.build(pixels, 1, boxes, BGRX, encoding, EncodeSettings())
    assert len(rectangles) >= WORKERS
    framebuffer = Framebuffer.blank(900, 700)
    decoder = make_decoder(encoding)
    for rectangle in rectangles:
        decoder.decode(rectangle, BGRX, framebuffer)
    assert np.array_equal(framebuffer.pixels[..., :3], pixels[..., :3])


def test_refreshes_use_the_same_encoding_without_jpeg_where_it_has_a_lossless_mode():
    offered = offered_encodings(h264=True)
    settings = EncodeSettings(quality=8, fine_quality=80, subsampling=1, compress_level=2)
    assert lossless_settings(settings) == EncodeSettings(compress_level=2)
    tight = (Encoding.TIGHT, Encoding.ZRLE)
    assert lossless_encoding(Encoding.TIGHT, tight, BGRX, offered) == Encoding.TIGHT
    jpeg = (Encoding.JPEG, Encoding.OPEN_H264, Encoding.ZRLE)
    assert lossless_encoding(Encoding.JPEG, jpeg, BGRX, offered) == Encoding.ZRLE
    assert lossless_encoding(Encoding.OPEN_H264, (Encoding.OPEN_H264,), BGRX, offered) == (
        Encoding.RAW
    )


async def test_the_bands_of_a_big_update_are_encoded_at_the_same_time():
    """Each band goes to its own worker call, and all calls are under way together, each
    with its own encoder from the pool that every viewer shares."""
    running, most = 0, 0

    async def run_sync(function, *args):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await trio.sleep(0.01)  # the other bands start meanwhile
        running -= 1
        return function(*args)

    pixels = np.zeros((1080, 1920, 4), dtype=np.uint8)
    workers = WorkerEncoders()
    lent = []
    for serial in (1, 2):  # one viewer after another: the pool's encoders serve both
        builder = UpdateBuilder(SharedEncodings(), workers, run_sync)
        whole = [Box(0, 0, 1920, 1080)]
        await builder.build(
            pixels, serial, whole, BGRX, Encoding.TIGHT, EncodeSettings(), others=True
        )
        lent.append({id(encoder) for encoder in workers._free[Encoding.TIGHT]})
    assert most == WORKERS
    assert len(lent[0]) == WORKERS and lent[0] == lent[1]


async def test_shared_encodings_forget_the_least_recently_used_beyond_their_budget():
    shared = SharedEncodings(budget=250)
    calls = []

    def job(version: int) -> EncodeJob:
        return EncodeJob(version, (Box(0, 0, 10, 10),), Encoding.RAW, BGRX, EncodeSettings())

    async def encode(version: int) -> list:
        calls.append(version)
        return [Rectangle(0, 0, 10, 10, Encoding.RAW, bytes(100))]

    for version in (1, 2, 1, 3, 1, 2):  # 1 stays in use; 2 is forgotten when 3 comes
        await shared.rectangles(job(version), lambda v=version: encode(v))
    assert calls == [1, 2, 3, 2]
    assert (shared.hits, shared.misses) == (2, 4)


async def test_each_viewer_gets_a_list_of_its_own():
    """A session adds its refresh to the list it was given: the next viewer must not get it."""
    shared = SharedEncodings()
    job = EncodeJob(1, (Box(0, 0, 10, 10),), Encoding.RAW, BGRX, EncodeSettings())
    rectangle = Rectangle(0, 0, 10, 10, Encoding.RAW, bytes(400))

    async def encode() -> list:
        return [rectangle]

    first = await shared.rectangles(job, encode)
    first += [Rectangle(20, 0, 10, 10, Encoding.RAW, bytes(400))]
    assert await shared.rectangles(job, encode) == [rectangle]
