"""How a Tight-family encoder cuts a region into rectangles, decided on whole arrays.

The region is looked at in 64x64 tiles, all tiles at once: a tile is *solid* (one colour:
a fill), *photo* (a sample of 8x8 pixels is mostly distinct colours: JPEG when allowed, else
full colour) or *detail* (few colours: text, widgets, lines; a palette if the exact count
allows). Neighbouring tiles of a kind join into rectangles: fills of one colour and photos
also grow over rows of tiles (one big fill or JPEG beats many); details stay within a row
and DETAIL_WIDTH, so a detail rectangle has a fair chance of a palette of its own. Its exact
palette is then built from its runs of equal pixels, which desktop content has few of.
"""

from __future__ import annotations

import enum

import attrs
import numpy as np

#: Side of the analysis tiles (a multiple of the sampling step).
TILE = 64
#: Sampling step: one pixel per SAMPLE x SAMPLE square tells a photo from drawn content.
SAMPLE = 8
#: The widest detail rectangle. Narrower ones find 256-colour palettes more often but cost
#: more per rectangle (zlib flushes, headers); on the benchmark desktops 512 was fastest and
#: smallest of 64..1024.
DETAIL_WIDTH = 512
#: TigerVNC's limit on the area of one rectangle of zlib-compressed data.
LOSSLESS_AREA = 65536
#: The widest Tight rectangle (rfbproto 7.7.6).
MAX_WIDTH = 2048


class Kind(enum.Enum):
    FILL = "fill"
    PHOTO = "photo"
    DETAIL = "detail"


@attrs.frozen
class Block:
    """A rectangle of the region (coordinates relative to it) and what it looked like."""

    kind: Kind
    x: int
    y: int
    width: int
    height: int
    colour: int = 0  # the fill's colour value

    def of(self, array: np.ndarray) -> np.ndarray:
        """This block's window of a region-sized array."""
        return array[self.y : self.y + self.height, self.x : self.x + self.width]


def plan(values: np.ndarray, photo_area: int) -> list[Block]:
    """Cut (H, W) colour values into blocks that cover them exactly once. Photo blocks
    grow up to ``photo_area`` pixels (JPEG images may be larger than zlib data)."""
    height, width = values.shape
    columns = np.arange(0, width, TILE)
    solid, colours = _solid_tiles(values, columns)
    kinds = np.where(solid, 0, np.where(_photo_tiles(values, len(columns)), 1, 2))
    blocks: list[Block] = []
    above: dict[tuple[Kind, int, int, int], int] = {}  # the previous tile row's blocks
    for row, top in enumerate(range(0, height, TILE)):
        rows = min(TILE, height - top)
        here: dict[tuple[Kind, int, int, int], int] = {}
        for kind, left, span, colour in _spans(kinds[row], colours[row], width):
            key = (kind, left, span, colour)
            index = above.get(key)
            if index is not None and _may_grow(blocks[index], rows, photo_area):
                blocks[index] = attrs.evolve(blocks[index], height=blocks[index].height + rows)
            else:
                index = len(blocks)
                blocks.append(Block(kind, left, top, span, rows, colour))
            here[key] = index
        above = here
    return blocks


def _may_grow(block: Block, rows: int, photo_area: int) -> bool:
    if block.kind is Kind.FILL:
        return True
    return block.kind is Kind.PHOTO and (block.height + rows) * block.width <= photo_area


_KINDS = (Kind.FILL, Kind.PHOTO, Kind.DETAIL)


def _spans(kinds: np.ndarray, colours: np.ndarray, width: int) -> list[tuple[Kind, int, int, int]]:
    """One row of tiles as (kind, x, width, colour) runs, each no wider than its kind may."""
    key = np.where(kinds == 0, colours.astype(np.int64), -1 - kinds)
    edges = np.flatnonzero(key[1:] != key[:-1]) + 1
    spans = []
    for first, end in zip(np.r_[0, edges].tolist(), np.r_[edges, len(key)].tolist(), strict=True):
        kind = _KINDS[kinds[first]]
        colour = int(colours[first]) if kind is Kind.FILL else 0
        left, right = first * TILE, min(end * TILE, width)
        most = DETAIL_WIDTH if kind is Kind.DETAIL else MAX_WIDTH
        if kind is Kind.PHOTO:
            most = min(most, LOSSLESS_AREA // TILE)
        for start in range(left, right, most):
            spans.append((kind, start, min(most, right - start), colour))
    return spans


def _solid_tiles(values: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tile: whether all its pixels equal its first one, and that first pixel."""
    height, width = values.shape
    widths = np.diff(np.r_[columns, width])
    solid = np.empty(((height + TILE - 1) // TILE, len(columns)), bool)
    colours = np.empty(solid.shape, np.uint32)
    for row, top in enumerate(range(0, height, TILE)):
        band = values[top : top + TILE]
        firsts = band[0, columns]
        differs = (band != np.repeat(firsts, widths)).any(axis=0)
        solid[row] = ~np.logical_or.reduceat(differs, columns)
        colours[row] = firsts
    return solid, colours


def _photo_tiles(values: np.ndarray, tile_columns: int) -> np.ndarray:
    """Per tile: whether most of its sampled pixels have distinct colours (at least 16
    samples, so a sliver at the edge never counts as a photo)."""
    height, width = values.shape
    ys, xs = np.arange(SAMPLE // 2, height, SAMPLE), np.arange(SAMPLE // 2, width, SAMPLE)
    tiles = ((ys // TILE)[:, None] * tile_columns + (xs // TILE)[None, :]).ravel()
    tile_count = (height + TILE - 1) // TILE * tile_columns
    samples = np.bincount(tiles, minlength=tile_count)
    keys = tiles.astype(np.uint64) << np.uint64(32) | values[np.ix_(ys, xs)].ravel()
    distinct = np.bincount((np.unique(keys) >> np.uint64(32)).astype(np.intp), minlength=tile_count)
    photo = (samples >= 16) & (2 * distinct > samples)
    return photo.reshape(-1, tile_columns)


def palette(values: np.ndarray, max_colours: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The block's distinct colour values and each pixel's index among them ((H, W) uint8),
    or None if it has more than ``max_colours`` (<= 256). Works on runs of equal pixels:
    one sort of the runs' colours instead of the pixels'."""
    flat = values.ravel()
    starts = np.empty(flat.size, bool)
    starts[:1] = True
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    run_colours = flat[starts]
    colours, inverse = np.unique(run_colours, return_inverse=True)
    if len(colours) > max_colours:
        return None
    lengths = np.diff(np.r_[np.flatnonzero(starts), flat.size])
    indices = np.repeat(inverse.astype(np.uint8), lengths).reshape(values.shape)
    return colours, indices
