"""Undoing Tight's gradient filter (rfbproto 7.7.6, GradientFilter) on whole arrays, for the
decoder (our encoder does not send it).

Each colour component is sent as its difference from the prediction
P = clamp(left + up - upleft, 0, MAX), modulo MAX + 1, with zeros outside the rectangle.

Unfiltering is a recurrence, but without the clamp it is a plain 2-D prefix sum; so each
band of rows is first solved as a prefix sum and the result checked against the clamp
(smooth pictures seldom clamp). A band that does clamp is solved exactly along
anti-diagonals, whose cells depend only on the two diagonals before them: one array step
per diagonal, never one per pixel.
"""

from __future__ import annotations

import numpy as np

#: Rows solved together; bounds the anti-diagonal scratch array to (BAND + 1) x (BAND + W).
BAND = 64


def gradient_unfilter(differences: np.ndarray, maxima: tuple[int, int, int]) -> np.ndarray:
    """(H, W, 3) differences (each channel < its MAX + 1, a power of two, MAX < 2**16) ->
    intensities, as int32 (sums of a band stay below 2**31: BAND rows, 2048 columns)."""
    height, width, _ = differences.shape
    mask = np.array(maxima, np.int32)
    out = np.empty((height, width, 3), np.int32)
    above = np.zeros((width, 3), np.int32)
    for top in range(0, height, BAND):
        band = differences[top : top + BAND].astype(np.int32)
        solved = _prefix_sum(band, above, mask)
        if solved is None:
            solved = _anti_diagonals(band, above, mask)
        out[top : top + BAND] = solved
        above = solved[-1]
    return out


def _prefix_sum(band: np.ndarray, above: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The unclamped solution, above + the 2-D prefix sum of the differences, if no
    prediction in it needs the clamp (then it is the solution); else None."""
    values = np.cumsum(np.cumsum(band, 0, np.int32) & mask, 1, np.int32)
    values += above
    values &= mask
    padded = np.zeros((band.shape[0] + 1, band.shape[1] + 1, 3), np.int32)
    padded[0, 1:] = above
    padded[1:, 1:] = values
    prediction = padded[:-1, 1:] + padded[1:, :-1] - padded[:-1, :-1]
    if (prediction < 0).any() or (prediction > mask).any():
        return None
    return values


def _anti_diagonals(band: np.ndarray, above: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The exact solution. Cell (i, j) lives at skew[i + j + 2, i + 1], so a diagonal is one
    contiguous row of ``skew``: the left neighbour is one diagonal back in the same
    position, the one above one diagonal back one position up, the upper-left two
    diagonals back one position up. Position 0 holds ``above``; unwritten cells are the
    zeros outside the rectangle."""
    height, width, _ = band.shape
    rows = np.arange(height)[:, None]
    diagonals = rows + np.arange(width)[None, :]
    differences = np.zeros((height + width - 1, height, 3), np.int32)
    differences[diagonals, rows] = band
    skew = np.zeros((height + width + 1, height + 1, 3), np.int32)
    skew[1 : width + 1, 0] = above
    scratch = np.empty((height, 3), np.int32)
    for diagonal in range(height + width - 1):
        low, high = max(0, diagonal - width + 1), min(height - 1, diagonal) + 1
        column = diagonal + 2
        cells = scratch[: high - low]
        np.add(skew[column - 1, low + 1 : high + 1], skew[column - 1, low:high], out=cells)
        np.subtract(cells, skew[column - 2, low:high], out=cells)
        np.maximum(cells, 0, out=cells)
        np.minimum(cells, mask, out=cells)
        np.add(cells, differences[diagonal, low:high], out=cells)
        np.bitwise_and(cells, mask, out=skew[column, low + 1 : high + 1])
    return skew[diagonals + 2, rows + 1]
