"""Scrolled and dragged areas between two frames, for CopyRect (rfbproto 7.7.2).

When an xterm scrolls or a window is dragged, most changed pixels are old pixels moved by one
offset: a CopyRect costs 16 bytes where their encoding costs kilobytes. ``find_move`` narrows
the changed boxes to the pixels that differ, proposes offsets by looking a few detailed blocks
of the new frame up in the old one (through hashes of runs of pixels), then compares the whole
destination under each offset, tile by tile, so every pixel it returns has been checked: it
never guesses.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import attrs
import numpy as np

from .region import Box, bounds

#: Side of the square tiles an offset is verified on, aligned to the destination; the boxes
#: they form are then widened to the pixel into the tiles around that match in part.
TILE = 16
#: Changed pixels a move must cover. Below this (a 64x32 area) the copy, and the extra
#: rectangles the damage left to encode splits into, cost about what the pixels would. There
#: is no threshold relative to the changed area: a dragged window saves the same bytes however
#: much else changed in the frame.
MIN_MOVED_AREA = 64 * 32
#: A block of the new frame looked up in the old one: big enough to have one place in a page of
#: text, small enough to fit inside the moved area.
ANCHOR_WIDTH, ANCHOR_HEIGHT = 32, 16
#: Neighbouring pixels that must differ inside an anchor: a flat block is found everywhere, and
#: one across a straight edge all along it (too many places, see MAX_PLACES). So a solid area
#: "moved" onto a solid area proposes nothing: copying it would save nothing over the
#: encoders' solid fills anyway.
MIN_ANCHOR_EDGES = 24
#: Where anchors are taken, as fractions of the changed pixels' bounds. The centre lies in a
#: scrolled or dragged area unless it moved by more than half its size; the quarters catch that.
ANCHOR_POINTS = ((0.5, 0.5), (0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))
#: The blocks tried around each point, in anchor sizes: the point's own first.
NEIGHBOURS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1))
#: Rows of the old frame whose anchor-wide runs are hashed for the search: every fourth. An
#: anchor-sized place holds four of them, one per fourth row of the anchor, so the anchor is
#: found through any detailed one of its rows 0, 4, 8, 12 (or 1, 5, 9, 13 ...): text lines
#: have blank rows, which match everywhere and cannot be looked up.
SAMPLE_SPACING = 4
#: The multiplier of the polynomial hash of runs of pixels, mod 2**32 (uint32 arithmetic wraps
#: and the pixels need no widening); odd, so invertible. A false match costs one comparison of
#: a block: every place found is checked pixel by pixel.
HASH_BASE = 0x9E3779B1
#: Places whose hashed row matches an anchor's, at most; more means repeating content, skipped.
MAX_PLACES = 64
#: Offsets an anchor may propose; more means the content repeats and the anchor is skipped.
MAX_SHIFTS_PER_ANCHOR = 4
#: Offsets verified per frame at most: each costs a comparison of the changed area.
MAX_VERIFIED = 4
#: Copy boxes kept at most (the largest): each is a rectangle header, and the damage left to
#: encode splits around every one.
MAX_BOXES = 16


@attrs.frozen
class Move:
    """Pixels that moved between two frames: ``new[y, x] == old[y - dy, x - dx]`` in every box.

    The boxes are destinations in the new frame, in an order a viewer may copy them one after
    the other (a FramebufferUpdate's rectangles are applied in order): no box overwrites the
    source of a later one. ``source`` gives a CopyRect's src-x/src-y position (rfbproto
    7.7.2). The copies go before the update's encoded rectangles, which may cover sources, and
    read the viewer's framebuffer: it must hold ``old`` over the sources."""

    dx: int
    dy: int
    boxes: tuple[Box, ...]

    def source(self, box: Box) -> Box:
        return box.moved(-self.dx, -self.dy)


