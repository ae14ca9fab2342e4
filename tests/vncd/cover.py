"""How many times boxes cover each pixel: the check that a set of boxes covers what it must,
each pixel once."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from vncd.region import Box


def cover_count(boxes: Iterable[Box], height: int, width: int) -> np.ndarray:
    """(height, width) ints: for each pixel, how many of ``boxes`` hold it."""
    count = np.zeros((height, width), int)
    for box in boxes:
        count[box.slices()] += 1
    return count
