"""The capture loop and how its frames and damage reach the sessions.

One task captures the source at most ``max_fps`` times a second, compares each frame with the
previous one tile by tile and publishes the latest frame plus the changed tiles. Each session
holds a ``Subscription`` that *accumulates* damage (a boolean tile mask), so a slow viewer
coalesces many frames into one update (latest pixels win) and capture never waits for anyone.
The tile mask is only a hint of where to look: a session compares the latest frame with what
its viewer already has inside those tiles, so the damage it sends is exact.
"""

from __future__ import annotations

import logging
import math

import attrs
import numpy as np
import trio

from .sources.base import Source

log = logging.getLogger(__name__)

#: Tile edge in pixels for damage tracking: small enough that a one-pixel change costs little,
#: large enough that the mask stays tiny (60 × 34 for 1920×1080).
TILE = 32


def tile_grid(width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of tiles covering a width × height frame."""
    return math.ceil(height / TILE), math.ceil(width / TILE)


def changed_pixels(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Boolean (H, W) mask of pixels whose B, G, R bytes differ (the X byte is ignored).

    Compares 32-bit words, about 20× cheaper than comparing the (H, W, 4) bytes."""
    mask = np.uint32(0x00FFFFFF)
    return ((old.view(np.uint32)[..., 0] ^ new.view(np.uint32)[..., 0]) & mask) != 0


def changed_tiles(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Boolean (rows, columns) tile mask of where two same-shaped frames differ."""
    height, width = new.shape[:2]
    rows, columns = tile_grid(width, height)
    differs = changed_pixels(old, new)
    if height % TILE or width % TILE:
        padded = np.zeros((rows * TILE, columns * TILE), dtype=bool)
        padded[:height, :width] = differs
        differs = padded
    by_row = differs.reshape(rows, TILE, columns * TILE).any(axis=1)
    return by_row.reshape(rows, columns, TILE).any(axis=2)


@attrs.frozen(slots=True)
class Frame:
    """An immutable captured frame: canonical BGRX pixels, read-only."""

    pixels: np.ndarray
    serial: int

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]


class Wakeup:
    """A resettable flag a task can wait on: ``set()`` from anywhere in the Trio thread,
    ``await wait()`` returns once it is set and clears it."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = trio.Event()


class Subscription:
    """One session's view of the bus: accumulated damage since it last took it."""

    def __init__(self, bus: FrameBus, wakeup: Wakeup) -> None:
        self._bus = bus
        self.wakeup = wakeup
        self._damage: np.ndarray | None = None  # None: everything (no frame seen yet)

    def add_damage(self, tiles: np.ndarray | None) -> None:
        """OR a tile mask into the pending damage; None (or a new shape) means everything."""
        if tiles is None or self._damage is None or self._damage.shape != tiles.shape:
            self._damage = None
        else:
            self._damage |= tiles
        self.wakeup.set()

    def take_damage(self) -> tuple[Frame | None, np.ndarray | None]:
        """The latest frame and the damage accumulated since the last call (None: the whole
        frame), then start accumulating afresh. Frame and damage always belong together."""
        frame = self._bus.latest
        damage = self._damage
        if frame is not None:
            rows, columns = tile_grid(frame.width, frame.height)
            self._damage = np.zeros((rows, columns), dtype=bool)
            if damage is not None and damage.shape != (rows, columns):
                damage = None
        return frame, damage

    def has_damage(self) -> bool:
        return self._damage is None or bool(self._damage.any())


@attrs.define
class BusStatistics:
    frames_captured: int = 0
    frames_changed: int = 0
    capture_seconds: float = 0.0
    subscribers: int = 0


class FrameBus:
    """Runs the capture loop while anyone is subscribed and fans damage out to sessions."""

    def __init__(self, source: Source, max_fps: float) -> None:
        self._source = source
        self._interval = 1.0 / max_fps
        self._subscriptions: set[Subscription] = set()
        self._someone_subscribed = Wakeup()
        self.latest: Frame | None = None
        self._stats = BusStatistics()

    def subscribe(self, wakeup: Wakeup) -> Subscription:
        subscription = Subscription(self, wakeup)
        self._subscriptions.add(subscription)
        self._someone_subscribed.set()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def statistics(self) -> BusStatistics:
        return attrs.evolve(self._stats, subscribers=len(self._subscriptions))

    async def capture_now(self) -> Frame:
        """Capture one frame, publish it with its damage, and return it."""
        started = trio.current_time()
        pixels = await trio.to_thread.run_sync(self._source.capture)
        pixels.flags.writeable = False
        self._stats.frames_captured += 1
        self._stats.capture_seconds += trio.current_time() - started
        previous = self.latest
        if previous is not None and previous.pixels.shape == pixels.shape:
            tiles = await trio.to_thread.run_sync(changed_tiles, previous.pixels, pixels)
            if not tiles.any():
                return previous
        else:
            tiles = None
        frame = Frame(pixels, 0 if previous is None else previous.serial + 1)
        self.latest = frame
        self._stats.frames_changed += 1
        for subscription in self._subscriptions:
            subscription.add_damage(tiles)
        return frame

    async def run(self) -> None:
        """Capture forever; idle (no capturing at all) while nobody is subscribed."""
        while True:
            if not self._subscriptions:
                await self._someone_subscribed.wait()
                continue
            deadline = trio.current_time() + self._interval
            await self.capture_now()
            await trio.sleep_until(deadline)
