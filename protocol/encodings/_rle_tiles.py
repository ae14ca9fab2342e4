"""The tile coder TRLE and ZRLE share: a rectangle's pixels -> its tiles' bytes.

The rectangle is cut into tiles (TRLE 16x16, RFC 6143 7.7.5; ZRLE 64x64, rfbproto 7.7.8),
sent left to right, top to bottom, the last column and row narrower or shorter. Each tile is
a subencoding byte and a body: 0 raw CPIXELs, 1 one solid CPIXEL, 2-16 a palette of that many
CPIXELs and bit-packed indices, 128 plain RLE (CPIXEL + run length), 130-255 a palette of
(subencoding - 128) CPIXELs and palette RLE; TRLE adds 127 and 129, packed and palette RLE
reusing the previous tile's palette. Run lengths are ``255, 255, ..., (length - 1) % 255``.

The encoder sends every tile in whichever form is smallest, and does the least it can to
know which, for all tiles at once (nothing runs per tile in Python): a photograph's tiles
are nearly all raw, and deciding that must cost far less than deflating them.

* Every tile's runs are counted by comparing neighbours: one run is a solid tile.
* A tile whose colours cannot fit a palette (``_rle_palettes`` bounds them from a sample)
  and whose plain RLE cannot beat raw is raw, and nothing more is looked at.
* The other tiles' runs are listed; those that may have palettes get them (their colours
  counted exactly, with every run's palette index), which prices every form.
* Each tile's bytes go straight to their place in the output, every tile of one form at
  once: raw CPIXELs a byte plane at a time, records of runs as scattered words.
"""

from __future__ import annotations

import itertools
import math

import attrs
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._pixelformat import PixelFormat
from ._rle_cpixel import CPixel, cpixel_for
from ._rle_palettes import (
    MAX_PALETTE,
    SAMPLE,
    SAMPLE_RUNS,
    Colours,
    palette_index,
    part_index,
    pixel_sample,
    run_colours,
)

RAW = 0
SOLID = 1
MAX_PACKED = 16  # subencodings 2..16: packed palette
REUSE_PACKED = 127  # TRLE: packed, with the previous tile's palette
PLAIN_RLE = 128
REUSE_RLE = 129  # TRLE: palette RLE, with the previous tile's palette
PALETTE_RLE = 128  # + palette size 2..MAX_PALETTE


#: Bits per packed palette index by palette size 2..16 (rows are padded to whole bytes).
INDEX_BITS = (0, 0, 1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4)


# The encoder's candidate forms, in order of preference when two are the same size.
_SOLID, _PACKED, _PALETTE_RLE, _PLAIN_RLE, _RAW = range(5)
_IMPOSSIBLE = np.iinfo(np.int64).max // 4
#: Rounds of "this tile may reuse its predecessor's palette" propagation (TRLE).
_REUSE_ROUNDS = 3


@attrs.frozen
class _Group:
    """Tiles of one shape: one row of ``tiles`` per tile (its pixels' values, row-major),
    ``ids`` their positions in wire order."""

    tiles: np.ndarray
    ids: np.ndarray
    height: int
    width: int


