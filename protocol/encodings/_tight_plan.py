"""How a Tight-family encoder cuts a region into blocks, decided on whole arrays.

First its solid areas (``_tight_solid``), each a fill. The rest is judged by 64x64 tiles: a
tile is *photo* when a sample of its pixels (one per 8x8 square) is mostly distinct colours
(JPEG when allowed, else full colour), else *detail* (text, widgets, lines: a palette when the
exact count allows). Cut at the tiles' and the fills' edges, the rest is a grid of cells; runs
of cells of one kind along each row of cells become blocks, and blocks grow down over runs
with the same columns: photos over tile rows too (one big JPEG beats many), details only
within their tile row and a width (DETAIL_WIDTH for lossless blocks), so a detail block has
a fair chance of a palette.
"""

from __future__ import annotations

import enum

import attrs
import numpy as np

from ._tight_runs import Rectangle, stacked_runs
from ._tight_solid import Area, solid_areas

#: Side of the analysis tiles (a multiple of the sampling step).
TILE = 64
#: Sampling step: one pixel per SAMPLE x SAMPLE square tells a photo from drawn content.
SAMPLE = 8
#: The widest detail block sent losslessly. Narrower ones find 256-colour palettes more
#: often but cost more per rectangle (palettes, zlib flushes, headers): on the benchmark
#: desktops 256 took 10% more time than 512, while 1024 saved 5% of the time for 17% more
#: bytes of text (more blocks over 256 colours, sent in full colour).
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


def plan(values: np.ndarray, photo_area: int, detail_width: int) -> list[Block]:
    """Cut (H, W) colour values into blocks that cover them exactly once: fills first.
    Photo blocks grow up to ``photo_area`` pixels (JPEG images may be larger than zlib
    data), detail blocks up to ``detail_width`` wide."""
    areas = solid_areas(values)
    fills = [
        Block(Kind.FILL, left, y, min(MAX_WIDTH, x + width - left), height, colour)
        for x, y, width, height, colour in areas
        for left in range(x, x + width, MAX_WIDTH)
    ]
    photo = _photo_tiles(values, areas)
    return fills + _cover(values.shape, areas, photo, photo_area, detail_width)


def _cover(
    shape: tuple[int, int],
    areas: list[Area],
    photo: np.ndarray,
    photo_area: int,
    detail_width: int,
) -> list[Block]:
    """Blocks covering what the solid areas leave of the region. The region is cut into
    cells at every tile edge and every area edge, so a cell is wholly filled or not, and in
    one tile, whose kind it takes."""
    height, width = shape
    edges = np.array([(x, x + w, y, y + h) for x, y, w, h, _ in areas], np.intp).reshape(-1, 4)
    xs = np.unique(np.r_[np.arange(0, width, TILE), width, edges[:, :2].ravel()])
    ys = np.unique(np.r_[np.arange(0, height, TILE), height, edges[:, 2:].ravel()])
    keys = photo[ys[:-1, None] // TILE, xs[None, :-1] // TILE].astype(np.int64)  # 1: photo
    for x, y, w, h, _ in areas:
        keys[
            np.searchsorted(ys, y) : np.searchsorted(ys, y + h),
            np.searchsorted(xs, x) : np.searchsorted(xs, x + w),
        ] = -1
    photo_width = min(MAX_WIDTH, photo_area // TILE)

    def may_grow(cells: Rectangle) -> bool:
        left, top, columns, rows, key = cells
        below = top + rows
        if key:
            return (ys[below + 1] - ys[top]) * min(
                photo_width, xs[left + columns] - xs[left]
            ) <= photo_area
        return ys[below] // TILE == ys[top] // TILE

    blocks = []
    for left, top, columns, rows, key in stacked_runs(keys, may_grow):
        kind, most = (Kind.PHOTO, photo_width) if key else (Kind.DETAIL, detail_width)
        x, right, y = int(xs[left]), int(xs[left + columns]), int(ys[top])
        block_height = int(ys[top + rows]) - y
        for start in range(x, right, most):
            blocks.append(Block(kind, start, y, min(most, right - start), block_height))
    return blocks


def _photo_tiles(values: np.ndarray, areas: list[Area]) -> np.ndarray:
    """Per tile: whether most of its sampled pixels outside the solid areas have distinct
    colours (at least 16 of them, so a sliver never counts as a photo)."""
    height, width = values.shape
    rows, columns = -(-height // TILE), -(-width // TILE)
    samples = values[SAMPLE // 2 :: SAMPLE, SAMPLE // 2 :: SAMPLE].astype(np.int64)
    for x, y, area_width, area_height, _ in areas:  # sample i lies at SAMPLE // 2 + i * SAMPLE
        samples[_samples_in(y, area_height), _samples_in(x, area_width)] = -1
    per_tile = TILE // SAMPLE
    padding = ((0, rows * per_tile - samples.shape[0]), (0, columns * per_tile - samples.shape[1]))
    tiles = np.pad(samples, padding, constant_values=-1).reshape(rows, per_tile, columns, per_tile)
    tiles = np.sort(tiles.transpose(0, 2, 1, 3).reshape(rows, columns, per_tile * per_tile))
    counts = np.count_nonzero(tiles >= 0, axis=-1)
    # Distinct values, less the -1 of the left-out samples when there are any.
    distinct = 1 + np.count_nonzero(tiles[..., 1:] != tiles[..., :-1], axis=-1)
    distinct -= tiles[..., 0] < 0
    return (counts >= 16) & (2 * distinct > counts)


def _samples_in(start: int, length: int) -> slice:
    """The samples along one axis that lie in start..start + length."""
    first = max(0, -(-(start - SAMPLE // 2) // SAMPLE))
    return slice(first, max(first, -(-(start + length - SAMPLE // 2) // SAMPLE)))