def find_move(old: np.ndarray, new: np.ndarray, changed: Sequence[Box]) -> Move | None:
    """The biggest worthwhile move from ``old`` to ``new`` ((H, W, 4) uint8 frames) inside the
    ``changed`` boxes, or None. One offset per frame, as TigerVNC sends one copy delta per
    update: a scroll or a drag moves everything by the same offset."""
    if old.shape != new.shape:
        return None  # a resized screen has nothing to copy from
    frame = Box(0, 0, old.shape[1], old.shape[0])
    boxes = [inside for box in changed if not (inside := box.intersect(frame)).empty]
    if sum(box.area for box in boxes) < MIN_MOVED_AREA:
        return None
    changes = _Changes.compare(_pixels(old), _pixels(new), boxes)
    if changes is None:
        return None
    best: _Candidate | None = None
    for shift in itertools.islice(changes.proposals(), MAX_VERIFIED):
        candidate = changes.verify(*shift)
        if candidate is not None and (best is None or candidate.score > best.score):
            best = candidate
            if best.complete:
                break
    return None if best is None else best.move


def _pixels(frame: np.ndarray) -> np.ndarray:
    """A BGRX frame as one uint32 per pixel (no copy): one comparison per pixel, not four."""
    return frame.view(np.uint32)[..., 0]


@attrs.frozen
class _Candidate:
    """A verified offset and how much it is worth."""

    move: Move
    #: Changed pixels the move covers.
    score: int
    #: Whether it covers every changed pixel its offset could: no other offset can do better.
    complete: bool


