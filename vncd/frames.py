"""The capture loop and how its frames and damage reach the sessions.

Capture is driven by the desktop: a source that reports damage (X DAMAGE, the demo desktop)
wakes the loop when something changed, so a static screen costs nothing; other sources are
polled ``max_fps`` times a second. Nothing is captured while no viewer is subscribed. Each
captured frame is compared with the previous one *once*, inside the reported damage only, and
the exact boxes that changed are added to every subscription's ``Region``: a slow viewer
accumulates damage (latest pixels win), capture never waits for anyone, and no viewer keeps a
copy of the screen or compares pixels itself.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
import numpy as np
import trio

from .moves import Move, copy_order, find_move
from .region import Box, Region, bounds, subtract_all
from .sources.base import Source, SourceError

log = logging.getLogger(__name__)

#: Tile edge in pixels for finding changes inside a damaged box: small enough that a one-pixel
#: change costs little, large enough that the tile mask stays tiny.
TILE = 32


def tile_grid(width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of tiles covering a width × height area."""
    return math.ceil(height / TILE), math.ceil(width / TILE)


def changed_pixels(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Boolean (H, W) mask of pixels whose B, G, R bytes differ (the X byte is ignored).

    Compares 32-bit words, about 20× cheaper than comparing the (H, W, 4) bytes."""
    mask = np.uint32(0x00FFFFFF)
    return ((old.view(np.uint32)[..., 0] ^ new.view(np.uint32)[..., 0]) & mask) != 0


def tiles_of(differs: np.ndarray) -> np.ndarray:
    """Boolean (rows, columns) tile mask of a pixel mask: which tiles hold a True."""
    height, width = differs.shape
    rows, columns = tile_grid(width, height)
    if height % TILE or width % TILE:
        padded = np.zeros((rows * TILE, columns * TILE), dtype=bool)
        padded[:height, :width] = differs
        differs = padded
    by_row = differs.reshape(rows, TILE, columns * TILE).any(axis=1)
    return by_row.reshape(rows, columns, TILE).any(axis=2)


def tile_runs(tiles: np.ndarray) -> list[Box]:
    """Merge a tile mask into few boxes (in tiles): runs along each row, then equal runs of
    consecutive rows joined vertically."""
    boxes: list[Box] = []
    open_runs: dict[tuple[int, int], list[int]] = {}  # (first, end column) → [first row, rows]
    for row in [*np.flatnonzero(tiles.any(axis=1)).tolist(), tiles.shape[0] + 1]:
        if row < tiles.shape[0]:
            line = np.concatenate(([False], tiles[row], [False]))
            edges = np.flatnonzero(line[1:] != line[:-1])
            runs = set(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
        else:
            runs = set()
        for run in list(open_runs):
            first, count = open_runs[run]
            if run not in runs or first + count != row:
                del open_runs[run]
                boxes.append(Box(run[0], first, run[1] - run[0], count))
        for run in runs:
            if run in open_runs:
                open_runs[run][1] += 1
            else:
                open_runs[run] = [row, 1]
    return boxes


def changed_boxes(old: np.ndarray, new: np.ndarray, within: list[Box]) -> list[Box]:
    """Exact boxes around the pixels that differ between two same-shaped frames, looking only
    inside ``within`` (the damage the desktop reported)."""
    found: list[Box] = []
    for area in within:
        rows, columns = area.slices()
        differs = changed_pixels(old[rows, columns], new[rows, columns])
        for run in tile_runs(tiles_of(differs)):
            top, left = run.y * TILE, run.x * TILE
            part = differs[top : top + run.height * TILE, left : left + run.width * TILE]
            changed_rows = np.flatnonzero(part.any(axis=1))
            changed_columns = np.flatnonzero(part.any(axis=0))
            found.append(
                Box(
                    area.x + left + int(changed_columns[0]),
                    area.y + top + int(changed_rows[0]),
                    int(changed_columns[-1] - changed_columns[0]) + 1,
                    int(changed_rows[-1] - changed_rows[0]) + 1,
                )
            )
    return found


#: Damage in at most this many boxes, covering at most this share of the frame, is grabbed
#: box by box into the current buffer; more is grabbed whole (one XShm request for 1080p
#: costs about as much as copying the frame).
PATCH_BOXES = 16
PATCH_AREA = 0.25


def _tiles(box: Box) -> tuple[slice, slice]:
    """The rows and columns of the TILE x TILE tiles that ``box`` touches."""
    return (
        slice(box.y // TILE, -(-box.bottom // TILE)),
        slice(box.x // TILE, -(-box.right // TILE)),
    )


def _read_only(pixels: np.ndarray) -> np.ndarray:
    view = pixels.view()
    view.flags.writeable = False
    return view


@attrs.frozen(slots=True)
class Frame:
    """A captured frame: canonical BGRX pixels, read-only to all but the bus. The bus may
    patch a frame's pixels in place with the next change (whose damage it then publishes),
    so what a reader sees is current, not frozen: taking all damage keeps it right."""

    pixels: np.ndarray
    serial: int

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def box(self) -> Box:
        return Box(0, 0, self.width, self.height)


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


#: A copy smaller than this is sent as pixels: a CopyRect header costs about as much.
MIN_COPY_AREA = 32 * 32


class Subscription:
    """One session's view of the bus: the damage accumulated since it last took it, and at
    most one pending copy: the part of a move (a scroll, a dragged window) the viewer can do
    itself, from pixels it shows."""

    def __init__(self, bus: FrameBus, wakeup: Wakeup) -> None:
        self._bus = bus
        self.wakeup = wakeup
        self._region = Region()
        self._copy: Move | None = None
        self._everything = True  # no frame seen yet, or a size change: send it all
        #: The viewer takes CopyRect (its SetEncodings said so): moves become copies.
        self.accepts_moves = False
        #: When the oldest damage not taken yet arrived (None: none waits), for the
        #: damage-to-send latency (vncd.metrics): ``time.perf_counter()``, real time even
        #: under a test's clock, and callable outside Trio like the rest of this class.
        self.changed_since: float | None = None

    def add_damage(self, boxes: list[Box] | None, move: Move | None = None) -> None:
        """Add changed boxes; None means everything (a new size, the first frame). ``move``:
        part of the change is old pixels moved (inside ``boxes``), which the viewer may
        copy instead of being sent them."""
        if self.changed_since is None:
            self.changed_since = time.perf_counter()
        if boxes is None:
            self._everything = True
            self._copy = None
        elif not self._everything:
            copied = self._copy_of(move) if move is not None else []
            for box in subtract_all(boxes, copied):
                self._region.add(box)
        self.wakeup.set()

    def _copy_of(self, move: Move) -> list[Box]:
        """Take on ``move`` as this viewer's copy where its picture holds the source pixels
        (not where damage is still pending); the destination boxes copied."""
        if not self.accepts_moves or self._copy is not None:
            return []  # one copy per update, as TigerVNC: the second move goes as pixels
        stale = [box.moved(move.dx, move.dy) for box in self._region.boxes]
        copied = [
            box
            for box in copy_order(subtract_all(move.boxes, stale), move.dx, move.dy)
            if box.area >= MIN_COPY_AREA
        ]
        if copied:
            self._copy = Move(move.dx, move.dy, tuple(copied))
        return copied

    def take_copy(self, within: Box | None = None) -> Move | None:
        """The pending copy, to go before the damage of the same update; when it does not
        fit ``within`` (or the viewer no longer takes CopyRect), its boxes become damage."""
        copy, self._copy = self._copy, None
        if copy is None:
            return None
        if self.accepts_moves and (within is None or all(map(within.contains, copy.boxes))):
            return copy
        for box in copy.boxes:
            self._region.add(box)
        return None

    def take_damage(self, within: Box | None = None) -> tuple[Frame | None, list[Box]]:
        """The latest frame and the boxes changed since the last call (clipped to ``within``;
        damage outside it stays pending). Frame and damage always belong together."""
        frame = self._bus.latest
        if frame is None:
            return None, []
        if self._everything:
            self._everything = False
            self._region = Region()
            self._region.add(frame.box)
        taken = [box.intersect(frame.box) for box in self._region.take(within)]
        if not self._region.boxes:
            self.changed_since = None
        return frame, taken

    def has_damage(self, within: Box | None = None) -> bool:
        """Whether a frame exists with damage or a copy (inside ``within``) not taken yet."""
        if self._bus.latest is None:
            return False
        if self._everything:
            return within is None or not within.intersect(self._bus.latest.box).empty
        pending = self._region.boxes + list(self._copy.boxes if self._copy else ())
        return any(within is None or not box.intersect(within).empty for box in pending)


@attrs.frozen
class BusStatistics:
    frames_captured: int = 0
    frames_changed: int = 0
    capture_seconds: float = 0.0
    damage_reports: int = 0
    moves_found: int = 0
    subscribers: int = 0


class FrameBus:
    """Runs the capture loop for the subscribed sessions and fans damage out to them."""

    def __init__(
        self,
        source: Source,
        max_fps: float,
        run_sync: Callable[..., Awaitable[Any]] = trio.to_thread.run_sync,
        on_capture: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._source = source
        #: Told each capture's duration in seconds (vncd.metrics' histogram).
        self._on_capture = on_capture
        #: Runs capture and comparison off the Trio thread (tests run them inline, so that
        #: the autojump clock sees every step).
        self._run_sync = run_sync
        #: The writeable pixels behind ``latest`` (only the capture thread writes them).
        self._buffer: np.ndarray | None = None
        #: Sources that do not say (third-party ones) are polled.
        self._reports_damage: bool = getattr(source, "reports_damage", False)
        #: Sources that can grab a box alone (sources.base.CapturesRegions), else None.
        self._capture_region = getattr(source, "capture_region", None)
        self._interval = 1.0 / max_fps
        self._subscriptions: set[Subscription] = set()
        self._changed = Wakeup()  # damage reported, or a subscriber needs a fresh frame
        self._subscribed = Wakeup()
        self._hint: list[Box] | None = None  # damage reported since the last capture
        self._next_capture = -math.inf
        #: Since when a capture is owed (damage reported, or a new viewer needs a frame) that
        #: no capture has taken on yet, and since when the capture under way has been owed;
        #: None while there is none (see ``overdue``).
        self._owed_since: float | None = None
        self._capture_owed_since: float | None = None
        self._fresh = False  # whether latest is current (captured with someone subscribed)
        self.latest: Frame | None = None
        self._serial = 0
        #: Per TILE x TILE tile of the latest frame: the serial of the frame that last changed it.
        self._versions = np.zeros((0, 0), np.int64)
        self._frames_captured = 0
        self._frames_changed = 0
        self._capture_seconds = 0.0
        self._damage_reports = 0
        self._moves_found = 0

    def subscribe(self, wakeup: Wakeup) -> Subscription:
        subscription = Subscription(self, wakeup)
        if not self._fresh:
            # Nobody watched the screen (so nobody else is subscribed): the last frame may be
            # stale, and a new viewer must not be shown it. Capture anew, all of it.
            self.latest = None
            self._report(None)
        self._subscriptions.add(subscription)
        self._subscribed.set()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if not self._subscriptions and not self._reports_damage:
            self._fresh = False  # from now on, changes go unseen

    def statistics(self) -> BusStatistics:
        return BusStatistics(
            frames_captured=self._frames_captured,
            frames_changed=self._frames_changed,
            capture_seconds=self._capture_seconds,
            damage_reports=self._damage_reports,
            moves_found=self._moves_found,
            subscribers=len(self._subscriptions),
        )

    def overdue(self, now: float) -> float:
        """How long a capture has been owed without one finishing (0: none is owed): a few
        frame slots at most while capture works, growing while it hangs (/readyz)."""
        owed = [t for t in (self._owed_since, self._capture_owed_since) if t is not None]
        return now - min(owed) if owed else 0.0

    def _report(self, boxes: list[Box] | None) -> None:
        """Damage from the desktop (None: anything may have changed)."""
        if boxes is None or self._hint is None:
            self._hint = None
        else:
            self._hint.extend(boxes)
        if self._owed_since is None:
            self._owed_since = trio.current_time()
        self._changed.set()

    async def capture_now(self) -> Frame | None:
        """Capture one frame, publish it with the exact damage inside the reported hint, and
        return it (None when nothing changed)."""
        hint, self._hint = self._hint, []
        started = trio.current_time()
        owed = started if self._owed_since is None else self._owed_since
        self._capture_owed_since, self._owed_since = owed, None
        previous = self.latest
        moves = any(subscription.accepts_moves for subscription in self._subscriptions)
        captured, boxes, move = await self._run_sync(
            self._capture_and_compare, previous, hint, moves
        )
        elapsed = trio.current_time() - started
        self._frames_captured += 1
        self._capture_seconds += elapsed
        self._on_capture(elapsed)
        self._capture_owed_since = None
        self._fresh = True
        if boxes == []:
            return None
        if captured is not None:  # a whole new buffer; else the current one was patched
            self._buffer = captured
        assert self._buffer is not None
        self._serial += 1  # never reused: shared encodings are filed by it
        frame = Frame(_read_only(self._buffer), self._serial)
        self.latest = frame
        self._note_versions(frame, boxes)
        self._frames_changed += 1
        if move is not None:
            self._moves_found += 1
        for subscription in self._subscriptions:
            subscription.add_damage(boxes, move)
        return frame

    def version(self, boxes: Iterable[Box]) -> int:
        """The serial of the last frame that changed anything in ``boxes`` of the latest
        frame: while it stays the same, so do their pixels, so viewers that encode them
        then, in step or not, may share one encoding."""
        versions = self._versions
        return max((int(versions[_tiles(box)].max()) for box in boxes if not box.empty), default=0)

    def _note_versions(self, frame: Frame, boxes: list[Box] | None) -> None:
        grid = tile_grid(frame.width, frame.height)
        if boxes is None or self._versions.shape != grid:
            self._versions = np.full(grid, frame.serial, np.int64)
        else:
            for box in boxes:
                self._versions[_tiles(box)] = frame.serial

    def _capture_and_compare(
        self, previous: Frame | None, hint: list[Box] | None, moves: bool
    ) -> tuple[np.ndarray | None, list[Box] | None, Move | None]:
        """In a worker thread: a new whole capture (None: the current buffer was patched in
        place instead), the boxes that changed (None: all of them) and, if ``moves`` (some
        viewer can copy), the move among those changes."""
        if previous is not None and hint is not None:
            patched = self._patch(previous.pixels, hint, moves)
            if patched is not None:
                return None, *patched
        captured = self._source.capture()
        if previous is None or previous.pixels.shape != captured.shape:
            return captured, None, None
        # Compared everywhere, not only inside the hint: the desktop went on drawing since it
        # reported the hint, and what the grab caught outside it would never be found again
        # (its own report comes once the buffer holds it already).
        boxes = changed_boxes(previous.pixels, captured, [Box(0, 0, *captured.shape[1::-1])])
        return captured, boxes, find_move(previous.pixels, captured, boxes) if moves else None

    def _patch(
        self, pixels: np.ndarray, hint: list[Box], moves: bool
    ) -> tuple[list[Box], Move | None] | None:
        """Grab only the damaged boxes into the current buffer, in place; the boxes that
        changed and the move among them, or None when a whole capture is cheaper (or the
        source cannot grab boxes).

        Readers of the frame may see a patch half written: its damage is published after
        the write, so they send those pixels again with their next update."""
        frame = Box(0, 0, pixels.shape[1], pixels.shape[0])
        if self._capture_region is None or len(hint) > PATCH_BOXES:
            return None
        if not all(frame.contains(box) for box in hint):
            return None  # the desktop grew: capture it whole, at its new size
        boxes = [box for box in hint if not box.empty]
        if sum(box.area for box in boxes) > frame.area * PATCH_AREA:
            return None
        found: list[Box] = []
        patches: list[tuple[Box, np.ndarray]] = []
        for box in boxes:
            try:
                patch = self._capture_region(box)
            except SourceError:
                raise
            except Exception:  # e.g. the screen shrank meanwhile: a whole capture will tell
                log.debug("grabbing %s failed: capturing the whole frame", box, exc_info=True)
                return None
            rows, columns = box.slices()
            for change in changed_boxes(pixels[rows, columns], patch, [Box(0, 0, *box.size)]):
                found.append(change.moved(box.x, box.y))
            patches.append((box, patch))
        # A move's source and destination both lie in the changed area: compare the
        # pixels there before and after the patches.
        area = bounds(found)
        changed = sum(box.area for box in found)
        # Far-apart changes make a big bounding box, costly to search: a window moved
        # diagonally by more than its size still fits (about 2.4 times its old and new place).
        look = moves and changed >= MIN_COPY_AREA and area.area <= 4 * changed
        before = pixels[area.slices()].copy() if look else None
        for box, patch in patches:
            self._buffer[box.slices()] = patch
        move = None
        if before is not None:
            inside = [box.moved(-area.x, -area.y) for box in found]
            move = find_move(before, pixels[area.slices()], inside)
        if move is not None:
            move = Move(move.dx, move.dy, tuple(box.moved(area.x, area.y) for box in move.boxes))
        return found, move

    async def run(self) -> None:
        """Capture whenever the desktop changed and someone is subscribed, at most
        ``max_fps`` times a second; never while nobody is subscribed."""
        async with trio.open_nursery() as nursery:
            if self._reports_damage:
                nursery.start_soon(self._follow_damage)
            else:
                nursery.start_soon(self._poll)
            while True:
                await self._changed.wait()
                if not self._subscriptions:
                    # The damage came while someone watched and they left before this
                    # capture: latest misses it, so the next subscriber must not be shown it.
                    self._fresh = False
                    self._owed_since = None
                    continue
                now = trio.current_time()
                if now < self._next_capture:
                    # The frame clock: what changes meanwhile is caught by this capture.
                    await trio.sleep_until(self._next_capture)
                if now >= self._next_capture + self._interval:
                    # A slot went unused: the clock restarts here, so a change after a quiet
                    # spell is captured at once.
                    self._next_capture = now + self._interval
                else:
                    # While changes keep coming the slots stay on their grid, so changes at
                    # max_fps with some jitter are all caught (a late one takes its slot).
                    self._next_capture += self._interval
                await self.capture_now()

    async def _follow_damage(self) -> None:
        while True:
            boxes = await self._source.wait_for_damage()
            self._damage_reports += 1
            if self._subscriptions:
                self._report(boxes)
            else:
                self._fresh = False

    async def _poll(self) -> None:
        """Sources that cannot tell what changed: look everywhere, max_fps times a second."""
        while True:
            if not self._subscriptions:
                await self._subscribed.wait()
            self._report(None)
            await trio.sleep(self._interval)
