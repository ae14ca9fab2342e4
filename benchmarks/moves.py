"""Milliseconds for ``vncd.moves.find_move`` on the cases the server meets.

Run from the repository root: ``python -m benchmarks.moves [--repeat N]``. Targets (one core
of a shared machine): a window of 800x600 dragged with the whole 1920x1080 screen reported
under 3 ms, an 800x600 xterm scroll under 1.5 ms, a change too small to search (< 64x32)
answered under 0.3 ms.

Frames come from ``benchmarks.contents``: the window and the terminal are parts of the text
desktop, the background is the photo (or one flat colour). Each row prints the median and the
best of N calls and what was found: the offset and the pixels the move covers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from vncd.moves import Move, find_move
from vncd.region import Box

from .contents import HEIGHT, WIDTH, photo, text_desktop

Case = tuple[np.ndarray, np.ndarray, list[Box]]
SCREEN = Box(0, 0, WIDTH, HEIGHT)
#: The editor window's text of the text desktop: 800x600 of small text.
TERMINAL = Box(44, 58, 800, 600)
LINE_HEIGHT = 16


def dragged(background: np.ndarray) -> Case:
    """An 800x600 window of text moved by (+37, -21); the whole screen reported."""
    window = text_desktop()[TERMINAL.slices()]
    old, new = background.copy(), background.copy()
    old[300:900, 500:1300] = window
    new[279:879, 537:1337] = window
    return old, new, [SCREEN]


def scrolled_up(desktop: np.ndarray) -> Case:
    """The terminal scrolls by three lines: the rows move up 48 pixels, 48 rows are new."""
    old = np.ascontiguousarray(desktop)
    new = old.copy()
    top, bottom, shift = TERMINAL.y, TERMINAL.bottom, 3 * LINE_HEIGHT
    columns = slice(TERMINAL.x, TERMINAL.right)
    new[top : bottom - shift, columns] = old[top + shift : bottom, columns]
    new[bottom - shift : bottom, columns] = old[900 : 900 + shift, 1000 : 1000 + TERMINAL.width]
    return old, new, [TERMINAL]


def scrolled_left() -> Case:
    """The terminal scrolls 64 pixels to the left; its right 64 columns are new."""
    old = np.ascontiguousarray(text_desktop())
    new = old.copy()
    rows, shift = slice(TERMINAL.y, TERMINAL.bottom), 64
    new[rows, TERMINAL.x : TERMINAL.right - shift] = old[rows, TERMINAL.x + shift : TERMINAL.right]
    new[rows, TERMINAL.right - shift : TERMINAL.right] = old[rows, 1100 : 1100 + shift]
    return old, new, [TERMINAL]


def two_colours() -> np.ndarray:
    """The text desktop as a bitmap font draws it: ink or background, no shades. Such text
    repeats the same few colours everywhere, the hard case for looking blocks up."""
    desktop = text_desktop()
    background = desktop[TERMINAL.y, TERMINAL.x]
    flat = (desktop == background).all(axis=2)
    return np.where(flat[..., None], background, np.array([30, 30, 30, 0], np.uint8))


def small_change() -> Case:
    """A clock of 60x30 ticks: too small to search."""
    old = np.ascontiguousarray(text_desktop())
    new = old.copy()
    new[1040:1070, 1850:1910] = photo()[:30, :60]
    return old, new, [Box(1850, 1040, 60, 30)]


def noise() -> Case:
    """The terminal fills with new pixels from nowhere: nothing to find."""
    old = np.ascontiguousarray(text_desktop())
    new = old.copy()
    new[TERMINAL.slices()] = photo()[: TERMINAL.height, : TERMINAL.width]
    return old, new, [TERMINAL]


def unchanged() -> Case:
    """The whole screen reported, nothing changed."""
    old = np.ascontiguousarray(text_desktop())
    return old, old.copy(), [SCREEN]


CASES: dict[str, Callable[[], Case]] = {
    "window 800x600 dragged over photo, whole screen": lambda: dragged(photo()),
    "window 800x600 dragged over flat, whole screen": lambda: dragged(
        np.full_like(photo(), (165, 110, 58, 0))
    ),
    "terminal 800x600 scrolls 3 lines": lambda: scrolled_up(text_desktop()),
    "terminal 800x600 in two colours scrolls 3 lines": lambda: scrolled_up(two_colours()),
    "terminal 800x600 scrolls 64 pixels left": scrolled_left,
    "clock 60x30 (too small)": small_change,
    "terminal 800x600 of new pixels": noise,
    "whole screen unchanged": unchanged,
}


def timed(case: Case, repeat: int) -> tuple[float, float, Move | None]:
    """Median and best milliseconds of ``repeat`` calls: the machine is shared, so the median
    says what to expect and the best what the code costs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        move = find_move(*case)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, min(times) * 1000, move


def found(move: Move | None) -> str:
    if move is None:
        return "none"
    area = sum(box.area for box in move.boxes)
    return f"({move.dx:+d}, {move.dy:+d}) over {area} pixels in {len(move.boxes)} boxes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per case")
    arguments = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"one core, {arguments.repeat} calls per case\n")
    print("| case | median ms | best ms | found |")
    print("|---|---:|---:|---|")
    for label, make in CASES.items():
        median, best, move = timed(make(), arguments.repeat)
        print(f"| {label} | {median:.3f} | {best:.3f} | {found(move)} |", flush=True)


if __name__ == "__main__":
    main()
