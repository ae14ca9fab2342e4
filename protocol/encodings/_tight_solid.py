"""Solid areas of a region, found as TigerVNC's EncodeManager finds them, on whole arrays.

A solid area costs one TPIXEL as a fill; sent any other way it costs a palette, zlib time
and a few bytes per row. The search looks at 16x16 blocks (TigerVNC's SolidSearchBlock):
blocks of one colour side by side form runs, and runs of a colour with the same columns in
consecutive block rows join into one rectangle. A rectangle of at least MIN_AREA pixels
(TigerVNC's SolidBlockMinArea; smaller ones are cheaper inside their neighbours' palette)
and MIN_ROWS block rows is then grown a pixel row or column at a time while the pixels next
to it have its colour (TigerVNC's extendSolidAreaByPixel), so it covers the solid area
exactly.
"""

from __future__ import annotations

import attrs
import numpy as np

from ._tight_runs import stacked_runs

#: Side of the blocks the search looks at.
BLOCK = 16
#: The smallest area worth a fill of its own.
MIN_AREA = 2048
#: The fewest block rows worth a fill here: a thinner solid band (the gap beside a line of
#: text) cuts its neighbours into more rectangles, each with its own palette, zlib flush or
#: JPEG image, than it saves; inside their palettes its runs cost next to nothing.
MIN_ROWS = 3
#: 16 booleans, all True, read as two little-endian 64-bit words.
_ALL_TRUE = np.uint64(0x0101010101010101)

#: (x, y, width, height, colour value) of a solid area, in pixels of the region.
Area = tuple[int, int, int, int, int]


def solid_areas(values: np.ndarray) -> list[Area]:
    """The region's solid areas worth a fill, disjoint, in order of their first block row."""
    height, width = values.shape
    solid, colours = solid_blocks(values)
    found = []
    for x, y, columns, rows, colour in stacked_runs(np.where(solid, colours.astype(np.int64), -1)):
        x, y = x * BLOCK, y * BLOCK
        right, bottom = min(x + columns * BLOCK, width), min(y + rows * BLOCK, height)
        area = (right - x) * (bottom - y)
        if (area >= MIN_AREA and rows >= MIN_ROWS) or area == values.size:
            found.append((x, y, right, bottom, colour))
    if not found:
        return []
    left, top, right, bottom, colour = np.array(found, np.int64).T
    covered = np.zeros(values.shape, bool)
    for x, y, x_end, y_end in zip(left, top, right, bottom, strict=True):
        covered[y:y_end, x:x_end] = True
    # Up, down, left, right (TigerVNC's order); columns are the lines of a transposed view.
    grid = _Grid(values.ravel(), covered.ravel(), height, width, 1)
    top -= _grow(grid, top - 1, -1, left, right, colour)
    bottom += _grow(grid, bottom, 1, left, right, colour)
    grid = _Grid(grid.values, grid.covered, width, 1, width)
    left -= _grow(grid, left - 1, -1, top, bottom, colour)
    right += _grow(grid, right, 1, top, bottom, colour)
    return list(
        zip(
            left.tolist(),
            top.tolist(),
            (right - left).tolist(),
            (bottom - top).tolist(),
            colour.tolist(),
            strict=True,
        )
    )