@attrs.frozen(eq=False)
class _Changes:
    """Where two frames differ inside the changed boxes, and the searches over it."""

    old: np.ndarray
    new: np.ndarray
    #: The bounds of the changed boxes: ``difference`` and ``inside`` cover it.
    outer: Box
    #: Which pixels differ (only inside the changed boxes).
    difference: np.ndarray
    #: Which pixels lie in a changed box, or None when ``outer`` is the only one.
    inside: np.ndarray | None
    #: The bounds of the pixels that differ: a dragged window's old and new places, a scrolled
    #: area. A move's sources and destinations lie in it.
    tight: Box

    @classmethod
    def compare(cls, old: np.ndarray, new: np.ndarray, boxes: list[Box]) -> _Changes | None:
        outer = bounds(boxes)
        difference = old[outer.slices()] != new[outer.slices()]
        inside = None
        if len(boxes) > 1:
            inside = np.zeros((outer.height, outer.width), bool)
            for box in boxes:
                inside[box.moved(-outer.x, -outer.y).slices()] = True
            difference &= inside
        rows = np.flatnonzero(difference.any(axis=1))
        if not len(rows):
            return None
        columns = np.flatnonzero(difference.any(axis=0))
        tight = Box(
            outer.x + int(columns[0]),
            outer.y + int(rows[0]),
            int(columns[-1] - columns[0]) + 1,
            int(rows[-1] - rows[0]) + 1,
        )
        if tight.area < MIN_MOVED_AREA:
            return None
        return cls(old, new, outer, difference, inside, tight)

    def proposals(self) -> Iterator[tuple[int, int]]:
        """Offsets worth verifying, each once, in the order the anchors propose them."""
        proposed: set[tuple[int, int]] = set()
        runs = None  # hashed once the first anchor needs them
        for anchor in self.anchors():
            if runs is None:
                tight = self.tight
                rows = self.old[tight.y : tight.bottom : SAMPLE_SPACING, tight.x : tight.right]
                runs = _run_hashes(rows)
            for shift in self.shifts_of(anchor, runs):
                if shift not in proposed:
                    proposed.add(shift)
                    yield shift

    def anchors(self) -> Iterator[tuple[int, int]]:
        """Top-left corners of changed, detailed blocks of the new frame, spread over the
        change: near each of ``ANCHOR_POINTS``, the most detailed of nine blocks."""
        tight = self.tight
        if tight.width < ANCHOR_WIDTH or tight.height < ANCHOR_HEIGHT:
            return
        seen: set[tuple[int, int]] = set()
        for fx, fy in ANCHOR_POINTS:
            cx = tight.x + round(fx * tight.width) - ANCHOR_WIDTH // 2
            cy = tight.y + round(fy * tight.height) - ANCHOR_HEIGHT // 2
            details: dict[tuple[int, int], int] = {}
            for ox, oy in NEIGHBOURS:
                x = min(max(cx + ox * ANCHOR_WIDTH, tight.x), tight.right - ANCHOR_WIDTH)
                y = min(max(cy + oy * ANCHOR_HEIGHT, tight.y), tight.bottom - ANCHOR_HEIGHT)
                if (x, y) not in seen:
                    details[x, y] = self._detail(x, y)
            if not details:
                continue
            # ``max`` keeps the first of equally detailed blocks: the one nearest the point.
            place = max(details, key=details.__getitem__)
            seen.add(place)
            if details[place] >= MIN_ANCHOR_EDGES:
                yield place

    def _changed_in(self, box: Box) -> int:
        """How many pixels of ``box`` (inside ``outer``) differ."""
        local = box.moved(-self.outer.x, -self.outer.y)
        return int(np.count_nonzero(self.difference[local.slices()]))

    def _detail(self, x: int, y: int) -> int:
        """Neighbouring pixels that differ in the block at (x, y) of the new frame; 0 when the
        block did not change (it cannot have moved)."""
        block = Box(x, y, ANCHOR_WIDTH, ANCHOR_HEIGHT)
        if not self._changed_in(block):
            return 0
        pixels = self.new[block.slices()]
        return int(np.count_nonzero(pixels[:, 1:] != pixels[:, :-1])) + int(
            np.count_nonzero(pixels[1:] != pixels[:-1])
        )

    def shifts_of(self, anchor: tuple[int, int], runs: np.ndarray) -> list[tuple[int, int]]:
        """The offsets (dx, dy) under which the anchor block of the new frame comes from a
        place of the old one in ``tight``, nearest first; none when it is found in too many
        places to tell. ``runs`` are the hashes of the old frame's runs in ``tight`` on every
        SAMPLE_SPACING-th row: ``[r, x]`` for the run from (tight.x + x, tight.y + r * spacing).
        """
        ax, ay = anchor
        block = self.new[ay : ay + ANCHOR_HEIGHT, ax : ax + ANCHOR_WIDTH]
        hashes = _run_hashes(block)[:, 0]
        detail = np.count_nonzero(block[:, 1:] != block[:, :-1], axis=1)
        tight = self.tight
        tops, lefts = [], []
        for phase in range(SAMPLE_SPACING):
            row = phase + SAMPLE_SPACING * int(np.argmax(detail[phase::SAMPLE_SPACING]))
            if detail[row]:
                sampled, left = np.divmod(np.flatnonzero(runs == hashes[row]), runs.shape[1])
                tops.append(tight.y + sampled * SAMPLE_SPACING - row)
                lefts.append(tight.x + left)
        if not tops:
            return []
        y, x = np.concatenate(tops), np.concatenate(lefts)
        if not len(y) or len(y) > MAX_PLACES:
            return []
        fits = (y >= 0) & (y <= self.old.shape[0] - ANCHOR_HEIGHT)
        y, x = y[fits], x[fits]
        rows = np.arange(ANCHOR_HEIGHT)[:, None]
        columns = np.arange(ANCHOR_WIDTH)
        same = (self.old[y[:, None, None] + rows, x[:, None, None] + columns] == block).all(
            axis=(1, 2)
        )
        shifts = {(ax - int(sx), ay - int(sy)) for sx, sy in zip(x[same], y[same], strict=True)}
        shifts.discard((0, 0))
        if len(shifts) > MAX_SHIFTS_PER_ANCHOR:
            return []
        return sorted(shifts, key=lambda shift: (abs(shift[0]) + abs(shift[1]), shift))

    def verify(self, dx: int, dy: int) -> _Candidate | None:
        """The move by (dx, dy) over the destination's tiles that match entirely, widened to
        the pixel, or None when it is not worth a copy. The destination is where a source in
        ``tight`` lands: a dragged window's new place, a scrolled area less its new lines."""
        tight = self.tight
        destination = tight.intersect(tight.moved(dx, dy))
        if destination.area < MIN_MOVED_AREA:
            return None
        source = destination.moved(-dx, -dy)
        matches = self.new[destination.slices()] == self.old[source.slices()]
        if self.inside is not None:
            matches &= self.inside[destination.moved(-self.outer.x, -self.outer.y).slices()]
        tiles = _tiles_matching(matches)
        bands = _grow(_bands(tiles), matches)
        boxes = copy_order(
            (
                Box(destination.x + start, destination.y + band.top, stop - start, height)
                for band in bands
                if (height := band.bottom - band.top) > 0
                for start, stop in band.runs
            ),
            dx,
            dy,
        )
        if len(boxes) > MAX_BOXES:
            kept = set(sorted(boxes, key=lambda box: box.area, reverse=True)[:MAX_BOXES])
            boxes = [box for box in boxes if box in kept]
        score = sum(self._changed_in(box) for box in boxes)
        if score < MIN_MOVED_AREA:
            return None
        complete = score == self._changed_in(destination)
        return _Candidate(Move(dx, dy, tuple(boxes)), score, complete)


