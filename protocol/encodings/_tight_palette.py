"""The exact palette of a block, or the early news that it has more colours than allowed.

TigerVNC counts a rectangle's colours pixel by pixel and stops at the limit. On arrays the
count works on runs of equal pixels (desktop content has few runs), hashed into BUCKETS
buckets: more occupied buckets than the limit is more colours than the limit, decided without
a sort; and when no two colours share a bucket the occupied buckets are the palette itself.
Only a collision, rare among the few colours a palette may have, falls back to sorting.
Blocks are small and many, so the steps are few: numpy's cost per call dominates here.
"""

from __future__ import annotations

import numpy as np

_BITS = 12
BUCKETS = 1 << _BITS
#: Fibonacci hashing: the top bits of colour * 2**32 / golden ratio spread near colours apart.
_MULTIPLIER = np.uint32(0x9E3779B1)
_SHIFT = np.uint32(32 - _BITS)
#: Blocks larger than this are first judged by one pixel in 8 (every other row, every fourth
#: column): colourful blocks, the ones going to JPEG, are refused at an eighth of the cost.
_SAMPLED_ABOVE = 4096


def palette(values: np.ndarray, max_colours: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The block's distinct colour values and each pixel's index among them ((H, W) uint8),
    or None if it has more than ``max_colours`` (<= 256)."""
    if values.size > _SAMPLED_ABOVE:
        sample = _buckets(values[::2, ::4])
        if np.count_nonzero(np.bincount(sample.ravel(), minlength=BUCKETS)) > max_colours:
            return None
    flat = values.ravel()
    starts = np.empty(flat.size, bool)
    starts[0] = True
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    run_colours = flat[starts]
    buckets = _buckets(run_colours)
    occupied = np.zeros(BUCKETS, bool)
    occupied[buckets] = True
    if np.count_nonzero(occupied) > max_colours:
        return None
    last = np.empty(BUCKETS, np.uint32)  # the last colour written to each bucket
    last[buckets] = run_colours
    if np.array_equal(last[buckets], run_colours):  # no bucket holds two colours
        colours = last[occupied]
        inverse = (np.cumsum(occupied, dtype=np.intp) - 1)[buckets]
    else:
        colours, inverse = np.unique(run_colours, return_inverse=True)
        if len(colours) > max_colours:
            return None
    run_of_pixel = np.cumsum(starts, dtype=np.intp) - 1
    return colours, inverse.astype(np.uint8)[run_of_pixel].reshape(values.shape)


def _buckets(colours: np.ndarray) -> np.ndarray:
    """Each colour value's bucket (uint32 arithmetic wraps, as the hash wants)."""
    return colours * _MULTIPLIER >> _SHIFT