def solid_blocks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per BLOCK x BLOCK block (the last row and column of blocks may be smaller): whether
    all its pixels have one colour, and its first pixel's colour."""
    height, width = values.shape
    full_height, full_width = height - height % BLOCK, width - width % BLOCK
    solid = np.empty((-(-height // BLOCK), -(-width // BLOCK)), bool)
    solid[: full_height // BLOCK, : full_width // BLOCK] = _uniform(
        values[:full_height, :full_width]
    )
    # Edge blocks, padded with copies of their own last pixels (which changes nothing).
    if full_height < height:
        bottom = values[full_height:]
        padding = ((0, BLOCK - len(bottom)), (0, -width % BLOCK))
        solid[-1] = _uniform(np.pad(bottom, padding, "edge"))[0]
    if full_width < width:
        right = values[:full_height, full_width:]
        solid[: full_height // BLOCK, -1] = _uniform(
            np.pad(right, ((0, 0), (0, BLOCK - right.shape[1])), "edge")
        )[:, 0]
    return solid, values[::BLOCK, ::BLOCK]


def _uniform(values: np.ndarray) -> np.ndarray:
    """Per block of a region whose sides are multiples of BLOCK: whether it has one colour.
    Five pixels of each block (corners, centre) pick the blocks that may; only the block
    rows holding such blocks are read whole (a photo has next to none)."""
    rows, columns = values.shape[0] // BLOCK, values.shape[1] // BLOCK
    first = values[::BLOCK, ::BLOCK]
    last, middle = BLOCK - 1, BLOCK // 2
    maybe = first == values[last::BLOCK, last::BLOCK]
    for y, x in ((0, last), (last, 0), (middle, middle)):
        maybe &= first == values[y::BLOCK, x::BLOCK]
    uniform = np.zeros((rows, columns), bool)
    bands = np.flatnonzero(np.diff(np.r_[0, maybe.any(axis=1), 0].astype(np.int8)))
    for top, bottom in zip(bands[::2].tolist(), bands[1::2].tolist(), strict=True):
        uniform[top:bottom] = maybe[top:bottom] & _all_equal(values[top * BLOCK : bottom * BLOCK])
    return uniform


def _all_equal(values: np.ndarray) -> np.ndarray:
    """``_uniform`` read whole: a row segment is uniform if it equals its first pixel (16
    booleans read as two words), a block if its segments are and their first pixels equal
    the block's first."""
    height, width = values.shape
    rows, columns = height // BLOCK, width // BLOCK
    segments = values.reshape(height, columns, BLOCK)
    equal = np.ascontiguousarray(segments == segments[:, :, :1]).view("<u8")
    uniform = (equal[..., 0] & equal[..., 1]) == _ALL_TRUE
    firsts = segments[:, :, 0].reshape(rows, BLOCK, columns)
    return (uniform.reshape(rows, BLOCK, columns) & (firsts == firsts[:, :1])).all(axis=1)


@attrs.frozen
class _Grid:
    """The region's values and covered flags, flat, seen as ``lines`` lines (pixel rows, or
    columns) of pixels: pixel p of line l is at l * line_step + p * pixel_step."""

    values: np.ndarray
    covered: np.ndarray
    lines: int
    line_step: int
    pixel_step: int


def _grow(
    grid: _Grid,
    nearest: np.ndarray,
    step: int,
    firsts: np.ndarray,
    ends: np.ndarray,
    colours: np.ndarray,
) -> np.ndarray:
    """For each area, how many lines beyond an edge (lines ``nearest``, nearest + step, ...;
    pixels firsts..ends) are all of its colour and covered by no area, and so become its
    own (covered): at most BLOCK - 1, which reaches the edge of the solid area unless a
    smaller solid rectangle lies beyond. Most areas stop at once, so the nearest line is
    looked at first, the others only for the areas that took it."""
    reach = _reach(grid, nearest, step, firsts, ends, colours, 1)
    going = np.flatnonzero(reach)
    reach[going] += _reach(
        grid, nearest[going] + step, step, firsts[going], ends[going], colours[going], BLOCK - 2
    )
    return reach


def _reach(
    grid: _Grid,
    nearest: np.ndarray,
    step: int,
    firsts: np.ndarray,
    ends: np.ndarray,
    colours: np.ndarray,
    depth: int,
) -> np.ndarray:
    """``_grow`` for ``depth`` lines, all areas at once: every area's pixels of the lines
    are gathered into one (pixels, depth) array."""
    if not len(nearest):
        return np.zeros(0, np.int64)
    lengths = ends - firsts
    offsets = np.r_[0, np.cumsum(lengths)[:-1]]
    pixels = np.arange(lengths.sum()) + np.repeat(firsts - offsets, lengths)
    lines = nearest[:, None] + step * np.arange(depth)
    inside = (lines >= 0) & (lines < grid.lines)
    starts = np.clip(lines, 0, grid.lines - 1) * grid.line_step
    index = pixels[:, None] * grid.pixel_step + np.repeat(starts, lengths, axis=0)
    free = grid.values[index] == np.repeat(colours, lengths)[:, None]
    free &= ~grid.covered[index]
    whole = np.logical_and.reduceat(free, offsets, axis=0) & inside
    reach = np.cumprod(whole, axis=1).sum(axis=1)
    grid.covered[index[np.repeat(np.arange(depth) < reach[:, None], lengths, axis=0)]] = True
    return reach