def _run_hashes(rows: np.ndarray) -> np.ndarray:
    """The hash of every ANCHOR_WIDTH-pixel run of each row (``[r, x]`` for the run from x):
    the sum of pixel * HASH_BASE**i over the run. Prefix sums of pixel * HASH_BASE**x give it
    times HASH_BASE**start, which the inverse power takes away."""
    width = rows.shape[1]
    powers, inverse_powers = _powers(width)
    prefix = rows * powers
    np.cumsum(prefix, axis=1, dtype=np.uint32, out=prefix)
    runs = prefix[:, ANCHOR_WIDTH - 1 :].copy()
    runs[:, 1:] -= prefix[:, :-ANCHOR_WIDTH]
    runs *= inverse_powers[: runs.shape[1]]
    return runs


def _powers(count: int) -> tuple[np.ndarray, np.ndarray]:
    """HASH_BASE**i and its inverse for i < count, mod 2**32."""
    powers = np.ones(count, np.uint32)
    inverse_powers = np.ones(count, np.uint32)
    powers[1:] = np.cumprod(np.full(count - 1, HASH_BASE, np.uint32), dtype=np.uint32)
    inverse = pow(HASH_BASE, -1, 2**32)
    inverse_powers[1:] = np.cumprod(np.full(count - 1, inverse, np.uint32), dtype=np.uint32)
    return powers, inverse_powers


def _tiles_matching(matches: np.ndarray) -> np.ndarray:
    """Which TILE x TILE tiles (the last row and column narrower) match entirely. Rows of
    tiles are reduced through reshapes, which numpy runs far faster than ``reduceat``."""
    height, width = matches.shape
    full = height - height % TILE
    rows = matches[:full].reshape(-1, TILE, width).all(axis=1)
    if full < height:
        rows = np.vstack([rows, matches[full:].all(axis=0)])
    full = width - width % TILE
    tiles = rows[:, :full].reshape(len(rows), -1, TILE).all(axis=2)
    if full < width:
        tiles = np.hstack([tiles, rows[:, full:].all(axis=1, keepdims=True)])
    return tiles


@attrs.define
class _Band:
    """Rows of the destination whose moved columns are the same runs (pixels, half-open)."""

    top: int
    bottom: int
    runs: list[tuple[int, int]]


