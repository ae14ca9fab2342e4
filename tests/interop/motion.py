"""Scrolls and window moves on a served X display, step by step, and what a viewer received
in each step: the scenarios of the CopyRect tests (rfbproto 7.7.2), gone through by TigerVNC's
viewer (tests/interop) and by noVNC (tests/browser) alike.

A step changes the display (a terminal prints lines, a window moves), waits until the display
holds still, then until the viewer shows it pixel for pixel: the rectangles received meanwhile
are the step's. No window manager runs, so windows stay where -geometry or ConfigureWindow
puts them.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import attrs
import numpy as np
import pytest
from PIL import Image
from Xlib import display

from benchmarks.contents import photo
from protocol import Rectangle
from protocol.encodings import ENCODERS, Encoding

from .desktop import describe_difference
from .xwd import xwd_root

#: How long the display must stay the same to count as still: xterm draws a batch of lines in
#: one go, but a loaded machine may pause it between requests.
STILL_SECONDS = 0.3
#: How long a change may take to reach the display, and then the viewer.
STEP_SECONDS = 10.0

#: The scrolling terminal: 80x24 characters of xterm's default 6x13 font, right of and below
#: busy_desktop's xterm, over the textured root.
TERMINAL_GEOMETRY = "80x24+480+380"
#: Lines printed before the steps: the terminal is full, so every further line scrolls it.
FILL_LINES = 30
#: Lines printed in each scroll step: a line at a time and several at once (xterm's jump
#: scroll moves the text by the whole batch).
SCROLL_BATCHES = (1, 3, 2, 5)

#: The moved window's size and its places, one per step after the first: right, left, down
#: and up, each move overlapping the last place (as a drag does), over the root's gradients
#: and noise and clear of busy_desktop's xterm.
WINDOW_SIZE = (320, 240)
WINDOW_PLACES = ((120, 400), (184, 432), (280, 384), (152, 408), (80, 352))

#: The scroll steps' pixel rectangles may cover at most this share of the scrolled areas:
#: the text that scrolled comes by CopyRect, only the new lines as pixels.
MAX_SCROLL_PIXELS = 0.3
#: At least this share of a moved window's new place must come by CopyRect, and at most
#: ``MAX_WINDOW_PIXELS`` of it as pixels (the window's edges, where tiles match in part).
MIN_WINDOW_COPIED = 0.9
MAX_WINDOW_PIXELS = 0.1

#: A drag: the window moved by a few pixels every DRAG_INTERVAL seconds, a pointer's pace,
#: which is faster than updates follow, so vncd finds moves while the viewer is behind.
DRAG_INTERVAL = 0.005
#: Each drag goes from one end to the other in DRAG_MOVES moves, and the next one back.
DRAG_ENDS = ((100, 330), (420, 366))
DRAG_MOVES = 40
DRAGS = 3


class Viewer(Protocol):
    """A connected viewer whose conversation is recorded."""

    def received(self) -> list[Rectangle]:
        """Every rectangle it received so far, in order."""

    def wait_until_shown(self, truth: np.ndarray, timeout: float) -> np.ndarray | None:
        """Its picture (RGB) once it equals ``truth``, else the last one after ``timeout``."""


def photo_pixels(width: int, height: int) -> np.ndarray:
    """A piece of ``benchmarks.contents.photo()`` as RGB: smooth areas and fine texture."""
    return np.ascontiguousarray(photo()[300 : 300 + height, 600 : 600 + width, 2::-1])


class PaintedWindow:
    """An override-redirect window showing ``pixels`` (RGB) at (x, y). They are its
    background pixmap, so the X server itself repaints whatever part gets uncovered; only
    ``move`` and ``drag`` move it."""

    def __init__(self, display_name: str, pixels: np.ndarray, x: int, y: int) -> None:
        self._connection = display.Display(display_name)
        screen = self._connection.screen()
        root, depth = screen.root, screen.root_depth
        height, width = pixels.shape[:2]
        pixmap = root.create_pixmap(width, height, depth)
        pixmap.put_pil_image(pixmap.create_gc(), 0, 0, Image.fromarray(pixels, "RGB"))
        self._window = root.create_window(
            x, y, width, height, 0, depth, background_pixmap=pixmap, override_redirect=True
        )
        self._window.map()
        self._connection.sync()

    def move(self, x: int, y: int) -> None:
        self._window.configure(x=x, y=y)
        self._connection.sync()

    def drag(self, path: Sequence[tuple[int, int]]) -> None:
        """Move through ``path`` at a pointer's pace."""
        for x, y in path:
            self.move(x, y)
            time.sleep(DRAG_INTERVAL)

    def close(self) -> None:
        self._connection.close()  # the server destroys the window with its client


@contextlib.contextmanager
def painted_window(
    display_name: str, pixels: np.ndarray, x: int, y: int
) -> Iterator[PaintedWindow]:
    window = PaintedWindow(display_name, pixels, x, y)
    try:
        yield window
    finally:
        window.close()