def _groups(pixels: np.ndarray, cpixel: CPixel, size: int) -> list[_Group]:
    """The values of a rectangle's tiles in at most four groups of equal shape: whole
    tiles, the narrower last column, the shorter last row and the corner."""
    wire = cpixel.wire_values(pixels)
    height, width = wire.shape
    across = -(-width // size)
    bands = [(0, height // size * size, size), (height // size * size, height, height % size)]
    columns = [(0, width // size * size, size), (width // size * size, width, width % size)]
    groups = []
    for (top, bottom, tile_height), (left, right, tile_width) in itertools.product(bands, columns):
        if top == bottom or left == right:
            continue
        down, along = (bottom - top) // tile_height, (right - left) // tile_width
        # Copy whole rows of tiles' PIXELs: rows of the region, cut into tiles' rows and
        # put tile after tile.
        block = _rows_of(wire[top:bottom, left:right], tile_width)
        block = block.reshape(down, tile_height, along).swapaxes(1, 2)
        tiles = np.empty((down * along, tile_height * tile_width), cpixel.dtype)
        _rows_of(tiles, tile_width).reshape(block.shape)[...] = block
        cpixel.make_values(tiles)
        ids = (top // size + np.arange(down))[:, None] * across + left // size + np.arange(along)
        groups.append(_Group(tiles, ids.ravel(), tile_height, tile_width))
    return groups


def _rows_of(values: np.ndarray, width: int) -> np.ndarray:
    """``values`` (its last axis contiguous) seen as blocks of ``width`` values each."""
    return values.view(np.dtype((np.void, width * values.itemsize)))


@attrs.frozen
class _Runs:
    """The runs of some of a group's tiles, tile after tile. Runs continue from the end of
    one row of a tile to the start of the next (7.7.8)."""

    tile: np.ndarray  # the group row each run belongs to
    value: np.ndarray
    length: np.ndarray
    count: np.ndarray  # per group row: its runs (all tiles')
    first: np.ndarray  # per group row: its first run here (listed tiles')

    def of(self, rows: np.ndarray) -> np.ndarray:
        """Which runs are those of tiles ``rows`` (ascending, listed), tile after tile."""
        return part_index(self.first[rows], self.count[rows])


@attrs.frozen
class _Analysis:
    """What the encoder learnt about one group's tiles."""

    group: _Group
    colours: np.ndarray  # exact up to MAX_PALETTE; above it, a lower bound
    runs: _Runs
    run_index: np.ndarray  # each run's value's place in its tile's palette, if it has one
    palette_values: np.ndarray
    palette_start: np.ndarray  # per tile; meaningful where 2 <= colours <= MAX_PALETTE
    bodies: np.ndarray  # (n, 5) body bytes of each form, without the palette


def _analyse(group: _Group, cpixel: CPixel) -> _Analysis:
    """Price every form of every tile of the group (see the module docstring)."""
    tiles = group.tiles
    count, pixels = tiles.shape
    size = cpixel.size
    heads = np.empty((count, pixels), bool)
    heads[:, 0] = True
    np.not_equal(tiles[:, 1:], tiles[:, :-1], out=heads[:, 1:])
    # Sums of at most 64 x 64 ones: 16-bit accumulators are exact, and fastest.
    runs = heads.view(np.uint8).sum(axis=1, dtype=np.uint16).astype(np.int64)

    # A tile of more than one run has two colours. Its pixel sample shows more, and rules
    # out a palette when it shows more than MAX_PALETTE: worth looking at when the tile
    # has more runs than its run sample below would take in at once.
    colours = np.minimum(runs, 2)
    looked_at = np.flatnonzero(runs > (SAMPLE_RUNS if pixels > SAMPLE else 1))
    sample = pixel_sample(tiles, looked_at)
    colours[looked_at] = np.maximum(sample.colours, 2)
    may_palette = (colours >= 2) & (colours <= MAX_PALETTE)
    # Plain RLE costs at least a CPIXEL and a length byte per run; ties go to plain RLE.
    may_run = (runs > 1) & (runs * (size + 1) <= pixels * size)
    coded = np.flatnonzero(may_palette | may_run)
    runs_of = _runs(tiles, heads, coded, runs)

    candidates = np.flatnonzero(may_palette)
    if pixels > SAMPLE:
        # The pixel sample missed colours: the runs show them all.
        found = run_colours(runs_of.value, runs_of.first[candidates], runs[candidates])
    else:
        found = Colours.of(sample.take(np.searchsorted(looked_at, candidates)))
    colours[candidates] = found.count
    with_palette = candidates[found.count <= MAX_PALETTE]
    found = found.take(found.count <= MAX_PALETTE)
    palette_start = np.zeros(count, np.int64)
    palette_start[with_palette] = found.start
    palette_runs = runs_of.of(with_palette)
    run_index = np.zeros(len(runs_of.tile), np.intp)
    run_index[palette_runs] = palette_index(found, runs_of.value[palette_runs], runs[with_palette])

    # Only palette RLE counts runs of one pixel (and only tiles with palettes need it).
    single = palette_runs[runs_of.length[palette_runs] == 1]
    singles = np.bincount(runs_of.tile[single], minlength=count)
    long = np.flatnonzero(runs_of.length > 255)
    extra = np.bincount(
        runs_of.tile[long], (runs_of.length[long] - 1) // 255, minlength=count
    ).astype(np.int64)

    packed_rows = group.height * ((group.width * _index_bits(colours) + 7) // 8)
    palette = (colours >= 2) & (colours <= MAX_PALETTE)
    bodies = np.empty((count, 5), np.int64)
    bodies[:, _SOLID] = np.where(colours == 1, size, _IMPOSSIBLE)
    bodies[:, _PACKED] = np.where(palette & (colours <= MAX_PACKED), packed_rows, _IMPOSSIBLE)
    bodies[:, _PALETTE_RLE] = np.where(palette, singles + 2 * (runs - singles) + extra, _IMPOSSIBLE)
    # Tiles whose runs were not listed have no extra bytes counted: their plain RLE is a
    # lower bound, and already more than raw.
    bodies[:, _PLAIN_RLE] = runs * (size + 1) + extra
    bodies[:, _RAW] = pixels * size
    return _Analysis(group, colours, runs_of, run_index, found.palettes, palette_start, bodies)


def _runs(tiles: np.ndarray, heads: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> _Runs:
    """The runs of tiles ``rows`` (ascending), given where runs start in every tile and how
    many each has (``counts``, per tile)."""
    pixels = tiles.shape[1]
    listed = counts[rows]
    starts = np.flatnonzero(heads[rows])
    lengths = np.diff(starts, append=len(rows) * pixels)
    shift = np.repeat((rows - np.arange(len(rows))) * pixels, listed)  # to all the tiles
    first = np.zeros(len(counts), np.int64)
    first[rows] = np.cumsum(listed) - listed
    return _Runs(np.repeat(rows, listed), tiles.ravel()[starts + shift], lengths, counts, first)


def _index_bits(colours: np.ndarray) -> np.ndarray:
    return np.asarray(INDEX_BITS)[np.minimum(colours, MAX_PACKED)]


@attrs.frozen
class _Plan:
    """Every tile's chosen form, in wire order, and the palettes they index."""

    choice: np.ndarray
    reuse: np.ndarray  # the tile reuses its predecessor's palette (TRLE 127 / 129)
    colours: np.ndarray
    body_length: np.ndarray  # bytes of the chosen form's body, without the palette
    palette_values: np.ndarray
    palette_start: np.ndarray


def _plan(analyses: list[_Analysis], tiles: int, size: int, reuse_palettes: bool) -> _Plan:
    colours = np.zeros(tiles, np.int64)
    bodies = np.zeros((tiles, 5), np.int64)
    palette_start = np.zeros(tiles, np.int64)
    laid = 0
    for analysis in analyses:
        ids = analysis.group.ids
        colours[ids] = analysis.colours
        bodies[ids] = analysis.bodies
        palette_start[ids] = laid + analysis.palette_start
        laid += len(analysis.palette_values)
    palette_values = np.concatenate([a.palette_values for a in analyses])
    palette_cost = colours * size

    def choose(reuse: np.ndarray) -> np.ndarray:
        costs = bodies.copy()
        costs[:, [_PACKED, _PALETTE_RLE]] += np.where(reuse, 0, palette_cost)[:, None]
        return np.argmin(costs, axis=1)

    reuse = np.zeros(tiles, bool)
    choice = choose(reuse)
    if reuse_palettes:
        same = _same_palette_as_previous(colours, palette_values, palette_start)
        for _ in range(_REUSE_ROUNDS):
            # A palette can only be reused from the tile right before, and only if that tile
            # sent or reused one: what libvncclient and the RFC agree on.
            has_palette = (choice == _PACKED) | (choice == _PALETTE_RLE)
            wider = same & np.concatenate([[False], has_palette[:-1]])
            if np.array_equal(wider, reuse):
                break
            reuse = wider
            choice = choose(reuse)
    body_length = bodies[np.arange(tiles), choice]
    return _Plan(choice, reuse, colours, body_length, palette_values, palette_start)


def _same_palette_as_previous(
    colours: np.ndarray, palette_values: np.ndarray, palette_start: np.ndarray
) -> np.ndarray:
    """Per tile: its palette equals the previous tile's, colour for colour (palettes are
    sorted, so equal sets compare equal)."""
    same = np.zeros(len(colours), bool)
    candidates = 1 + np.flatnonzero(
        (colours[1:] == colours[:-1]) & (colours[1:] >= 2) & (colours[1:] <= MAX_PALETTE)
    )
    if not len(candidates):
        return same
    counts = colours[candidates]
    mine = palette_values[part_index(palette_start[candidates], counts)]
    theirs = palette_values[part_index(palette_start[candidates - 1], counts)]
    same[candidates] = np.add.reduceat(mine != theirs, np.cumsum(counts) - counts) == 0
    return same


def encode_tiles(
    pixels: np.ndarray, pf: PixelFormat, size: int, *, reuse_palettes: bool = False
) -> bytes:
    """The tiles of canonical BGRX ``pixels`` as the client of format ``pf`` reads them:
    ``size`` 16 for TRLE (with ``reuse_palettes``), 64 for ZRLE (before zlib)."""
    height, width = pixels.shape[:2]
    if not height or not width:
        return b""
    cpixel = cpixel_for(pf)
    tiles = -(-height // size) * -(-width // size)
    analyses = [_analyse(group, cpixel) for group in _groups(pixels, cpixel, size)]
    plan = _plan(analyses, tiles, cpixel.size, reuse_palettes)

    # Each tile is its subencoding, its palette if it sends one, then its body.
    sends_palette = ((plan.choice == _PACKED) | (plan.choice == _PALETTE_RLE)) & ~plan.reuse
    palette_length = np.where(sends_palette, plan.colours * cpixel.size, 0)
    tile_length = 1 + palette_length + plan.body_length
    tile_start = np.cumsum(tile_length) - tile_length
    out = np.empty(int(tile_length.sum()), np.uint8)
    out[tile_start] = np.select(
        [plan.choice == form for form in (_SOLID, _PACKED, _PALETTE_RLE, _PLAIN_RLE)],
        [
            SOLID,
            np.where(plan.reuse, REUSE_PACKED, plan.colours),
            np.where(plan.reuse, REUSE_RLE, PALETTE_RLE + plan.colours),
            PLAIN_RLE,
        ],
        RAW,
    )
    sending = np.flatnonzero(sends_palette)
    palettes = cpixel.to_bytes(plan.palette_values).ravel()
    lengths = palette_length[sending]
    out[part_index(tile_start[sending] + 1, lengths)] = palettes[
        part_index(plan.palette_start[sending] * cpixel.size, lengths)
    ]

    body_start = tile_start + 1 + palette_length
    for analysis in analyses:
        _write_bodies(out, body_start[analysis.group.ids], analysis, plan, cpixel)
    return out.tobytes()


def _blocks(out: np.ndarray, *shape: int) -> np.ndarray:
    """A view of ``out`` whose row r is out[r:] seen as a C-ordered array of ``shape``: a
    body of that shape wherever it starts, so bodies of one shape are written at once."""
    strides = tuple(math.prod(shape[axis + 1 :]) for axis in range(len(shape)))
    return as_strided(out, (out.size - math.prod(shape) + 1, *shape), (1, *strides))


def _write_bodies(
    out: np.ndarray, starts: np.ndarray, analysis: _Analysis, plan: _Plan, cpixel: CPixel
) -> None:
    """Write the bodies of a group's tiles, whose bodies start at ``starts`` in ``out``."""
    group, runs = analysis.group, analysis.runs
    tiles = group.tiles
    count, pixels = tiles.shape
    choice = plan.choice[group.ids]
    size = cpixel.size
    wire = cpixel.wire_bytes(tiles)

    rows = np.flatnonzero(choice == _RAW)
    if len(rows):
        # One byte of every CPIXEL at a time: numpy copies rows of 3 bytes slowly.
        blocks = _blocks(out, pixels, size)
        for byte in range(size):
            source = wire[:, :, byte]
            blocks[:, :, byte][starts[rows]] = source if len(rows) == count else source[rows]

    rows = np.flatnonzero(choice == _SOLID)
    _put(out, starts[rows], cpixel.as_integers(tiles[rows, 0]), size)

    index_bits = _index_bits(plan.colours[group.ids])
    for bits in (1, 2, 4):
        rows = np.flatnonzero((choice == _PACKED) & (index_bits == bits))
        if len(rows):
            of_rows = runs.of(rows)
            indices = np.repeat(analysis.run_index[of_rows], runs.length[of_rows])
            packed = _pack(indices.astype(np.uint8).reshape(len(rows), group.height, -1), bits)
            _blocks(out, packed.shape[1])[starts[rows]] = packed

    for form in (_PALETTE_RLE, _PLAIN_RLE):
        rows = np.flatnonzero(choice == form)
        if not len(rows):
            continue
        # The tiles' records follow one another from the starts of their bodies.
        of_rows, counts = runs.of(rows), runs.count[rows]
        lengths = runs.length[of_rows]
        records = _run_bytes(lengths, form, size)
        bodies = plan.body_length[group.ids[rows]]
        at = np.cumsum(records) - records
        at += np.repeat(starts[rows] - (np.cumsum(bodies) - bodies), counts)
        more = lengths - 1
        first_length = np.minimum(more, 255).astype(np.uint64)
        if form == _PALETTE_RLE:
            # A run of one pixel is its index alone; longer ones set the index's top bit.
            index = analysis.run_index[of_rows].astype(np.uint8)
            out[at] = index
            longer = np.flatnonzero(more)
            words = (index[longer] | np.uint8(0x80)).astype(np.uint64)
            _put(out, at[longer], words | first_length[longer] << np.uint64(8), 2)
            at, more = at[longer] + 1, more[longer]
        else:
            words = cpixel.as_integers(runs.value[of_rows]) | first_length << np.uint64(8 * size)
            _put(out, at, words, size + 1)
            at += size
        _write_lengths(out, at, more)


def _write_lengths(out: np.ndarray, at: np.ndarray, more: np.ndarray) -> None:
    """The length bytes of runs of ``more`` + 1 pixels (``more`` >= 1) from ``at``: a 255
    for every whole 255 in ``more``, then the rest (7.7.8). Each run's first length byte,
    min(``more``, 255), went out with its index or CPIXEL, so only runs of 256 pixels or
    more have any left."""
    long = np.flatnonzero(more >= 255)
    count = more[long] // 255
    out[part_index(at[long] + 1, count - 1)] = 255
    out[at[long] + count] = more[long] - 255 * count


def _put(out: np.ndarray, at: np.ndarray, words: np.ndarray, width: int) -> None:
    """Write the ``width`` low bytes of each of ``words`` little-endian from ``at`` (any
    alignment): a few scatters of 4, 2 or 1 bytes instead of one per byte."""
    done = 0
    for part in (4, 2, 1):
        while width - done >= part:
            view = np.ndarray((out.size - part + 1,), f"<u{part}", out, strides=(1,))
            part_words = words >> np.uint64(8 * done) if done else words
            view[at + done] = part_words.astype(view.dtype)
            done += part


def _pack(indices: np.ndarray, bits: int) -> np.ndarray:
    """(n, height, width) palette indices -> (n, bytes) packed rows, leftmost pixel in the
    most significant bits, each row padded to a whole byte (7.7.8)."""
    count, height, width = indices.shape
    per_byte = 8 // bits
    row_bytes = -(-width // per_byte)
    if bits == 1:
        return np.packbits(indices, axis=-1).reshape(count, height * row_bytes)
    padded = np.zeros((count, height, row_bytes * per_byte), np.uint8)
    padded[..., :width] = indices
    padded = padded.reshape(count, height, row_bytes, per_byte)
    packed = padded[..., 0] << (8 - bits)
    for slot in range(1, per_byte):
        packed |= padded[..., slot] << (8 - bits * (slot + 1))
    return packed.reshape(count, height * row_bytes)


def _run_bytes(lengths: np.ndarray, form: int, size: int) -> np.ndarray:
    """Bytes of each run: a palette index alone for a single pixel of palette RLE, else the
    index (or CPIXEL) and 1 + (length - 1) // 255 length bytes."""
    length_bytes = 1 + (lengths - 1) // 255
    if form == _PALETTE_RLE:
        return np.where(lengths == 1, 1, 1 + length_bytes)
    return size + length_bytes
