"""Which subencoding every tile of a Hextile rectangle gets (rfbproto 7.7.4), all at once.

A tile is solid (background only), two-colour (foreground subrectangles on the background),
coloured (subrectangles of their own colours) or Raw, whichever is smallest. Searching for
subrectangles is the costly step, so only tiles that might beat Raw are searched: sorting
each tile's values gives its colours and its background, and two lower bounds on the
subrectangles a tile needs prove photo-like tiles Raw without the search. The bounds hold for
any cover of the tile, so skipping the search never changes the choice.
"""

from __future__ import annotations

import enum

import attrs
import numpy as np

from .rre import subrectangles


class Kind(enum.IntEnum):
    """What a tile sends (7.7.4)."""

    SOLID = 0
    MONO = 1  # two colours: subrectangles of the foreground
    COLOURED = 2
    RAW = 3


#: Tiles where no colour fills this many pixels are photo-like (see _may_beat_raw).
_FEW = 32
#: Sorted tiles are probed for long runs at every so many positions (see _repeats).
_PROBE = 8


@attrs.frozen
class Choice:
    """What every tile sends: its kind, colours and subrectangles (of non-Raw tiles only,
    by tile, then top to bottom and left to right)."""

    kind: np.ndarray  # Kind per tile
    background: np.ndarray  # per tile (meaningless for Raw tiles)
    foreground: np.ndarray  # per tile (meaningful for MONO tiles)
    count: np.ndarray  # subrectangles per tile
    owner: np.ndarray  # each subrectangle's tile, then its position, size and value
    xs: np.ndarray
    ys: np.ndarray
    ws: np.ndarray
    hs: np.ndarray
    colours: np.ndarray


def choose(tiles: np.ndarray, tile_w: np.ndarray, tile_h: np.ndarray) -> Choice:
    """The choice for (tiles, 16, 16) wire pixel values, partial tiles padded by repeating
    their edge, whose real sizes are ``tile_w`` x ``tile_h``."""
    flat = tiles.reshape(len(tiles), tiles.shape[1] * tiles.shape[2])
    size = tiles.dtype.itemsize
    kind = np.full(len(tiles), Kind.SOLID)
    background = flat[:, 0].copy()
    foreground = background.copy()
    busy = np.flatnonzero(flat.min(axis=1) != flat.max(axis=1))
    # Sorted values give the number of colours, the most common one (background) and, for
    # two, the other (foreground).
    ordered = flat[busy]
    ordered.sort(axis=1)
    changes = ordered[:, 1:] != ordered[:, :-1]
    others = _count_true(changes)  # colours besides the background
    kind[busy] = np.where(others == 1, Kind.MONO, Kind.COLOURED)

    # Raw when smaller than subrectangles, counting background and foreground as sent. The
    # background covers a pixel at least, so a tile never needs more subrectangles than the
    # U8 count can say (255).
    record = np.where(kind == Kind.COLOURED, size + 2, 2)  # bytes a subrectangle
    budget = tile_w * tile_h * size - (2 * size + 1)  # for subrectangles, to beat Raw
    probes = np.ascontiguousarray(ordered[:, ::_PROBE])
    rows = _may_beat_raw(tiles, busy, others, probes, record[busy], budget[busy])
    search = busy[rows]
    background[search] = _backgrounds(ordered, changes, probes, rows)
    foreground[search] = np.where(
        background[search] == ordered[rows, 0], ordered[rows, -1], ordered[rows, 0]
    )
    block, xs, ys, ws, hs, colours = subrectangles(tiles[search], background[search])
    owner = search[block]
    count = np.bincount(owner, minlength=len(tiles))
    raw = np.zeros(len(tiles), bool)
    raw[busy] = True
    raw[search] = budget[search] <= count[search] * record[search]
    kind[raw] = Kind.RAW
    if raw[search].any():
        count[raw] = 0
        sent = ~raw[owner]
        owner, xs, ys, ws, hs, colours = (a[sent] for a in (owner, xs, ys, ws, hs, colours))
    # Subrectangles stop at the edge of a partial tile (its padding repeats the edge).
    partial = np.flatnonzero(((tile_w < tiles.shape[2]) | (tile_h < tiles.shape[1]))[owner])
    ws[partial] = np.minimum(ws[partial], tile_w[owner[partial]] - xs[partial])
    hs[partial] = np.minimum(hs[partial], tile_h[owner[partial]] - ys[partial])
    return Choice(kind, background, foreground, count, owner, xs, ys, ws, hs, colours)