class ScrollingTerminal:
    """An xterm printing what ``print_lines`` appends to its file (`tail -f`): once the
    terminal is full, each batch of lines scrolls its text up by as many lines."""

    def __init__(self, display_name: str, lines: Path) -> None:
        lines.touch()
        self._lines = lines
        self._printed = 0
        self._connection = display.Display(display_name)
        self.process = subprocess.Popen(
            ["xterm", "-geometry", TERMINAL_GEOMETRY, "-e", "tail", "-n", "+1", "-f", str(lines)],
            env={**os.environ, "DISPLAY": display_name},
            stdout=subprocess.DEVNULL,
        )

    def print_lines(self, count: int) -> None:
        """Append ``count`` lines of numbers, different in every line, in one write; return
        once xterm has read them.

        The batch ends by setting the window's title (xterm's OSC 2 sequence): once the X
        server has the new title, xterm has parsed the lines and the server has run every
        request xterm made for them before it (it runs a client's requests in order)."""
        first, self._printed = self._printed + 1, self._printed + count
        text = "".join(_line(number) for number in range(first, self._printed + 1))
        title = f"printed {self._printed}"
        with self._lines.open("a") as file:
            file.write(f"{text}\033]2;{title}\007")
        deadline = time.monotonic() + STEP_SECONDS
        while title not in self._titles():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"xterm did not print line {self._printed}")
            time.sleep(0.02)

    def _titles(self) -> set[str | None]:
        """The titles of the top-level windows (no window manager: the root's children)."""
        root = self._connection.screen().root
        return {child.get_wm_name() for child in root.query_tree().children}

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self._connection.close()


def _line(number: int) -> str:
    """Line ``number``: nine pseudo-random hex numbers, dense text unlike any other line."""
    words = (f"{(number * 7919 + i * 104729) % 999983:06x}" for i in range(9))
    return f"{number:5d}: {' '.join(words)}\n"


@contextlib.contextmanager
def scrolling_terminal(display_name: str, lines: Path) -> Iterator[ScrollingTerminal]:
    terminal = ScrollingTerminal(display_name, lines)
    try:
        yield terminal
    finally:
        terminal.close()


def settled(display_name: str, before: np.ndarray | None) -> np.ndarray:
    """The display (RGB) once it differs from ``before`` (None: anything goes) and has
    stayed the same for STILL_SECONDS."""
    deadline = time.monotonic() + STEP_SECONDS
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = xwd_root(display_name)
        if last is None or not np.array_equal(now, last):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= STILL_SECONDS and (
            before is None or not np.array_equal(now, before)
        ):
            return now
        time.sleep(0.05)
    raise AssertionError("the display did not change and then hold still")


@attrs.frozen
class Step:
    """One change of the display and what the viewer received until it showed it."""

    before: np.ndarray  # the display before (RGB)
    after: np.ndarray
    rectangles: tuple[Rectangle, ...]

    def changed(self) -> np.ndarray:
        """Which pixels the step changed."""
        return (self.before != self.after).any(axis=2)

    def copies(self) -> list[Rectangle]:
        return [r for r in self.rectangles if r.encoding == Encoding.COPY_RECT]

    def pixel_rectangles(self) -> list[Rectangle]:
        return [r for r in self.rectangles if r.encoding in ENCODERS]

    def painted(self, rectangles: Sequence[Rectangle]) -> np.ndarray:
        """Which pixels ``rectangles`` cover."""
        mask = np.zeros(self.after.shape[:2], dtype=bool)
        for r in rectangles:
            mask[r.y : r.y + r.height, r.x : r.x + r.width] = True
        return mask

    def describe(self) -> str:
        """The rectangles in a line: where they went, how they came, how many bytes."""
        return ", ".join(describe_rectangle(r) for r in self.rectangles)


def describe_rectangle(r: Rectangle) -> str:
    how = f"from {copy_source(r)}" if r.encoding == Encoding.COPY_RECT else f"enc {r.encoding}"
    return f"{r.width}x{r.height}+{r.x}+{r.y} {how} {len(r.payload)}B"


def copy_source(copy: Rectangle) -> tuple[int, int]:
    """A CopyRect's src-x-position and src-y-position (rfbproto 7.7.2: two U16)."""
    return int.from_bytes(copy.payload[:2], "big"), int.from_bytes(copy.payload[2:4], "big")


def copy_offset(copy: Rectangle) -> tuple[int, int]:
    """How far a CopyRect moves its pixels, (dx, dy)."""
    src_x, src_y = copy_source(copy)
    return copy.x - src_x, copy.y - src_y


