"""The tile coder TRLE and ZRLE share: a rectangle's pixels -> its tiles' bytes.

The rectangle is cut into tiles (TRLE 16x16, RFC 6143 7.7.5; ZRLE 64x64, rfbproto 7.7.8),
sent left to right, top to bottom, the last column and row narrower or shorter. Each tile is
a subencoding byte and a body: 0 raw CPIXELs, 1 one solid CPIXEL, 2-16 a palette of that many
CPIXELs and bit-packed indices, 128 plain RLE (CPIXEL + run length), 130-255 a palette of
(subencoding - 128) CPIXELs and palette RLE; TRLE adds 127 and 129, packed and palette RLE
reusing the previous tile's palette. Run lengths are ``255, 255, ..., (length - 1) % 255``.

The encoder sends every tile in whichever form is smallest. Nothing here runs per tile in
Python: the tiles of the rectangle are analysed together (colour counts by sorting each tile,
runs by comparing neighbours), and every tile's bytes are built as whole-array operations and
stitched together with one gather.
"""

from __future__ import annotations

import attrs
import numpy as np

from .._pixelformat import PixelFormat
from ._rle_cpixel import CPixel, cpixel_for

RAW = 0
SOLID = 1
MAX_PACKED = 16  # subencodings 2..16: packed palette
REUSE_PACKED = 127  # TRLE: packed, with the previous tile's palette
PLAIN_RLE = 128
REUSE_RLE = 129  # TRLE: palette RLE, with the previous tile's palette
PALETTE_RLE = 128  # + palette size 2..127
MAX_PALETTE = 127


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


def _groups(values: np.ndarray, size: int) -> list[_Group]:
    """The tiles of a rectangle in at most four groups of equal shape: whole tiles, the
    narrower last column, the shorter last row and the corner."""
    height, width = values.shape
    rows, cols = height // size, width // size
    short, narrow = height - rows * size, width - cols * size
    across = cols + (narrow > 0)
    top, left = rows * size, cols * size
    row_ids, col_ids = np.arange(rows) * across, np.arange(cols)
    candidates = [
        (
            values[:top, :left].reshape(rows, size, cols, size).swapaxes(1, 2),
            (row_ids[:, None] + col_ids).ravel(),
            size,
            size,
        ),
        (values[:top, left:].reshape(rows, size, narrow), row_ids + cols, size, narrow),
        (
            values[top:, :left].reshape(short, cols, size).swapaxes(0, 1),
            rows * across + col_ids,
            short,
            size,
        ),
        (values[top:, left:], np.array([rows * across + cols]), short, narrow),
    ]
    return [
        _Group(np.ascontiguousarray(block).reshape(len(ids), th * tw), ids, th, tw)
        for block, ids, th, tw in candidates
        if th and tw and len(ids)
    ]


@attrs.frozen
class _Analysis:
    """What the encoder learnt about one group's tiles."""

    group: _Group
    colours: np.ndarray  # distinct values per tile
    palette_keys: np.ndarray  # (tile id << 32 | value) of every tile with <= 127 colours
    run_heads: np.ndarray  # flat positions in group.tiles where a run starts
    run_lengths: np.ndarray
    run_tiles: np.ndarray  # the group row each run belongs to
    bodies: np.ndarray  # (n, 5) body bytes of each form, without the palette


