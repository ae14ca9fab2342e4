"""Tile palettes for the TRLE and ZRLE encoder (``_rle_tiles``): how many colours each tile
has, exactly when it could send a palette (at most MAX_PALETTE), its palette then, and
every run's index in it, for all tiles at once.

Sorting every pixel of a 64x64 tile costs more than deflating it, so the work narrows:

* ``pixel_sample``: up to ``SAMPLE`` pixels spread over a tile of many runs, sorted, bound
  its colours from below: a photograph's tile shows 128 or more and is done. A tile of at
  most ``SAMPLE`` pixels (all of TRLE's) is its own sample: its colours are known;
* ``run_colours``: a tile that may still have a palette has no colour its runs lack, and
  runs are far fewer than pixels: ``SAMPLE_RUNS`` of them spread over it, sorted, bound its
  colours (anti-aliased text often has more than a palette takes, too rare for the pixel
  sample to show). A tile with more runs than that, and still too few colours to rule a
  palette out, is sampled again with twice as many, until a sample holds all its runs;
* ``palette_index``: each tile with a palette gets a hash table of its own, its palette put
  in first, then every run looks its colour up (open addressing and linear probing, for
  all tiles at once: one probe per round for every value still looking).

Rows of at most 512 values sort fast (numpy sorts them in vector registers), which sets
the sample sizes. Palettes are in ascending order, so tiles with the same colours have
equal palettes (TRLE reuses a palette only if it is the same).
"""

from __future__ import annotations

import attrs
import numpy as np

MAX_PALETTE = 127
#: Pixels per tile in its colour sample.
SAMPLE = 256
#: Runs per tile in its first colour sample.
SAMPLE_RUNS = 256
_HASH_FACTOR = np.uint32(0x9E3779B1)  # Knuth's multiplicative hash: 2**32 / golden ratio


@attrs.frozen
class Sample:
    """Some of the values of each of some tiles, each row sorted: its distinct values
    bound its tile's colours from below, and are its colours where ``exact``."""

    ordered: np.ndarray  # (tiles, width)
    new: np.ndarray  # (tiles, width): the value differs from the one before it
    colours: np.ndarray
    exact: np.ndarray

    def take(self, tiles: np.ndarray) -> Sample:
        return Sample(self.ordered[tiles], self.new[tiles], self.colours[tiles], self.exact[tiles])


def pixel_sample(tiles: np.ndarray, rows: np.ndarray) -> Sample:
    """Up to ``SAMPLE`` pixels spread over each of tiles ``rows`` (of ``tiles``)."""
    pixels = tiles.shape[1]
    if pixels > SAMPLE:
        # np.take, not tiles[:, sample]: that comes out column-major, and sorts slowly.
        tiles = np.take(tiles, np.linspace(0, pixels - 1, SAMPLE).astype(np.intp), axis=1)
    return _sample(tiles[rows], np.full(len(rows), pixels <= SAMPLE))


def _sample(rows: np.ndarray, exact: np.ndarray) -> Sample:
    ordered = np.sort(rows, axis=1)
    new = np.empty(ordered.shape, bool)
    new[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=new[:, 1:])
    # Sums of at most 4096 ones: 16-bit accumulators are exact, and fastest.
    colours = new.view(np.uint8).sum(axis=1, dtype=np.uint16).astype(np.int64)
    return Sample(ordered, new, colours, exact)


@attrs.frozen
class Colours:
    """The colours of some tiles: exact up to MAX_PALETTE, with the palette, and a lower
    bound above it."""

    count: np.ndarray
    palettes: np.ndarray  # each palette in ascending order, laid end to end
    start: np.ndarray  # per tile: where its palette starts in ``palettes``

    @classmethod
    def of(cls, sample: Sample) -> Colours:
        """What a sample says: palettes for its exact rows of at most MAX_PALETTE colours."""
        known = sample.exact & (sample.colours <= MAX_PALETTE)
        laid = np.where(known, sample.colours, 0)
        palettes = sample.ordered[sample.new & known[:, None]]
        return cls(sample.colours, palettes, np.cumsum(laid) - laid)

    def take(self, tiles: np.ndarray) -> Colours:
        return Colours(self.count[tiles], self.palettes, self.start[tiles])


def run_colours(values: np.ndarray, first: np.ndarray, counts: np.ndarray) -> Colours:
    """The colours of tiles whose runs' values are values[first:][:counts], each tile
    sampled with twice as many runs until it has more than MAX_PALETTE colours or the
    sample holds all its runs."""
    count = np.zeros(len(counts), np.int64)
    start = np.zeros(len(counts), np.int64)
    palettes, laid = [values[:0]], 0
    todo, width = np.arange(len(counts)), SAMPLE_RUNS
    while len(todo):
        spread = np.arange(width) * counts[todo, None] >> int(width).bit_length() - 1
        sample = _sample(values[first[todo, None] + spread], counts[todo] <= width)
        done = sample.exact | (sample.colours > MAX_PALETTE)
        found = Colours.of(sample)
        count[todo[done]] = sample.colours[done]
        start[todo] = laid + found.start
        palettes.append(found.palettes)
        laid += len(found.palettes)
        todo, width = todo[~done], 2 * width
    return Colours(count, np.concatenate(palettes), start)


def palette_index(colours: Colours, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The index of each run's value in its tile's palette, for tiles with palettes and
    their runs' values, tile after tile (``counts`` runs each)."""
    # A table of four times the palette's size (at least, in a power of two) stays three
    # quarters empty, so probes stay short; a quarter as many slots again past its end
    # let probing run on instead of wrapping (no more than its colours stand in the way).
    bits = np.searchsorted(1 << np.arange(10), 4 * colours.count - 1, "right")
    sizes = 5 << bits >> 2
    offset = np.cumsum(sizes) - sizes
    shift = (32 - bits).astype(np.uint32)
    table = np.zeros(int(sizes.sum()), values.dtype)
    taken = np.zeros(len(table), bool)
    rank = np.zeros(len(table), np.uint8)

    def home(values: np.ndarray, tile: np.ndarray) -> np.ndarray:
        slots = np.multiply(values, _HASH_FACTOR, dtype=np.uint32)
        slots >>= shift[tile]
        return offset[tile] + slots

    # The palettes go in first, one probe per round: one claimant of each free slot
    # wins it, the others look at the next slot.
    entries = part_index(colours.start, colours.count)
    owner = np.repeat(np.arange(len(counts)), colours.count)
    value = colours.palettes[entries]
    at = home(value, owner)
    order = np.arange(len(entries)) - np.repeat(
        np.cumsum(colours.count) - colours.count, colours.count
    )
    while len(order):
        free = ~taken[at]
        table[at[free]] = value[free]
        taken[at[free]] = True
        won = table[at] == value
        rank[at[won]] = order[won]
        order, value, at = order[~won], value[~won], at[~won] + 1

    # Then every run finds its colour, which its tile's table holds.
    at = home(values, np.repeat(np.arange(len(counts)), counts))
    slots, which = at.copy(), np.arange(len(values))
    while len(which):
        elsewhere = table[at] != values[which]
        which, at = which[elsewhere], at[elsewhere] + 1
        slots[which] = at
    return rank[slots]


def part_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions of parts laid end to end: starts[0], starts[0] + 1, ... (lengths[0]
    of them), starts[1], ..."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)