def _bands(tiles: np.ndarray) -> list[_Band]:
    """The matching tiles as bands (in pixels of the destination): runs of tiles in each row,
    rows with the same runs merged. Bands never share rows, which keeps the copy order simple
    (see ``copy_order``)."""
    padded = np.zeros((tiles.shape[0], tiles.shape[1] + 2), np.int8)
    padded[:, 1:-1] = tiles
    rows, edges = np.nonzero(np.diff(padded, axis=1))
    runs: list[list[tuple[int, int]]] = [[] for _ in range(tiles.shape[0])]
    for row, start, stop in zip(rows[::2], edges[::2], edges[1::2], strict=True):
        runs[row].append((int(start) * TILE, int(stop) * TILE))
    bands: list[_Band] = []
    for row, row_runs in enumerate(runs):
        if not row_runs:
            continue
        if bands and bands[-1].bottom == row * TILE and bands[-1].runs == row_runs:
            bands[-1].bottom += TILE
        else:
            bands.append(_Band(row * TILE, (row + 1) * TILE, row_runs))
    return bands


def _grow(bands: list[_Band], matches: np.ndarray) -> list[_Band]:
    """The bands widened, then (when they hold one run) heightened, into the pixels of the
    partly matching tiles around them, clipped to the destination: the tiles are aligned to
    the destination, not to the moved window, whose edges lie anywhere in them. Two runs never
    meet in a tile between them: it would have matched entirely."""
    height, width = matches.shape
    reach = TILE - 1
    for band in bands:
        band.bottom = min(band.bottom, height)
        rows = matches[band.top : band.bottom]
        band.runs = [
            (
                start - _leading(rows[:, max(0, start - reach) : start].all(axis=0)[::-1]),
                min(stop, width) + _leading(rows[:, min(stop, width) : stop + reach].all(axis=0)),
            )
            for start, stop in band.runs
        ]
    floor = 0
    for index, band in enumerate(bands):
        ceiling = bands[index + 1].top if index + 1 < len(bands) else height
        if len(band.runs) == 1:
            start, stop = band.runs[0]
            above = matches[max(floor, band.top - reach) : band.top, start:stop].all(axis=1)
            below = matches[band.bottom : min(ceiling, band.bottom + reach), start:stop].all(axis=1)
            band.top -= _leading(above[::-1])
            band.bottom += _leading(below)
        floor = band.bottom
    return bands


def _leading(flags: np.ndarray) -> int:
    """How many of ``flags`` are true before the first false one."""
    return len(flags) if flags.all() else int(np.argmin(flags))


def copy_order(boxes: Iterable[Box], dx: int, dy: int) -> list[Box]:
    """Disjoint destination boxes of one move by (dx, dy), cut into bands of rows, in an order
    safe to copy one after the other.

    Every source lies where the content came from: copying the band nearest to where it goes
    first (the top one when it moves up) never overwrites a source still to be read, since
    bands share no rows; within a band the same holds for the runs. TigerVNC orders its copied
    region the same way."""
    boxes = [box for box in boxes if not box.empty]
    edges = sorted({box.y for box in boxes} | {box.bottom for box in boxes})
    bands: list[_Band] = []
    for top, bottom in itertools.pairwise(edges):
        runs: list[tuple[int, int]] = []
        for start, stop in sorted((b.x, b.right) for b in boxes if b.y <= top < b.bottom):
            if runs and runs[-1][1] == start:
                runs[-1] = (runs[-1][0], stop)  # touching runs copy as one
            else:
                runs.append((start, stop))
        if bands and bands[-1].bottom == top and bands[-1].runs == runs:
            bands[-1].bottom = bottom
        elif runs:
            bands.append(_Band(top, bottom, runs))
    ordered = bands if dy <= 0 else bands[::-1]
    return [
        Box(start, band.top, stop - start, band.bottom - band.top)
        for band in ordered
        for start, stop in (band.runs if dx <= 0 else band.runs[::-1])
    ]
