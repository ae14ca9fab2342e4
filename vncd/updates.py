"""Turning a viewer's damage into rectangles: which encoding, and encoding the boxes.

The boxes come exact from the frame bus (vncd.frames), so the builder keeps no copy of what
the viewer shows and compares nothing; it only encodes, with the viewer's preferred encoding.
Encoders that keep no state between rectangles encode an update once for every viewer that
needs the same one (``SharedEncodings``).
"""

from __future__ import annotations

import collections
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence

import attrs
import numpy as np
import trio

from protocol import PixelFormat, Rectangle
from protocol.encodings import (
    ENCODERS,
    LOSSY_ENCODINGS,
    Encoder,
    EncodeSettings,
    Encoding,
    make_encoder,
)

from .region import Box


def offered_encodings(h264: bool) -> frozenset[int]:
    """The pixel encodings this server will use: every registered encoder, except the ones
    that are off unless the configuration asks for them."""
    offered = set(ENCODERS)
    if not h264:
        offered.discard(Encoding.OPEN_H264)
    return frozenset(offered)


def choose_encoding(
    client_encodings: Sequence[int], pixel_format: PixelFormat, offered: Collection[int]
) -> int:
    """The viewer's most preferred encoding that we offer and that can carry its pixel
    format (Raw, which every viewer must support, when none)."""
    for number in client_encodings:
        if number in offered:
            supports = getattr(ENCODERS[number], "supports", None)
            if supports is None or supports(pixel_format):
                return number
    return Encoding.RAW


def lossless_encoding(
    encoding: int,
    client_encodings: Sequence[int],
    pixel_format: PixelFormat,
    offered: Collection[int],
) -> int:
    """How areas sent lossy go again exactly: the same encoding where it has a lossless mode
    (Tight and TightPNG without a JPEG quality), else the viewer's preferred lossless one."""
    if encoding not in LOSSY_ENCODINGS:
        return encoding
    lossless = [number for number in client_encodings if number not in LOSSY_ENCODINGS]
    return choose_encoding(lossless, pixel_format, offered)


def lossless_settings(settings: EncodeSettings) -> EncodeSettings:
    """``settings`` without what turns JPEG on."""
    return attrs.evolve(settings, quality=None, fine_quality=None, subsampling=None)


#: Regions up to this many pixels are encoded in the Trio thread: handing them to a worker
#: thread costs more than encoding them (a 64×64 tile encodes in well under 100 µs).
INLINE_PIXELS = 64 * 64
#: Updates of more pixels than this are cut into bands encoded on ``WORKERS`` threads at
#: once (numpy, zlib and libjpeg release the GIL), when the encoder keeps no state between
#: rectangles: a full 1080p frame then takes about half the time on two cores. Smaller ones
#: gain less than the second thread costs (a 640x480 animation used more CPU split).
PARALLEL_PIXELS = 512 * 1024
WORKERS = 2
#: Bands start on multiples of this many rows: every tile grid (Hextile 16, ZRLE and the
#: Tight analysis 64) stays aligned.
BAND_ROWS = 64
#: Encoded bytes kept for other viewers at most, the least recently used forgotten first:
#: about one raw 1080p frame. Viewers in step share even more than this; one that falls far
#: behind encodes for itself rather than the server keeping frames for it.
SHARED_BYTES = 8 << 20


@attrs.frozen
class Audience:
    """What a viewer's updates depend on besides the pixels: viewers with the same audience
    can be sent the same encoding."""

    encoding: int
    pixel_format: PixelFormat
    settings: EncodeSettings


@attrs.frozen
class EncodeJob:
    """Everything an update's rectangles depend on, when the encoder keeps no state."""

    version: int  # the boxes' content (FrameBus.version): the same pixels while unchanged
    boxes: tuple[Box, ...]
    encoding: int
    pixel_format: PixelFormat
    settings: EncodeSettings


class _Shared:
    """One job's rectangles, or the promise of them while a viewer encodes them."""

    def __init__(self) -> None:
        self.done = trio.Event()
        #: None once done: the encoder failed. A tuple: every viewer gets a list of its own.
        self.rectangles: tuple[Rectangle, ...] | None = None


