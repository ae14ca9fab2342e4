"""The side-by-side bench's X display: a private Xvfb with reproducible content, and the
painters that change it.

Every server is measured on the same pixels, so the scene is deterministic: the wallpaper is
``benchmarks.contents.photo()`` (seeded gradients and noise) set as the root window's
background, with three xterms showing seeded text on the left half. The right half is kept
free of windows for what the bench paints on the root window: the 640x480 animated region,
the grid of latency spots and the small "clock", and for the window the bench drags
(``DraggedWindow``). The pointer sits in the bottom-right corner (servers that draw the cursor
into the framebuffer draw it there; comparisons mask it out).

The first xterm also scrolls on demand (``Scene.scroll``): its ``cat`` shows the seeded text,
then copies what the bench writes to a FIFO, so each line written scrolls the text up a line,
as a terminal does, with no window manager or keyboard involved. ``Scene.restore`` puts the
text back and waits until the X server shows exactly the pixels it showed after ``build``.

Changes carry a *barcode*: 16 black or white cells saying a 12-bit frame number and a 4-bit
check, put with one PutImage request (the X server applies a request atomically, so a capture
never sees half a barcode). A viewer reads the number back from its decoded pixels, which is
how the bench counts distinct frames delivered, even through JPEG.

The painters run in their own processes (``Painter``), so that the bench's decoding threads
never delay their clock; they are started with ``python -c`` rather than a ``__main__`` block,
which would make ``just bench`` run them as benchmarks.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import numpy as np
import Xlib.display
from Xlib import X

from .contents import photo

WIDTH, HEIGHT = 1920, 1080
STARTUP_SECONDS = 20.0


@attrs.frozen
class Box:
    """A screen rectangle."""

    x: int
    y: int
    width: int
    height: int

    def of(self, pixels: np.ndarray) -> np.ndarray:
        """This rectangle's part of an (H, W, 4) array."""
        return pixels[self.y : self.y + self.height, self.x : self.x + self.width]


#: The animated region; its barcode is the top strip (cells of 40x24).
ANIMATION = Box(1220, 60, 640, 480)
ANIMATION_CELL = (40, 24)
#: Latency spots: a 10x5 grid of 64x48 rectangles, one fresh spot (and colour) per sample.
SPOT_SIZE = (64, 48)
SPOT_ORIGIN = (1220, 600)
SPOT_GRID = (10, 5)
#: The clock: a 128x16 barcode (cells of 8x16).
CLOCK = Box(1220, 900, 128, 16)
CLOCK_CELL = (8, 16)
#: Where the pointer (and any cursor drawn into the framebuffer) is: masked out of checks.
CURSOR_CORNER = Box(WIDTH - 64, HEIGHT - 64, 64, 64)
#: (columns, rows, x, y) of the text windows, all left of x = 1200.
XTERMS = ((96, 36, 30, 30), (80, 24, 640, 420), (100, 20, 60, 760))
#: The xterm that scrolls (the largest).
SCROLLING = 0
#: The dragged window where it starts, and its move per step (see ``DraggedWindow.move``).
DRAGGED = Box(1260, 200, 480, 360)
DRAG_STEP = (6, 4)
#: ECMA-48 CUP (cursor home) then ED 2 (erase the display): a terminal's screen made blank.
_CLEAR_TERMINAL = b"\x1b[H\x1b[2J"

_BITS = 16
_VALUE_BITS = 12
_VOCABULARY = (
    "def class return import from self None True async await yield lambda numpy frame pixel "
    "encode decode rect tile zlib stream buffer width height server client viewer update "
    "request colour format bytes range while else the of and to in is that it was on are as "
    "$ ls -la cd make git status diff commit 0x1f 255 1920 1080 /usr/bin/python3 error: ok"
)


# --- barcodes --------------------------------------------------------------------------------


