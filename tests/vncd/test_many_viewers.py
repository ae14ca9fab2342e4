"""Viewers side by side on one `vncd run`, over real sockets of 127.0.0.1, watching a real X
display that changes at a steady rate (tests/vncd/animation.py): a viewer that stops reading
or reads slowly must not hold the others back nor make vncd queue for it, and many viewers
must all be served.

These are loose bounds that catch a broken design (a shared send path, a queue per viewer,
a capture loop that waits for viewers), not performance figures: those belong to the
benchmark (benchmarks/sidebyside.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import attrs
import numpy as np
import pytest
import trio

from tests.interop.desktop import describe_difference
from tests.interop.vncd_process import VncdProcess, vncd_launcher, x11_source
from tests.interop.xwd import xwd_root
from tests.requirements import require_programs
from vncd.region import Box

from ._xvfb import private_xvfb
from .animation import Animation
from .watchers import SlowLink, Watcher, flood_fences, stop_reading, unread

#: The served display. The tests of stuck and slow viewers animate all of it with noise, so that
#: every update is big (300 KB in Raw); the crowd watches a small box of one colour.
WIDTH, HEIGHT = 320, 240
SCREEN = Box(0, 0, WIDTH, HEIGHT)
RATE = 20.0  # frames painted per second
FRAME_BYTES = WIDTH * HEIGHT * 4  # one Raw update of the whole screen
#: The measuring window, after a warm-up in which every viewer got its first update.
WARM_UP = 1.5
WINDOW = 3.0
#: vncd's memory may not grow by more than this while viewers do not read: about 30 of the
#: updates they do not take (a queue of them would grow by 6 MB/s per viewer).
MAX_GROWTH = 10_000_000
#: A fast viewer sees each frame within a few ms here; this is ten frames' time.
FAST_LAG = 0.5


@attrs.frozen
class Served:
    display: str
    server: VncdProcess

    async def connect(self) -> trio.SocketStream:
        return await trio.open_tcp_stream("127.0.0.1", self.server.port)

    def rss(self) -> int:
        """vncd's resident memory in bytes (/proc/PID/status)."""
        assert self.server.process is not None
        status = Path(f"/proc/{self.server.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def truth(self) -> np.ndarray:
        return xwd_root(self.display)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A private Xvfb served by `vncd run` (x11 source, default settings: 60 updates/s at
    most, 64 connections; but the crowd connects from one address all at once, so 64 may
    wait to authenticate, not 8)."""
    require_programs("Xvfb", "xwd")
    with (
        private_xvfb(WIDTH, HEIGHT) as display,
        vncd_launcher(tmp_path_factory.mktemp("many")) as start,
    ):
        crowd = "[limits]\nmax_unauthenticated = 64\nmax_unauthenticated_per_address = 64\n"
        yield Served(display, start(crowd + x11_source(display)))


@attrs.frozen
class Window:
    """A stretch of wall-clock time (``time.monotonic()``, as the watchers record)."""

    start: float
    end: float

    def painted(self, animation: Animation) -> int:
        return sum(self.start <= t < self.end for t in animation.painted)


async def measure(seconds: float) -> Window:
    """Let ``seconds`` pass; the window they took."""
    start = time.monotonic()
    await trio.sleep(seconds)
    return Window(start, time.monotonic())


async def wait_until_all_show(watchers: list[Watcher], frame: int, timeout: float) -> str:
    """Wait until every watcher shows ``frame``; what they show instead after ``timeout``
    ("" if they all do), for the caller to assert after its own, more telling, checks."""
    with trio.move_on_after(timeout):
        while any(watcher.shown() != frame for watcher in watchers):
            await trio.sleep(0.02)
    behind = {i: w.shown() for i, w in enumerate(watchers) if w.shown() != frame}
    return f"after {timeout:.1f} s, watchers show {behind}, not frame {frame}" if behind else ""


async def close(watchers: list[Watcher]) -> None:
    """Disconnect: the module's vncd serves the next test without these viewers."""
    for watcher in watchers:
        await watcher.viewer.stream.aclose()


def assert_pictures_exact(watchers: list[Watcher], truth: np.ndarray) -> None:
    """Every watcher's whole picture equals the display's: no damage was lost."""
    for index, watcher in enumerate(watchers):
        if not np.array_equal(watcher.rgb(), truth):
            pytest.fail(f"watcher {index}: {describe_difference(watcher.rgb(), truth)}")


async def test_a_viewer_that_stops_reading_delays_nobody_and_costs_no_memory(served: Served):
    """Two viewers stop reading (one with continuous updates that never answers a fence, one
    asking for the whole screen 20 times a second) while two fast ones (continuous, and by
    request) watch a screen changing at 20 Hz. The stuck viewers' sockets fill up and stay
    full; the fast viewers still see nearly every frame within a few frames' time, and
    vncd's memory stays flat: it keeps no queue for the viewers that do not read."""
    with Animation(served.display, SCREEN, RATE, noise=True) as animation:
        async with trio.open_nursery() as nursery:
            fast = [Watcher(await served.connect(), SCREEN, continuous=c) for c in (True, False)]
            stuck = [await served.connect() for _ in range(2)]
            for watcher in fast:
                nursery.start_soon(watcher.run)
            for stream, continuous in zip(stuck, (True, False), strict=True):
                nursery.start_soon(partial(stop_reading, stream, continuous=continuous))
            # Unread updates pile up at 6 MB/s per stuck viewer: a couple of seconds fill
            # any socket buffer (loopback's are at most a few MB).
            await trio.sleep(2.0)
            filled = [unread(stream) for stream in stuck]
            start, memory = time.monotonic(), []
            while time.monotonic() < start + WINDOW:
                memory.append(served.rss())
                await trio.sleep(0.1)
            window = Window(start, time.monotonic())
            still = [unread(stream) for stream in stuck]
            nursery.cancel_scope.cancel()
        await close(fast)
        for stream in stuck:
            await stream.aclose()
    assert all(filled) and filled == still, f"unread bytes {filled}, then {still}"
    growth = max(memory) - memory[0]
    assert growth < MAX_GROWTH, f"vncd grew by {growth / 1e6:.1f} MB in {WINDOW} s"
    painted = window.painted(animation)
    for watcher in fast:
        kind = "continuous" if watcher.continuous else "by request"
        frames = set(watcher.frames_between(window.start, window.end))
        lags = watcher.lags(animation.painted, window.start, window.end)
        assert len(frames) >= 0.6 * painted, f"{kind}: {len(frames)} of {painted} frames"
        assert max(lags) < FAST_LAG, f"{kind}: a frame shown {max(lags):.3f} s after painting"


async def test_a_viewer_that_stops_reading_but_sends_fences_costs_no_memory(served: Served):
    """A viewer that does not read but keeps sending fence requests: their answers cannot
    go out, so vncd stops reading from it once MAX_OUTBOX wait (the viewer's sends then
    block) instead of keeping every answer."""
    stream = await served.connect()
    before = served.rss()
    sent = await flood_fences(stream, seconds=WINDOW)
    growth = served.rss() - before
    await stream.aclose()
    assert growth < MAX_GROWTH, f"vncd grew by {growth / 1e6:.1f} MB as {sent / 1e6:.1f} MB came"


#: The slow viewers' link: about two whole-screen updates a second, a tenth of the frames.
SLOW_RATE = 600_000
#: How long one update takes over it.
SLOW_UPDATE = FRAME_BYTES / SLOW_RATE


async def test_a_slow_viewer_gets_fewer_fresher_frames(served: Served):
    """Beside a fast viewer, two viewers on a slow link (continuous updates with fences, and
    by request) get the few frames their link can carry, each one fresh: shown within a few
    update times of being painted, never from a backlog. When the screen stops changing,
    at most one stale update is still on its way before the latest frame, whole and exact."""
    with Animation(served.display, SCREEN, RATE, noise=True) as animation:
        async with trio.open_nursery() as nursery:
            fast = Watcher(await served.connect(), SCREEN, continuous=True)
            links = [SlowLink(await served.connect(), SLOW_RATE) for _ in range(2)]
            slow = [
                Watcher(link, SCREEN, continuous=c)
                for link, c in zip(links, (True, False), strict=True)
            ]
            for link in links:
                nursery.start_soon(link.pump)
            for watcher in (fast, *slow):
                nursery.start_soon(watcher.run)
            await trio.sleep(WARM_UP)
            window = await measure(WINDOW)
            last = animation.stop()
            stopped = time.monotonic()
            behind = await wait_until_all_show([fast, *slow], last, timeout=10 * SLOW_UPDATE)
            truth = served.truth()
            nursery.cancel_scope.cancel()
        await close([fast, *slow])
    fast_frames = fast.frames_between(window.start, window.end)
    assert len(fast_frames) >= 0.6 * window.painted(animation), fast_frames
    for watcher in slow:
        kind = "continuous" if watcher.continuous else "by request"
        frames = watcher.frames_between(window.start, window.end)
        assert 2 <= len(frames) <= len(fast_frames) / 3, f"{kind}: frames {frames}"
        lags = watcher.lags(animation.painted, window.start, window.end)
        assert max(lags) < 2 * SLOW_UPDATE, f"{kind}: lags {[round(lag, 2) for lag in lags]}"
        stale = [n for t, n in watcher.updates if t >= stopped and n != last]
        assert len(stale) <= 1, f"{kind}: after frame {last}, still got frames {stale}"
    assert not behind, behind
    assert_pictures_exact([fast, *slow], truth)


#: Viewers at once in the crowd test: above the old default cap of 16, below today's 64.
CROWD = 50
#: The crowd watches this box change colour 20 times a second: small updates.
SMALL = Box(100, 80, 64, 64)
#: Distinct frames per second each viewer must get at least, of 20 (loose on purpose).
CROWD_RATE = 5.0


async def test_fifty_viewers_are_all_served(served: Served):
    """50 viewers (half with continuous updates, half by request) on one vncd, a box changing
    at 20 Hz: all are admitted, each sees at least 5 of its frames a second, and when it
    stops every picture equals the display, pixel for pixel."""
    with Animation(served.display, SMALL, RATE, noise=False) as animation:
        async with trio.open_nursery() as nursery:
            crowd = [
                Watcher(await served.connect(), SMALL, continuous=index % 2 == 0)
                for index in range(CROWD)
            ]
            for watcher in crowd:
                nursery.start_soon(watcher.run)
            # A viewer that is turned away fails its handshake, and with it the test.
            with trio.move_on_after(10):
                while any(watcher.shown() is None for watcher in crowd):
                    await trio.sleep(0.05)
            showing = sum(watcher.shown() is not None for watcher in crowd)
            assert showing == CROWD, f"{showing} of {CROWD} viewers show the screen"
            window = await measure(WINDOW)
            last = animation.stop()
            behind = await wait_until_all_show(crowd, last, timeout=10)
            truth = served.truth()
            nursery.cancel_scope.cancel()
        await close(crowd)
    rates = sorted(len(set(w.frames_between(window.start, window.end))) / WINDOW for w in crowd)
    assert rates[0] >= CROWD_RATE, f"distinct frames/s per viewer: {rates}"
    assert not behind, behind
    assert_pictures_exact(crowd, truth)