def _may_beat_raw(
    tiles: np.ndarray,
    busy: np.ndarray,
    others: np.ndarray,
    probes: np.ndarray,
    record: np.ndarray,
    budget: np.ndarray,
) -> np.ndarray:
    """Which of the ``busy`` tiles might need fewer than ``budget`` bytes of subrectangles
    (of ``record`` bytes each), by two lower bounds on their number. Each colour besides the
    background needs one. So does each corner pixel (see _corner_pixels) but those of the
    background, fewer than _FEW in a tile where no colour is found to fill _FEW - _PROBE + 1
    pixels (so none fills _FEW): photos."""
    hopeful = others * record < budget
    few = np.flatnonzero(hopeful & ~_repeats(probes, _FEW - _PROBE + 1))
    corners = _corner_pixels(tiles[busy[few]])
    hopeful[few] = (corners - (_FEW - 1)) * record[few] < budget[few]
    return np.flatnonzero(hopeful)


def _backgrounds(
    ordered: np.ndarray, changes: np.ndarray, probes: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """The most common value (the smallest on ties) of each of the ``rows`` of sorted
    values. Mostly one colour fills more than half the tile (text and window chrome on a
    flat background): it is the middle value, found without counting."""
    middle = ordered.shape[1] // 2
    values = ordered[rows, middle]
    counted = ~_repeats(probes[rows], middle + 1)
    values[counted] = _most_common_in_rows(ordered, changes, rows[counted])
    return values


def _count_true(rows: np.ndarray) -> np.ndarray:
    """The number of true values in each row of a 2-D boolean array (summing its bytes is a
    few times faster than ``count_nonzero`` along an axis)."""
    return rows.view(np.uint8).sum(axis=1, dtype=np.uint16).astype(np.intp)


def _repeats(probes: np.ndarray, times: int) -> np.ndarray:
    """Per row of ``probes``, every _PROBE-th of a row of sorted values: True only where some
    value occurs ``times`` times or more, and surely where one occurs ``times + _PROBE - 1``
    times. ``times - 1`` is a multiple of _PROBE: two equal probes that far apart span
    ``times`` equal values, and a run of ``times + _PROBE - 1`` holds two such probes.
    Comparing a few probes costs a fraction of comparing all values."""
    apart = (times - 1) // _PROBE
    equal = np.empty(probes.shape, bool)
    flat = probes.reshape(-1)
    np.equal(flat[:-apart], flat[apart:], out=equal.reshape(-1)[:-apart])
    equal[:, -apart:] = False  # pairs across rows
    return _count_true(equal) > 0


def _most_common_in_rows(ordered: np.ndarray, changes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The most common value of each of the ``rows`` of sorted values (the smallest on ties),
    given where neighbours differ: the longest run, found for all rows in one reduction."""
    width = ordered.shape[1]
    if not len(rows):
        return ordered[:0, 0]
    starts = np.ones((len(rows), width), bool)
    starts[:, 1:] = changes[rows]
    at = np.flatnonzero(starts)
    total = starts.size
    # key: the run's length, then how early it starts, so the maximum picks the run.
    key = np.diff(at, append=total) * total + (total - 1 - at)
    best = np.maximum.reduceat(key, np.flatnonzero(at % width == 0))
    return ordered[rows, (total - 1 - best % total) % width]


def _corner_pixels(tiles: np.ndarray) -> np.ndarray:
    """Per tile, the pixels that differ from their left and upper neighbours (or start the
    tile's row or column). Each is the top-left corner of a subrectangle of its own in any
    cover of the tile by one-colour rectangles, unless it has the background's colour."""
    width = tiles.shape[2]
    flat = tiles.reshape(len(tiles), tiles.shape[1] * tiles.shape[2])
    corners = np.empty(flat.shape, bool)
    np.not_equal(flat[:, 1:], flat[:, :-1], out=corners[:, 1:])
    corners[:, ::width] = True
    corners[:, width:] &= flat[:, width:] != flat[:, :-width]
    return _count_true(corners)