def barcode_bits(value: int) -> list[bool]:
    """16 cells: ``value`` (12 bits, wrapped) then a 4-bit check that an all-black or
    all-white strip, or a mix of two frames, is unlikely to pass."""
    value &= (1 << _VALUE_BITS) - 1
    check = (value ^ (value >> 4) ^ (value >> 8) ^ 0b1010) & 0xF
    word = value | check << _VALUE_BITS
    return [bool(word >> bit & 1) for bit in range(_BITS)]


def barcode_strip(value: int, cell: tuple[int, int]) -> np.ndarray:
    """The (cell_h, 16 * cell_w, 4) BGRX pixels that say ``value``."""
    cell_w, cell_h = cell
    row = np.repeat(np.array(barcode_bits(value), np.uint8) * 255, cell_w)
    strip = np.repeat(row[None, :, None], 4, axis=2).repeat(cell_h, axis=0)
    return np.ascontiguousarray(strip)


def read_barcode(pixels: np.ndarray, cell: tuple[int, int]) -> int | None:
    """The value a strip says, or None when a cell is not clearly black or white or the check
    fails. Reads each cell's inner part, so JPEG's ringing at the edges does no harm."""
    cell_w, cell_h = cell
    word = 0
    for bit in range(_BITS):
        inner = pixels[
            cell_h // 4 : cell_h - cell_h // 4,
            bit * cell_w + cell_w // 4 : (bit + 1) * cell_w - cell_w // 4,
            :3,
        ]
        level = float(inner.mean())
        if 64 <= level <= 192:
            return None
        word |= (level > 192) << bit
    value = word & ((1 << _VALUE_BITS) - 1)
    bits = barcode_bits(value)
    return value if all(bool(word >> b & 1) == bits[b] for b in range(_BITS)) else None


# --- latency spots ---------------------------------------------------------------------------