def _analyse(group: _Group, cpixel: CPixel) -> _Analysis:
    tiles, ids = group.tiles, group.ids
    count, pixels = tiles.shape
    ordered = np.sort(tiles, axis=1)
    new = ordered[:, 1:] != ordered[:, :-1]
    colours = new.sum(axis=1) + 1

    small = colours <= MAX_PALETTE
    first = np.ones((int(small.sum()), pixels), bool)
    first[:, 1:] = new[small]
    palette_keys = _keys(np.repeat(ids[small], colours[small]), ordered[small][first])

    # Runs continue from the end of one row of a tile to the start of the next (7.7.8).
    heads = np.ones((count, pixels), bool)
    heads[:, 1:] = tiles[:, 1:] != tiles[:, :-1]
    run_heads = np.flatnonzero(heads)
    run_lengths = np.diff(run_heads, append=count * pixels)
    run_tiles = run_heads // pixels
    runs = np.bincount(run_tiles, minlength=count)
    singles = np.bincount(run_tiles[run_lengths == 1], minlength=count)
    long = run_lengths > 255
    extra = np.bincount(run_tiles[long], (run_lengths[long] - 1) // 255, minlength=count).astype(
        np.int64
    )

    size = cpixel.size
    packed_rows = group.height * ((group.width * _index_bits(colours) + 7) // 8)
    bodies = np.empty((count, 5), np.int64)
    bodies[:, _SOLID] = np.where(colours == 1, size, _IMPOSSIBLE)
    bodies[:, _PACKED] = np.where(
        (colours >= 2) & (colours <= MAX_PACKED), packed_rows, _IMPOSSIBLE
    )
    bodies[:, _PALETTE_RLE] = np.where(
        (colours >= 2) & small, singles + 2 * (runs - singles) + extra, _IMPOSSIBLE
    )
    bodies[:, _PLAIN_RLE] = runs * (size + 1) + extra
    bodies[:, _RAW] = pixels * size
    return _Analysis(group, colours, palette_keys, run_heads, run_lengths, run_tiles, bodies)


def _index_bits(colours: np.ndarray) -> np.ndarray:
    return np.asarray(INDEX_BITS)[np.minimum(colours, MAX_PACKED)]


def _keys(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sortable (tile, colour) keys: palettes of all tiles in one sorted array."""
    return ids.astype(np.uint64) << np.uint64(32) | values.astype(np.uint64)


@attrs.frozen
class _Plan:
    """Every tile's chosen form, in wire order, and the palettes they index."""

    choice: np.ndarray
    reuse: np.ndarray  # the tile reuses its predecessor's palette (TRLE 127 / 129)
    colours: np.ndarray
    palette_keys: np.ndarray  # sorted: every palette, in tile order
    palette_start: np.ndarray  # index of each tile's palette in palette_keys

    def palette_index(self, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Where each value sits in its tile's palette (the value must be in it)."""
        found = np.searchsorted(self.palette_keys, _keys(ids, values))
        return (found - self.palette_start[ids]).astype(np.uint8)


def _plan(analyses: list[_Analysis], tiles: int, size: int, reuse_palettes: bool) -> _Plan:
    colours = np.zeros(tiles, np.int64)
    bodies = np.zeros((tiles, 5), np.int64)
    for analysis in analyses:
        colours[analysis.group.ids] = analysis.colours
        bodies[analysis.group.ids] = analysis.bodies
    palette_keys = np.sort(np.concatenate([a.palette_keys for a in analyses]))
    in_palettes = np.where(colours <= MAX_PALETTE, colours, 0)
    palette_start = np.cumsum(in_palettes) - in_palettes

    palette_cost = colours * size

    def choose(reuse: np.ndarray) -> np.ndarray:
        costs = bodies.copy()
        costs[:, [_PACKED, _PALETTE_RLE]] += np.where(reuse, 0, palette_cost)[:, None]
        return np.argmin(costs, axis=1)

    reuse = np.zeros(tiles, bool)
    choice = choose(reuse)
    if reuse_palettes:
        same = _same_palette_as_previous(colours, palette_keys, palette_start)
        for _ in range(_REUSE_ROUNDS):
            # A palette can only be reused from the tile right before, and only if that tile
            # sent or reused one: what libvncclient and the RFC agree on.
            has_palette = (choice == _PACKED) | (choice == _PALETTE_RLE)
            wider = same & np.concatenate([[False], has_palette[:-1]])
            if np.array_equal(wider, reuse):
                break
            reuse = wider
            choice = choose(reuse)
    return _Plan(choice, reuse, colours, palette_keys, palette_start)


def _same_palette_as_previous(
    colours: np.ndarray, palette_keys: np.ndarray, palette_start: np.ndarray
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
    blocks = np.cumsum(counts) - counts
    offset = np.arange(counts.sum()) - np.repeat(blocks, counts)
    values = palette_keys & np.uint64(0xFFFFFFFF)
    mine = values[np.repeat(palette_start[candidates], counts) + offset]
    theirs = values[np.repeat(palette_start[candidates - 1], counts) + offset]
    same[candidates] = np.add.reduceat(mine != theirs, blocks) == 0
    return same


class _Parts:
    """Byte strings laid end to end, each tile's part remembered as (start, length)."""

    def __init__(self, tiles: int) -> None:
        self.chunks: list[np.ndarray] = []
        self.size = 0
        self.start = np.zeros(tiles, np.int64)
        self.length = np.zeros(tiles, np.int64)

    def add(self, ids: np.ndarray, data: np.ndarray, lengths: np.ndarray) -> None:
        """``data`` holds the parts of tiles ``ids`` in that order, ``lengths`` bytes each."""
        self.start[ids] = self.size + np.cumsum(lengths) - lengths
        self.length[ids] = lengths
        self.chunks.append(data.ravel())
        self.size += data.size

    def add_rows(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """One row of ``rows`` ((n, length) uint8) per tile."""
        self.add(ids, rows, np.full(len(ids), rows.shape[1]))


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
    analyses = [_analyse(group, cpixel) for group in _groups(cpixel.values(pixels), size)]
    plan = _plan(analyses, tiles, cpixel.size, reuse_palettes)

    bodies = _Parts(tiles)
    for analysis in analyses:
        _add_bodies(bodies, analysis, plan, cpixel)

    header = np.select(
        [plan.choice == form for form in (_SOLID, _PACKED, _PALETTE_RLE, _PLAIN_RLE)],
        [
            SOLID,
            np.where(plan.reuse, REUSE_PACKED, plan.colours),
            np.where(plan.reuse, REUSE_RLE, PALETTE_RLE + plan.colours),
            PLAIN_RLE,
        ],
        RAW,
    ).astype(np.uint8)
    sends_palette = ((plan.choice == _PACKED) | (plan.choice == _PALETTE_RLE)) & ~plan.reuse
    palettes = cpixel.to_bytes((plan.palette_keys & np.uint64(0xFFFFFFFF)).astype(cpixel.dtype))

    # Each tile is three parts (subencoding, palette, body) from three sources.
    source = np.concatenate([header, palettes.ravel(), *bodies.chunks])
    starts = np.stack(
        [
            np.arange(tiles),
            tiles + plan.palette_start * cpixel.size,
            tiles + palettes.size + bodies.start,
        ],
        axis=1,
    ).ravel()
    lengths = np.stack(
        [
            np.ones(tiles, np.int64),
            np.where(sends_palette, plan.colours * cpixel.size, 0),
            bodies.length,
        ],
        axis=1,
    ).ravel()
    return _gather(source, starts, lengths)


def _gather(source: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> bytes:
    """source[starts[0]:][:lengths[0]] + source[starts[1]:][:lengths[1]] + ..."""
    ends = np.cumsum(lengths)
    index = np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1])
    return source[index].tobytes()


def _add_bodies(bodies: _Parts, analysis: _Analysis, plan: _Plan, cpixel: CPixel) -> None:
    group = analysis.group
    tiles, ids = group.tiles, group.ids
    choice = plan.choice[ids]

    rows = np.flatnonzero(choice == _SOLID)
    bodies.add_rows(ids[rows], cpixel.to_bytes(tiles[rows, 0]))
    rows = np.flatnonzero(choice == _RAW)
    raw = cpixel.to_bytes(tiles[rows]).reshape(len(rows), tiles.shape[1] * cpixel.size)
    bodies.add_rows(ids[rows], raw)

    packed = choice == _PACKED
    index_bits = _index_bits(plan.colours[ids])
    for bits in (1, 2, 4):
        rows = np.flatnonzero(packed & (index_bits == bits))
        indices = plan.palette_index(np.repeat(ids[rows], tiles.shape[1]), tiles[rows].ravel())
        shaped = indices.reshape(len(rows), group.height, group.width)
        bodies.add_rows(ids[rows], _pack(shaped, bits))

    for form in (_PALETTE_RLE, _PLAIN_RLE):
        rows = np.flatnonzero(choice == form)
        in_form = np.zeros(len(ids), bool)
        in_form[rows] = True
        runs = in_form[analysis.run_tiles]
        run_tiles = analysis.run_tiles[runs]
        values = tiles.ravel()[analysis.run_heads[runs]]
        lengths = analysis.run_lengths[runs]
        if form == _PALETTE_RLE:
            data = _palette_runs(plan.palette_index(ids[run_tiles], values), lengths)
        else:
            data = _plain_runs(cpixel.to_bytes(values), lengths)
        per_tile = np.bincount(run_tiles, _run_bytes(lengths, form, cpixel.size), len(ids))
        bodies.add(ids[rows], data, per_tile[rows].astype(np.int64))


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


def _runs(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """255s with room for runs of ``sizes`` bytes, where each run starts and its last byte
    (every length byte but the last is 255)."""
    starts = np.cumsum(sizes) - sizes
    out = np.full(int(sizes.sum()), 255, np.uint8)
    return out, starts, starts + sizes - 1


def _palette_runs(indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    sizes = _run_bytes(lengths, _PALETTE_RLE, 1)
    out, starts, last = _runs(sizes)
    longer = lengths > 1
    out[starts] = indices | np.where(longer, 0x80, 0).astype(np.uint8)
    out[last[longer]] = (lengths[longer] - 1) % 255
    return out


def _plain_runs(cpixels: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    size = cpixels.shape[1]
    sizes = _run_bytes(lengths, _PLAIN_RLE, size)
    out, starts, last = _runs(sizes)
    for offset in range(size):
        out[starts + offset] = cpixels[:, offset]
    out[last] = (lengths - 1) % 255
    return out