class SharedEncodings:
    """Updates encoded by stateless encoders (Raw, Hextile, JPEG...), so viewers with the same
    pixel format, encoding and settings that are sent the same boxes with the same content
    encode them once between them, in step or not (a refresh of a still area long after);
    the others wait for that encoding."""

    def __init__(self, budget: int = SHARED_BYTES) -> None:
        self._jobs: collections.OrderedDict[EncodeJob, _Shared] = collections.OrderedDict()
        self._budget = budget
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    async def rectangles(
        self, job: EncodeJob, encode: Callable[[], Awaitable[list[Rectangle]]]
    ) -> list[Rectangle]:
        while (shared := self._jobs.get(job)) is not None:
            await shared.done.wait()
            if shared.rectangles is not None:
                self.hits += 1
                self._jobs.move_to_end(job)
                return list(shared.rectangles)
            # The viewer that encoded it left (or failed) before the end: encode it here.
        self.misses += 1
        shared = self._jobs[job] = _Shared()
        try:
            shared.rectangles = tuple(await encode())
        finally:
            shared.done.set()
            if shared.rectangles is None:
                del self._jobs[job]
        self._bytes += _payload_bytes(shared.rectangles)
        self._forget_oldest()
        return list(shared.rectangles)

    def _forget_oldest(self) -> None:
        for job in list(self._jobs):
            if self._bytes <= self._budget:
                return
            shared = self._jobs[job]
            if shared.rectangles is not None:
                self._bytes -= _payload_bytes(shared.rectangles)
                del self._jobs[job]


def _payload_bytes(rectangles: Sequence[Rectangle]) -> int:
    return sum(len(rectangle.payload) for rectangle in rectangles)


def split_for_workers(boxes: Sequence[Box], workers: int) -> list[list[Box]]:
    """``boxes`` dealt, in order, into at most ``workers`` groups of about equal area, cutting
    a box where a group is full after a multiple of ``BAND_ROWS`` of its rows (so few cuts:
    each piece costs a rectangle and an encoder's start)."""
    share = sum(box.area for box in boxes) / workers
    groups: list[list[Box]] = [[]]
    room = share
    for box in boxes:
        top = box.y
        while top < box.bottom:
            rows = box.bottom - top
            if len(groups) < workers and rows * box.width > room:
                rows = min(rows, math.ceil(room / box.width / BAND_ROWS) * BAND_ROWS)
            groups[-1].append(Box(box.x, top, box.width, rows))
            top += rows
            room -= rows * box.width
            if room <= 0 and len(groups) < workers:
                groups.append([])
                room += share
    return [group for group in groups if group]


class WorkerEncoders:
    """Shareable encoders for the worker threads, lent to one band at a time: what they
    produce depends only on what they are given, so all viewers draw on one small pool (each
    Tight encoder holds four zlib streams, a megabyte), but one must not run in two threads."""

    def __init__(self) -> None:
        self._free: dict[int, list[Encoder]] = collections.defaultdict(list)

    @contextlib.contextmanager
    def lend(self, encoding: int) -> Iterator[Encoder]:
        free = self._free[encoding]
        encoder = free.pop() if free else make_encoder(encoding, shareable=True)
        try:
            yield encoder
        finally:
            free.append(encoder)