def run_steps(
    display_name: str, viewer: Viewer, actions: Sequence[Callable[[], object]]
) -> list[Step]:
    """Wait until the viewer shows the display, then take each action in turn and wait until
    the viewer shows its outcome; fails naming the step the viewer got wrong."""
    truth = settled(display_name, None)
    show(viewer, truth, "before the first step")
    steps = []
    for number, action in enumerate(actions, 1):
        mark = len(viewer.received())
        action()
        after = settled(display_name, truth)
        show(viewer, after, f"step {number}")
        steps.append(Step(truth, after, tuple(viewer.received()[mark:])))
        truth = after
    return steps


def show(viewer: Viewer, truth: np.ndarray, when: str) -> None:
    picture = viewer.wait_until_shown(truth, STEP_SECONDS)
    if picture is None or not np.array_equal(picture, truth):
        pytest.fail(f"{when}: {describe_difference(picture, truth)}")


def scroll_steps(display_name: str, viewer: Viewer, directory: Path) -> list[Step]:
    """The terminal filled, then scrolled by each of SCROLL_BATCHES."""
    with scrolling_terminal(display_name, directory / "lines") as terminal:
        terminal.print_lines(FILL_LINES)
        actions = [functools.partial(terminal.print_lines, count) for count in SCROLL_BATCHES]
        return run_steps(display_name, viewer, actions)


def move_steps(display_name: str, viewer: Viewer) -> list[Step]:
    """A photo window shown at the first of WINDOW_PLACES, then moved to each of the others."""
    (x, y), *places = WINDOW_PLACES
    with painted_window(display_name, photo_pixels(*WINDOW_SIZE), x, y) as window:
        return run_steps(display_name, viewer, [functools.partial(window.move, *p) for p in places])


def drag_path(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int]]:
    """DRAG_MOVES places from ``start`` to ``end``, wobbling up and down on the way (so the
    offsets between places differ), the last one ``end``."""
    (x0, y0), (x1, y1) = start, end
    path = []
    for move in range(1, DRAG_MOVES):
        wobble = 4 * (move % 7) - 12
        path.append(
            (x0 + (x1 - x0) * move // DRAG_MOVES, y0 + (y1 - y0) * move // DRAG_MOVES + wobble)
        )
    return [*path, end]


def drag_steps(display_name: str, viewer: Viewer) -> list[Step]:
    """The photo window dragged DRAGS times between DRAG_ENDS, there and back, each drag a
    step."""
    there, back = DRAG_ENDS
    paths = [drag_path(there, back) if n % 2 == 0 else drag_path(back, there) for n in range(DRAGS)]
    with painted_window(display_name, photo_pixels(*WINDOW_SIZE), *there) as window:
        return run_steps(display_name, viewer, [functools.partial(window.drag, p) for p in paths])


def check_scrolls_copied(steps: Sequence[Step]) -> None:
    """Every scroll step came with CopyRects moving text up, and the pixel rectangles
    covered at most MAX_SCROLL_PIXELS of the scrolled areas."""
    scrolled = pixels = 0
    for number, step in enumerate(steps, 1):
        offsets = {copy_offset(copy) for copy in step.copies()}
        assert offsets, f"step {number}: no CopyRect: {step.describe()}"
        assert all(dx == 0 and dy < 0 for dx, dy in offsets), (
            f"step {number}: copies by {offsets}, not up: {step.describe()}"
        )
        rows, columns = np.nonzero(step.changed())
        scrolled += (np.ptp(rows) + 1) * (np.ptp(columns) + 1)
        pixels += sum(r.width * r.height for r in step.pixel_rectangles())
    assert pixels <= MAX_SCROLL_PIXELS * scrolled, (
        f"pixel rectangles covered {pixels} pixels of {scrolled} scrolled: "
        + "; ".join(step.describe() for step in steps)
    )


def check_moves_copied(steps: Sequence[Step]) -> None:
    """Every move came with CopyRects by the window's offset that cover its new place, and
    few pixels of it were sent as pixel rectangles."""
    width, height = WINDOW_SIZE
    area = width * height
    for number, (step, (old, new)) in enumerate(
        zip(steps, itertools.pairwise(WINDOW_PLACES), strict=True), 1
    ):
        offset = (new[0] - old[0], new[1] - old[1])
        window = (slice(new[1], new[1] + height), slice(new[0], new[0] + width))
        offsets = {copy_offset(copy) for copy in step.copies()}
        copied = int(np.count_nonzero(step.painted(step.copies())[window]))
        sent = int(np.count_nonzero(step.painted(step.pixel_rectangles())[window]))
        context = f"step {number}, the window moved by {offset}: {step.describe()}"
        assert offsets == {offset}, f"copies by {offsets}; {context}"
        assert copied >= MIN_WINDOW_COPIED * area, f"{copied} of {area} copied; {context}"
        assert sent <= MAX_WINDOW_PIXELS * area, f"{sent} of {area} sent as pixels; {context}"


def check_drags_copied(steps: Sequence[Step]) -> None:
    """Every drag came with CopyRects (the window's moves are coalesced, so no more)."""
    copies = [len(step.copies()) for step in steps]
    assert all(copies), f"CopyRects per drag: {copies}"
