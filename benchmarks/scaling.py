"""Milliseconds per 1920x1080 frame for server-side scaling (``[source] scale``,
vncd.sources.scaled), on the benchmark contents.

Run from the repository root: ``python -m benchmarks.scaling [--repeat N]``.

Rows: what vncd does per captured frame at 0.5 (Pillow's ``reduce(2)``, the path it takes
when the desktop is an exact multiple) beside numpy's 2x2 average (the alternative measured
and not taken), at 2/3 (1280x720: Pillow's BOX resize), and at 0.5 the whole ``capture()`` of
a ScaledSource (the wrapped capture's copy included) and a 256x64 box grabbed alone (what
X DAMAGE usually asks for). The process is pinned to one core; each figure is the best of N
runs (the machine is shared: the minimum is the least noisy).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from vncd.region import Box
from vncd.sources.scaled import ScaledSource, scale_pixels, scaled_size

from .contents import HEIGHT, WIDTH, mixed, photo, text_desktop

CONTENTS: dict[str, Callable[[], np.ndarray]] = {
    "text": text_desktop,
    "photo": photo,
    "mixed": mixed,
}


def numpy_half(pixels: np.ndarray) -> np.ndarray:
    """The rounded 2x2 average in numpy, in uint16 (the alternative to Pillow's reduce)."""
    height, width = pixels.shape[0] // 2, pixels.shape[1] // 2
    rows = pixels.reshape(height, 2, width * 2 * 4)
    pairs = rows[:, 0].astype(np.uint16)
    pairs += rows[:, 1]
    quads = pairs.reshape(height, width, 2, 4)
    total = quads[:, :, 0] + quads[:, :, 1]
    total += 2
    total >>= 2
    return total.astype(np.uint8)


class FrameSource:
    """A desktop that hands out copies of one frame, as a source's capture does."""

    name = "benchmark"

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def capture(self) -> np.ndarray:
        return self.pixels.copy()

    def capture_region(self, box: Box) -> np.ndarray:
        return self.pixels[box.slices()].copy()


def best_ms(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def rows(frame: np.ndarray) -> dict[str, Callable[[], object]]:
    half = ScaledSource(FrameSource(frame), Fraction(1, 2))  # type: ignore[arg-type]
    box = Box(320, 200, 256, 64)
    return {
        "0.5 Pillow reduce (vncd)": lambda: scale_pixels(frame, (WIDTH // 2, HEIGHT // 2)),
        "0.5 numpy 2x2 average": lambda: numpy_half(frame),
        "2/3 Pillow BOX (1280x720)": lambda: scale_pixels(
            frame, scaled_size((WIDTH, HEIGHT), Fraction(2, 3))
        ),
        "0.5 ScaledSource.capture()": half.capture,
        "0.5 256x64 box alone": lambda: half.capture_region(box),  # type: ignore[attr-defined]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    arguments = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    frames = {name: make() for name, make in CONTENTS.items()}
    for frame in frames.values():  # the alternative gives the same pixels
        assert np.array_equal(numpy_half(frame), scale_pixels(frame, (WIDTH // 2, HEIGHT // 2)))
    labels = list(rows(frames["text"]))
    print(f"| ms per {WIDTH}x{HEIGHT} frame | " + " | ".join(frames) + " |")
    print("|---|" + "---:|" * len(frames))
    timings = {name: rows(frame) for name, frame in frames.items()}
    for label in labels:
        cells = [f"{best_ms(timings[name][label], arguments.repeat):.2f}" for name in frames]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