class UpdateBuilder:
    """Per-viewer encoders (with their zlib streams): changed boxes in, rectangles out;
    stateless encoders' work shared with the other viewers through ``shared``."""

    def __init__(
        self,
        shared: SharedEncodings,
        workers: WorkerEncoders,
        run_sync: Callable[..., Awaitable[list[Rectangle]]] = trio.to_thread.run_sync,
        on_encode: Callable[[int, float], None] = lambda encoding, seconds: None,
    ) -> None:
        self._run_sync = run_sync
        #: Told each encode's encoding and duration in seconds (vncd.metrics' histogram).
        self._on_encode = on_encode
        self._workers = workers
        self._encoders: dict[tuple[int, bool], Encoder] = {}
        self._shared = shared

    async def build(
        self,
        pixels: np.ndarray,
        version: int | None,
        boxes: list[Box],
        pixel_format: PixelFormat,
        encoding: int,
        settings: EncodeSettings,
        others: bool = False,
    ) -> list[Rectangle]:
        """Rectangles carrying ``boxes`` of ``pixels`` (whose content is ``version``, see
        FrameBus.version; None: pixels made for this viewer alone). ``others``: other
        viewers have the same audience now, so an encoding's shareable variant (Tight
        resetting its streams) is worth its small loss of compression. Big jobs run in worker
        threads (numpy, zlib and libjpeg release the GIL), on both cores when the encoder in
        use keeps no state; small ones at once."""
        area = sum(box.area for box in boxes)
        encoder = self._encoder(encoding, shareable=others and version is not None)
        if boxes and getattr(encoder, "whole_frame", False):
            # A video codec keeps one context for the whole screen.
            boxes = [Box(0, 0, pixels.shape[1], pixels.shape[0])]
            area = boxes[0].area

        async def encode() -> list[Rectangle]:
            started = time.perf_counter()  # real time, even under a test's clock
            rectangles = await encode_now()
            if boxes:
                self._on_encode(encoding, time.perf_counter() - started)
            return rectangles

        async def encode_now() -> list[Rectangle]:
            if area <= INLINE_PIXELS:
                return self.encode(encoder, pixels, boxes, pixel_format, settings)
            if area <= PARALLEL_PIXELS or not getattr(encoder, "shareable", False):
                return await self._run_sync(
                    self.encode, encoder, pixels, boxes, pixel_format, settings
                )
            groups = split_for_workers(boxes, WORKERS)
            encoded: list[list[Rectangle]] = [[] for _ in groups]

            async def encode_group(index: int) -> None:
                with self._workers.lend(encoding) as worker:
                    encoded[index] = await self._run_sync(
                        self.encode, worker, pixels, groups[index], pixel_format, settings
                    )

            async with trio.open_nursery() as nursery:
                for index in range(len(groups)):
                    nursery.start_soon(encode_group, index)
            return [rectangle for group in encoded for rectangle in group]

        if version is None or not getattr(encoder, "shareable", False):
            return await encode()
        job = EncodeJob(version, tuple(boxes), encoding, pixel_format, settings)
        return await self._shared.rectangles(job, encode)

    @staticmethod
    def encode(
        encoder: Encoder,
        pixels: np.ndarray,
        boxes: list[Box],
        pixel_format: PixelFormat,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        rectangles: list[Rectangle] = []
        for box in boxes:
            rows, columns = box.slices()
            rectangles.extend(
                encoder.encode(pixels[rows, columns], box.x, box.y, pixel_format, settings)
            )
        return rectangles

    def restart_video(self) -> None:
        """The viewer asked for its whole picture: video encoders start with an intra frame,
        which decodes whatever the viewer holds."""
        for encoder in self._encoders.values():
            if getattr(encoder, "whole_frame", False):
                encoder.forget_client()

    def forget_client(self) -> None:
        """A new decoder follows from the next update on (a recording that starts): the
        encoders that can say so start their streams afresh (Tight's reset bits)."""
        for encoder in self._encoders.values():
            if hasattr(encoder, "forget_client"):
                encoder.forget_client()

    def _encoder(self, encoding: int, shareable: bool) -> Encoder:
        """The viewer's encoder for ``encoding``: the private one, or the shareable variant
        where there is one. Once a viewer got the shareable variant it keeps it: noVNC 1.7
        dropped the connection when a Tight viewer went back to its own streams (reset on
        their next use) after shared ones, and the variant costs at most a few percent."""
        if getattr(ENCODERS[encoding], "shareable", False):
            shareable = False  # one instance serves both purposes
        elif not getattr(ENCODERS[encoding], "has_shareable_variant", False):
            shareable = False
        elif (encoding, True) in self._encoders:
            shareable = True
        key = (encoding, shareable)
        if key not in self._encoders:
            self._encoders[key] = make_encoder(encoding, shareable=shareable)
        return self._encoders[key]
