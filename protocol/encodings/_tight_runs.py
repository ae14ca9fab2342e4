"""Rectangles from a grid of keys (blocks' colours, cells' kinds): runs of one key along each
row, found on the whole grid at once, and runs with the same columns and key in consecutive
rows stacked into one rectangle (the way X regions band rectangles, one loop over runs)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: (first column, first row, columns, rows, key) in grid units.
Rectangle = tuple[int, int, int, int, int]


def stacked_runs(
    keys: np.ndarray, may_grow: Callable[[Rectangle], bool] = lambda rectangle: True
) -> list[Rectangle]:
    """Rectangles covering the cells with keys >= 0 exactly once, in order of their first
    row. A rectangle takes the next row's run of its columns and key when ``may_grow``
    allows (it is shown the rectangle as it is)."""
    rows, columns = keys.shape
    padded = np.full((rows, columns + 1), -1, np.int64)  # each row ends in a -1
    padded[:, :columns] = keys
    flat = padded.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, flat.size]
    kept = flat[starts] >= 0
    starts, ends = starts[kept], ends[kept]
    rectangles: list[list[int]] = []
    above: dict[tuple[int, int, int], int] = {}
    here: dict[tuple[int, int, int], int] = {}
    current = -1
    for start, end, key in zip(starts.tolist(), ends.tolist(), flat[starts].tolist(), strict=True):
        row, left = divmod(start, columns + 1)
        if row != current:
            above = here if row == current + 1 else {}
            here, current = {}, row
        run = (left, end - start, key)
        index = above.get(run)
        if index is None or not may_grow(tuple(rectangles[index])):
            index = len(rectangles)
            rectangles.append([left, row, end - start, 0, key])
        rectangles[index][3] += 1
        here[run] = index
    return [tuple(rectangle) for rectangle in rectangles]