def spot(index: int) -> Box:
    """The ``index``-th latency spot (cycling through the grid)."""
    columns, rows = SPOT_GRID
    index %= columns * rows
    return Box(
        SPOT_ORIGIN[0] + SPOT_SIZE[0] * (index % columns),
        SPOT_ORIGIN[1] + SPOT_SIZE[1] * (index // columns),
        *SPOT_SIZE,
    )


def spot_colour(index: int) -> tuple[int, int, int]:
    """A saturated colour (R, G, B) per sample, far from the wallpaper's muted tones."""
    hue = (index * 0.618034) % 1.0
    sector, fraction = divmod(hue * 6.0, 1.0)
    rising, falling = int(255 * fraction), int(255 * (1 - fraction))
    return [
        (255, rising, 0),
        (falling, 255, 0),
        (0, 255, rising),
        (0, falling, 255),
        (rising, 0, 255),
        (255, 0, falling),
    ][int(sector)]


# --- X helpers -------------------------------------------------------------------------------


def put_image(
    display: Xlib.display.Display, drawable, gc, x: int, y: int, pixels: np.ndarray
) -> None:
    """PutImage of BGRX pixels, in bands that fit the X server's request size limit."""
    height, width = pixels.shape[:2]
    limit = display.display.info.max_request_length * 4 - 64
    rows = max(1, limit // (width * 4))
    for top in range(0, height, rows):
        band = np.ascontiguousarray(pixels[top : top + rows])
        drawable.put_image(gc, x, y + top, width, band.shape[0], X.ZPixmap, 24, 0, band.tobytes())


def get_image(root, box: Box) -> np.ndarray:
    """The (H, W, 4) BGRX pixels the X server shows in ``box`` (the ground truth)."""
    out = np.zeros((box.height, box.width, 4), np.uint8)
    for top in range(0, box.height, 64):
        rows = min(64, box.height - top)
        reply = root.get_image(box.x, box.y + top, box.width, rows, X.ZPixmap, 0xFFFFFFFF)
        band = np.frombuffer(reply.data, np.uint8).reshape(rows, box.width, 4)
        out[top : top + rows] = band
    out[..., 3] = 0
    return out


def text_line(rng: random.Random, columns: int) -> str:
    """A line of seeded words, shorter than ``columns`` (so that it never wraps)."""
    words = _VOCABULARY.split()
    return " ".join(rng.choice(words) for _ in range(rng.randint(2, 14)))[: columns - 1]


def open_display(name: str) -> Xlib.display.Display:
    """python-xlib refuses to connect without an Xauthority file; the bench sets an empty
    one in XAUTHORITY (see ``Xvfb``), about which python-xlib prints a warning on stdout,
    where the painters report: silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        return Xlib.display.Display(name)


# --- Xvfb and the scene ----------------------------------------------------------------------


def read_display(read_end: int, process: subprocess.Popen) -> str:
    """The display name (":N") that an Xvfb started with ``-displayfd`` writes to the pipe
    ``read_end``; RuntimeError if it exits or stays silent for STARTUP_SECONDS."""
    number = b""
    while not number.endswith(b"\n"):
        ready, _, _ = select.select([read_end], [], [], STARTUP_SECONDS)
        chunk = os.read(read_end, 16) if ready else b""
        if not chunk:
            raise RuntimeError(f"Xvfb did not start (exit status {process.poll()})")
        number += chunk
    return f":{int(number)}"


class Xvfb:
    """A private Xvfb on a display number it picks itself (``-displayfd``).

    ``-noreset`` keeps the root window's background when the last client leaves; ``-nolisten
    tcp`` keeps it off the network. ``env`` is what every X client of the bench runs with:
    DISPLAY and an empty XAUTHORITY file."""

    def __init__(self, workdir: Path, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.workdir = workdir
        self.size = (width, height)
        self.process: subprocess.Popen | None = None
        self.display = ""
        self.env: dict[str, str] = {}

    def start(self) -> None:
        read_end, write_end = os.pipe()
        width, height = self.size
        self.process = subprocess.Popen(
            [
                *("Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24"),
                *("-noreset", "-nolisten", "tcp"),
            ],
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "Xvfb.log").open("w"),
            start_new_session=True,
        )
        os.close(write_end)
        try:
            self.display = read_display(read_end, self.process)
        finally:
            os.close(read_end)
        xauthority = self.workdir / "Xauthority"
        xauthority.touch()
        self.env = {**os.environ, "DISPLAY": self.display, "XAUTHORITY": str(xauthority)}
        os.environ["XAUTHORITY"] = str(xauthority)  # for this process's own connections

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Scene:
    """The reproducible desktop and the bench's own X connection to change and read it."""

    def __init__(self, xvfb: Xvfb) -> None:
        self.xvfb = xvfb
        self.x = open_display(xvfb.display)
        self.root = self.x.screen().root
        self.gc = self.root.create_gc(foreground=0, subwindow_mode=X.ClipByChildren)
        self.xterms: list[subprocess.Popen] = []
        self._scroll_fifo: int | None = None  # written to make the scrolling xterm print
        self._scroll_text = ""  # what that xterm showed after ``build``
        self._scroll_box = Box(0, 0, 0, 0)  # where it is on the screen
        self._scroll_pixels = np.zeros((0, 0, 4), np.uint8)  # what it showed after ``build``
        self._scrolled = False

    def build(self) -> None:
        """Wallpaper as the root background, screen saver off, pointer in the corner, xterms."""
        self.x.set_screen_saver(0, 0, X.DontPreferBlanking, X.AllowExposures)
        self.wallpaper = self.root.create_pixmap(WIDTH, HEIGHT, 24)
        put_image(self.x, self.wallpaper, self.gc, 0, 0, photo())
        self.root.change_attributes(background_pixmap=self.wallpaper)
        self.root.warp_pointer(WIDTH - 1, HEIGHT - 1)
        self.restore()
        rng = random.Random(8)
        for index, (columns, rows, x, y) in enumerate(XTERMS):
            text = self.xvfb.workdir / f"xterm{index}.txt"
            text.write_text("\n".join(text_line(rng, columns) for _ in range(rows - 1)))
            sources = [str(text)]
            if index == SCROLLING:
                fifo = self.xvfb.workdir / "scroll.fifo"
                os.mkfifo(fifo)
                # Opened for reading and writing: the open does not wait for the reader, and
                # cat never sees the FIFO end while the bench runs.
                self._scroll_fifo = os.open(fifo, os.O_RDWR)
                self._scroll_text = text.read_text()
                sources.append(str(fifo))
            self.xterms.append(
                subprocess.Popen(
                    [
                        *(
                            "xterm",
                            "-geometry",
                            f"{columns}x{rows}+{x}+{y}",
                            "-title",
                            f"text{index}",
                        ),
                        *("-xrm", "XTerm*cursorBlink: false", "-hold", "-e", "cat", *sources),
                    ],
                    env=self.xvfb.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while len(self.root.query_tree().children) < len(XTERMS):
            if time.monotonic() > deadline:
                raise RuntimeError("the xterms did not appear")
            time.sleep(0.05)
        time.sleep(1.0)  # let them draw their text
        *_, x, y = XTERMS[SCROLLING]
        found = [
            Box(x, y, geometry.width, geometry.height)
            for geometry in (window.get_geometry() for window in self.root.query_tree().children)
            if (geometry.x, geometry.y) == (x, y)
        ]
        if not found:
            raise RuntimeError(f"no xterm at ({x}, {y})")
        self._scroll_box = found[0]
        self._scroll_pixels = get_image(self.root, self._scroll_box)

    def restore(self) -> None:
        """Repaint the root window's background (undoes every painter's marks) and put the
        scrolling xterm's text back if it scrolled."""
        self.root.clear_area(0, 0, WIDTH, HEIGHT)
        self.x.sync()
        if not self._scrolled:
            return
        assert self._scroll_fifo is not None
        os.write(self._scroll_fifo, _CLEAR_TERMINAL + self._scroll_text.encode())
        deadline = time.monotonic() + STARTUP_SECONDS
        while not np.array_equal(get_image(self.root, self._scroll_box), self._scroll_pixels):
            if time.monotonic() > deadline:
                raise RuntimeError("the scrolling xterm did not show its text again")
            time.sleep(0.02)
        self._scrolled = False

    def scroll(self, step: int) -> None:
        """The scrolling xterm prints one more line (seeded by ``step``) below its text, which
        moves up a line once the xterm is full. Asynchronous: the xterm draws it a moment
        later. Undone by ``restore``."""
        assert self._scroll_fifo is not None
        line = text_line(random.Random(step), XTERMS[SCROLLING][0])
        os.write(self._scroll_fifo, b"\n" + line.encode())
        self._scrolled = True

    def shift(self, step: int) -> None:
        """Redraw the wallpaper moved up-left by 1..16 pixels (by ``step``): new pixels
        almost everywhere outside the xterms, of the same kind. Undone by ``restore``."""
        dx, dy = 1 + step * 5 % 16, 1 + step * 3 % 16
        self.root.copy_area(self.gc, self.wallpaper, dx, dy, WIDTH - dx, HEIGHT - dy, 0, 0)
        self.x.sync()

    def paint(self, box: Box, rgb: tuple[int, int, int]) -> float:
        """Fill ``box`` with a colour; returns the time the request left (perf_counter).
        The sync after it makes sure the X server has drawn it before the caller goes on."""
        red, green, blue = rgb
        self.gc.change(foreground=red << 16 | green << 8 | blue)
        self.root.fill_rectangle(self.gc, box.x, box.y, box.width, box.height)
        sent = time.perf_counter()
        self.x.sync()
        return sent

    def grab(self) -> np.ndarray:
        """The whole screen as the X server has it (BGRX, padding byte 0)."""
        return get_image(self.root, Box(0, 0, WIDTH, HEIGHT))

    def close(self) -> None:
        if self._scroll_fifo is not None:
            os.close(self._scroll_fifo)
        for process in self.xterms:
            process.terminate()
        for process in self.xterms:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(Exception):
            self.x.close()


class DraggedWindow:
    """A window showing a photo (not the wallpaper under it), moved the way a window manager
    moves a window being dragged. Override-redirect, so no window manager is needed; the X
    server copies its pixels along when it moves and repaints the wallpaper it uncovers."""

    def __init__(self, scene: Scene) -> None:
        self.x = scene.x
        picture = np.ascontiguousarray(photo()[::-1][: DRAGGED.height, : DRAGGED.width])
        self.pixmap = scene.root.create_pixmap(DRAGGED.width, DRAGGED.height, 24)
        put_image(self.x, self.pixmap, scene.gc, 0, 0, picture)
        self.window = scene.root.create_window(
            *(DRAGGED.x, DRAGGED.y, DRAGGED.width, DRAGGED.height, 0, 24),
            background_pixmap=self.pixmap,
            override_redirect=True,
        )
        self.window.map()
        self.x.sync()

    def move(self, step: int, steps: int) -> None:
        """Where it is after ``step`` of ``steps``: DRAG_STEP further right and down per step
        for the first half, then back, ending where it started."""
        out = min(step, steps - step)
        self.window.configure(x=DRAGGED.x + out * DRAG_STEP[0], y=DRAGGED.y + out * DRAG_STEP[1])
        self.x.sync()

    def close(self) -> None:
        self.window.destroy()
        self.pixmap.free()
        self.x.sync()


# --- painters --------------------------------------------------------------------------------


@attrs.frozen
class PainterStats:
    """What a painter managed: frames drawn over seconds (its real rate)."""

    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class Painter:
    """A painter process (``animation`` or ``clock``) drawing at ``fps`` until stopped."""

    def __init__(self, xvfb: Xvfb, kind: str, fps: float) -> None:
        code = "from benchmarks.desktop_scene import paint_main; paint_main()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, kind, xvfb.display, str(fps)],
            env=xvfb.env,
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], STARTUP_SECONDS)
        if not ready or self.process.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError(f"the {kind} painter did not start")

    def stop(self) -> PainterStats:
        """Stop drawing; what it drew (zero if it died)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            output, _ = self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        try:
            stats = json.loads(output.strip().splitlines()[-1])
            return PainterStats(stats["frames"], stats["seconds"])
        except (ValueError, IndexError, KeyError):
            return PainterStats(0, 0.0)


def paint_main() -> None:
    """A painter process: ``kind display fps``; prints "ready", draws until SIGTERM, then
    prints its stats as JSON. Frames follow an absolute schedule; late ones are skipped, not
    bunched, like a video player."""
    kind, display_name, fps = sys.argv[1], sys.argv[2], float(sys.argv[3])
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    x = open_display(display_name)
    root = x.screen().root
    gc = root.create_gc(foreground=0)
    if kind == "animation":
        source = root.create_pixmap(2 * ANIMATION.width, 2 * ANIMATION.height, 24)
        picture = photo()[::-1, ::-1][: 2 * ANIMATION.height, : 2 * ANIMATION.width]
        put_image(x, source, gc, 0, 0, np.ascontiguousarray(picture))
        x.sync()

        def draw(frame: int) -> None:
            # A scrolling photo (new pixels everywhere), then the frame number on top.
            dx, dy = frame * 8 % ANIMATION.width, frame * 6 % ANIMATION.height
            root.copy_area(
                gc, source, dx, dy, ANIMATION.width, ANIMATION.height, ANIMATION.x, ANIMATION.y
            )
            strip = barcode_strip(frame, ANIMATION_CELL)
            put_image(x, root, gc, ANIMATION.x, ANIMATION.y, strip)

    elif kind == "clock":

        def draw(frame: int) -> None:
            put_image(x, root, gc, CLOCK.x, CLOCK.y, barcode_strip(frame, CLOCK_CELL))

    else:
        raise SystemExit(f"unknown painter {kind!r}")
    print("ready", flush=True)
    period = 1.0 / fps
    start = time.perf_counter()
    frames = 0
    tick = 0
    while not stopping:
        draw(tick)
        x.sync()
        frames += 1
        tick += 1
        now = time.perf_counter()
        tick = max(tick, int((now - start) / period))  # more than a period late: skip
        delay = start + tick * period - now
        if delay > 0:
            time.sleep(delay)
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - start}), flush=True)
    x.close()
