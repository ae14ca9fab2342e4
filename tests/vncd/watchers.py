"""Viewers of an ``Animation`` over real sockets: fast, slow (behind a slow link) or not reading.

A ``Watcher`` follows the screen the way real viewers do: by request (vncdotool, gtk-vnc), or
with continuous updates and fences (TigerVNC, noVNC: it enables continuous updates once the
server offers them and answers every fence). After each update it notes when it was applied
and which frame the animated box shows, which is what "how many" and "how fresh" are judged
by. ``stop_reading`` is a viewer that asks for updates and never reads them.
"""

from __future__ import annotations

import fcntl
import math
import struct
import termios
import time

import numpy as np
import trio

from protocol import (
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
)
from protocol.encodings import Encoding
from vncd.region import Box

from .animation import Animation
from .viewer import Viewer

#: rfbproto "ClientFence" flags. A viewer answers a request with the Request bit cleared and
#: the flags it does not support cleared: these two it honours by handling messages in order.
REQUEST = 1 << 31
ANSWERED_FLAGS = 1 << 0 | 1 << 1  # BlockBefore, BlockAfter


def encodings(continuous: bool) -> tuple[int, ...]:
    """Raw (cheap to decode for many viewers), a cursor shape (the pointer stays out of the
    pixels, as for every real viewer), and the flow-control pseudo-encodings."""
    own = (Encoding.RAW, Encoding.CURSOR_WITH_ALPHA)
    if continuous:
        return (*own, Encoding.FENCE, Encoding.CONTINUOUS_UPDATES)
    return own


class SlowLink(trio.abc.Stream):
    """The viewer's end of a slow link with a deep queue in front of it (bufferbloat: a
    router's buffer, a proxy's): whatever vncd sends is taken off the socket at once by
    ``pump`` (start it in a nursery), queued without bound, and comes out of
    ``receive_some`` at ``rate`` bytes per second. vncd's writes never block on such a
    link, so only its flow control can keep the queue short."""

    def __init__(self, stream: trio.abc.Stream, rate: float, chunk: int = 16384) -> None:
        self.stream = stream
        self.rate = rate
        self.chunk = chunk
        self._queue = bytearray()
        self._closed = False
        self._arrived = trio.Event()

    async def pump(self) -> None:
        """Move everything that arrives into the queue, until the connection closes."""
        while data := await self.stream.receive_some(65536):
            self._queue += data
            self._arrived.set()
        self._closed = True
        self._arrived.set()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        while not self._queue and not self._closed:
            self._arrived = trio.Event()
            await self._arrived.wait()
        data = bytes(self._queue[: min(self.chunk, max_bytes or self.chunk)])
        del self._queue[: len(data)]
        await trio.sleep(len(data) / self.rate)
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.stream.aclose()


class Watcher:
    """A viewer of ``box`` (where an Animation paints) that records, for each update,
    ``(time.monotonic(), frame number shown)``; the number is None before the marker shows."""

    def __init__(self, stream: trio.abc.Stream, box: Box, *, continuous: bool) -> None:
        self.viewer = Viewer(stream)
        self.box = box
        self.continuous = continuous
        self.enabled = False  # continuous updates are on
        self.updates: list[tuple[float, int | None]] = []

    async def run(self) -> None:
        """Handshake, ask for the whole screen, then follow updates until cancelled."""
        await self.viewer.handshake(encodings=encodings(self.continuous))
        await self.viewer.request(incremental=False)
        while True:
            event = await self.viewer.next_message()
            match event:
                case Fence(flags=flags, payload=payload) if flags & REQUEST:
                    await self.viewer.send(Fence(flags & ANSWERED_FLAGS, payload))
                case EndOfContinuousUpdates() if self.continuous and not self.enabled:
                    self.enabled = True
                    width, height = self.size
                    await self.viewer.send(EnableContinuousUpdates(True, 0, 0, width, height))
                case FramebufferUpdate():
                    self.updates.append((time.monotonic(), self.shown()))
                    if not self.enabled:
                        await self.viewer.request(incremental=True)

    @property
    def size(self) -> tuple[int, int]:
        framebuffer = self.viewer.framebuffer
        assert framebuffer is not None, "before the handshake"
        return framebuffer.width, framebuffer.height

    def shown(self) -> int | None:
        """The frame number the picture shows now."""
        framebuffer = self.viewer.framebuffer
        if framebuffer is None:
            return None
        return Animation.number(framebuffer.pixels[self.box.y :, self.box.x :])

    def rgb(self) -> np.ndarray:
        """The whole picture as RGB, to compare with ``xwd`` of the display."""
        framebuffer = self.viewer.framebuffer
        assert framebuffer is not None, "before the handshake"
        return framebuffer.pixels[..., 2::-1]

    def frames_between(self, start: float, end: float) -> list[int]:
        """Frame numbers of the updates applied in [start, end), in order."""
        return [n for t, n in self.updates if start <= t < end and n is not None]

    def lags(self, painted: list[float], start: float, end: float) -> list[float]:
        """For each update applied in [start, end): how long before it the frame it shows
        was painted. A viewer fed from a queue sees this grow; a fresh one keeps it short."""
        return [t - painted[n] for t, n in self.updates if start <= t < end and n is not None]


async def stop_reading(stream: trio.SocketStream, *, continuous: bool) -> None:
    """A viewer that finishes the handshake, asks for updates and never reads again: with
    continuous updates on (and never answering a fence), or asking for the whole screen 20
    times a second. Whatever vncd sends it piles up in the sockets' buffers until they are
    full. Runs until cancelled."""
    viewer = Viewer(stream)
    init = await viewer.handshake(encodings=encodings(continuous))
    width, height = init.width, init.height
    if continuous:
        await viewer.send(EnableContinuousUpdates(True, 0, 0, width, height))
        await trio.sleep(math.inf)
    while True:
        await viewer.send(FramebufferUpdateRequest(False, 0, 0, width, height))
        await trio.sleep(0.05)


async def flood_fences(stream: trio.SocketStream, seconds: float) -> int:
    """A viewer that never reads but sends fence requests (64-byte payloads) as fast as it
    can for ``seconds``: each asks vncd for an answer that cannot be delivered. Returns the
    bytes it managed to send."""
    viewer = Viewer(stream)
    await viewer.handshake(encodings=encodings(continuous=True))
    burst = viewer.conn.send(Fence(REQUEST | ANSWERED_FLAGS, bytes(64))) * 1000
    sent = 0
    with trio.move_on_after(seconds):
        while True:
            await stream.send_all(burst)
            sent += len(burst)
    return sent


def unread(stream: trio.SocketStream) -> int:
    """Bytes that arrived on ``stream``'s socket and were not read (FIONREAD)."""
    result = fcntl.ioctl(stream.socket.fileno(), termios.FIONREAD, struct.pack("i", 0))
    return struct.unpack("i", result)[0]
