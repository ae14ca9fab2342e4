"""An embedded synthetic desktop, so ``vncd run`` has something to serve on a machine with no X.

It reacts to input the way a viewer user expects: a clock that ticks, a text pad that shows
typed keys, a canvas that button 1 draws on.  Its clipboard is a string: text a viewer sets
is pasted into the pad at the caret, and Ctrl+C copies the pad's last line of text (both
shown in the hint beside the pad's label).  The frame lives in one persistent BGRX numpy
buffer; every change re-renders only its own patch with Pillow (in RGB, packed to BGRX by
Pillow's C code) and a capture is a single ``copy()`` of the buffer.

It draws every pixel itself, so it reports damage exactly: each patch it redraws joins a
``Region`` that ``wait_for_damage`` hands over.  All drawing happens in the Trio thread (input,
resize, the clipboard, and the clock, which ``wait_for_damage`` redraws when its second has
passed), never in ``capture()``: a change drawn by a capture would be in no reported damage,
and the capture loop compares pixels only inside the damage it was told about.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import trio
from PIL import Image, ImageDraw, ImageFont

from .. import keysyms
from ..region import Box, Region
from .base import CursorNews, CursorShape, SourceError, SourceStatistics

DESKTOP = (36, 48, 70)
TITLE_BAR = (22, 29, 44)
TITLE_TEXT = (236, 240, 248)
CLOCK_TEXT = (255, 214, 102)
LABEL_TEXT = (160, 178, 206)
PAD = (252, 251, 245)
PAD_TEXT = (28, 28, 28)
HINT_TEXT = (150, 150, 150)
CARET = (38, 139, 210)
CANVAS = (255, 255, 255)
STATUS_BAR = (22, 29, 44)
STATUS_TEXT = (200, 210, 226)
PENS = (
    (20, 20, 20),
    (220, 50, 47),
    (38, 139, 210),
    (133, 153, 0),
    (211, 54, 130),
    (203, 75, 22),
    (42, 161, 152),
    (108, 113, 196),
)

MARGIN = 10
TITLE_HEIGHT = 34
LABEL_HEIGHT = 22
STATUS_HEIGHT = 28
PEN_WIDTH = 3
TAB_SPACES = "    "
SYSTEM_FONT = "DejaVuSans.ttf"  # found by Pillow in the XDG font directories, if installed
MAX_LINES = 1000  # text kept for BackSpace; only the lines that fit are shown
PASTE_SHOWN = 2000  # only the end of a longer pasted text is typed into the pad
PAD_HINT = "Ctrl+C copies the last line · pastes appear here"
CONTROL_KEYSYMS = frozenset({keysyms.CONTROL_L, keysyms.CONTROL_R})
COPY_KEYSYMS = frozenset({ord("c"), ord("C")})

BUTTON_DRAW = 0b1  # button 1
BUTTON_CLEAR = 0b100  # button 3
WHEEL_NEXT = 0b0101000  # buttons 4 (wheel up) and 6 (wheel left)
WHEEL_PREVIOUS = 0b1010000  # buttons 5 (wheel down) and 7 (wheel right)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans when the system has it (it covers Latin-1 and much of Unicode), else
    Pillow's embedded default font, which has ASCII glyphs only."""
    try:
        return ImageFont.truetype(SYSTEM_FONT, size)
    except OSError:
        return ImageFont.load_default(size=size)


#: The demo's pointer: a black arrow with a white outline (hotspot at its tip).
_ARROW_ROWS = (
    "X",
    "XX",
    "X.X",
    "X..X",
    "X...X",
    "X....X",
    "X.....X",
    "X......X",
    "X.......X",
    "X........X",
    "X.....XXXXX",
    "X..X..X",
    "X.X X..X",
    "XX  X..X",
    "X    X..X",
    "     X..X",
    "      XX",
)


def _arrow() -> CursorShape:
    """The arrow as X would give it: ARGB words, white outline ("X"), black inside (".")."""
    argb = np.zeros((len(_ARROW_ROWS), max(map(len, _ARROW_ROWS))), np.uint32)
    colours = {"X": 0xFFFFFFFF, ".": 0xFF000000}
    for y, row in enumerate(_ARROW_ROWS):
        for x, cell in enumerate(row):
            argb[y, x] = colours.get(cell, 0)
    return CursorShape(argb, (0, 0))


ARROW = _arrow()


def _clipped(x: int, y: int, width: int, height: int, frame: tuple[int, int]) -> Box:
    """The part of a rectangle inside a frame of (width, height), possibly empty."""
    return Box(x, y, width, height).intersect(Box(0, 0, *frame))


class DemoSource:
    """The demo desktop; see the module docstring.  ``clock`` returns seconds since the epoch."""

    name = "vncd demo"

    def __init__(
        self, geometry: tuple[int, int] = (1024, 768), *, clock: Callable[[], float] = time.time
    ) -> None:
        width, height = geometry
        if width < 1 or height < 1:
            raise SourceError(f"demo geometry must be at least 1x1, got {width}x{height}")
        self._clock = clock
        self._lock = threading.Lock()  # capture() runs in worker threads, inject_*() in Trio's
        self._title_font = _font(17)
        self._text_font = _font(18)
        self._small_font = _font(13)
        self._canvas_image = Image.new("RGB", (0, 0), CANVAS)
        self._damage = Region()  # redrawn since the last wait_for_damage
        self._changed = trio.Event()  # set when _damage gains a box
        self._lay_out(width, height)
        self._lines = [""]
        self._control_held: set[int] = set()
        self._clipboard = ""
        self._clipboard_serial = 0
        self._pen = 0
        self._pointer = (0, 0)
        self._mask = 0
        self._stroke: tuple[int, int] | None = None  # last point of the stroke, canvas coords
        self._shown_second = 0  # the second the clock shows
        self._frames = self._keys = self._pointer_events = 0
        self._arrow_shown = False
        self._draw_desktop()
        self._take_damage()  # the first capture shows the desktop; it is not a change

    def _lay_out(self, width: int, height: int) -> None:
        """Place every part for a width x height frame; the canvas keeps what fits of its
        drawing.  The caller draws the desktop afterwards."""
        self._size = (width, height)
        self._frame = np.empty((height, width, 4), np.uint8)
        clock_width = int(self._title_font.getlength("00:00:00")) + 2 * MARGIN
        body_top = TITLE_HEIGHT + MARGIN + LABEL_HEIGHT
        body_height = height - STATUS_HEIGHT - MARGIN - body_top
        pad_width = (width - 3 * MARGIN) * 2 // 5
        canvas_x = 2 * MARGIN + pad_width
        self._title = _clipped(0, 0, width, TITLE_HEIGHT, self._size)
        self._clock_box = _clipped(width - clock_width, 0, clock_width, TITLE_HEIGHT, self._size)
        self._pad = _clipped(MARGIN, body_top, pad_width, body_height, self._size)
        self._canvas = _clipped(
            canvas_x, body_top, width - MARGIN - canvas_x, body_height, self._size
        )
        self._status = _clipped(0, height - STATUS_HEIGHT, width, STATUS_HEIGHT, self._size)
        drawing = self._canvas_image
        self._canvas_image = Image.new("RGB", (self._canvas.width, self._canvas.height), CANVAS)
        self._canvas_image.paste(drawing, (0, 0))

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def resize(self, width: int, height: int) -> bool:
        """Redraw the desktop at the new size (text, pen and drawing are kept)."""
        if width < 1 or height < 1:
            raise SourceError(f"demo size must be at least 1x1, got {width}x{height}")
        with self._lock:
            self._lay_out(width, height)
            self._pointer = (min(self._pointer[0], width - 1), min(self._pointer[1], height - 1))
            self._stroke = None
            self._damage.take()  # all of the new frame is damaged; older boxes may lie outside
            self._draw_desktop()
        return True

    def statistics(self) -> SourceStatistics:
        return SourceStatistics(
            kind="demo",
            frames_captured=self._frames,
            key_events=self._keys,
            pointer_events=self._pointer_events,
        )

    def capture(self) -> np.ndarray:
        with self._lock:
            self._frames += 1
            return self._frame.copy()

    @property
    def reports_damage(self) -> bool:
        return True

    async def wait_for_damage(self) -> list[Box]:
        """The patches redrawn since the previous call: at once if there are any, else when
        input, a paste or a resize draws, or when the clock's second has passed."""
        await trio.lowlevel.checkpoint()
        while True:
            with self._lock:
                self._tick()
                if self._damage:
                    return self._take_damage()
                changed = self._changed
                until_next_second = 1 - self._clock() % 1
            with trio.move_on_after(until_next_second):
                await changed.wait()

    async def wait_for_cursor(self, poll: float | None) -> CursorNews:
        """The arrow at first; then the pointer only moves when a viewer moves it, which the
        cursor bus hears from the viewer, so a poll just says where it is."""
        if not self._arrow_shown:
            self._arrow_shown = True
            return CursorNews(ARROW, self._pointer)
        if poll is None:
            await trio.sleep_forever()
        await trio.sleep(poll)
        return CursorNews(None, self._pointer)

    def _take_damage(self) -> list[Box]:
        """Hand over the damage (lock held); the next drawing sets a new event."""
        self._changed = trio.Event()
        return self._damage.take()

    def _tick(self) -> None:
        """Show the current second, if the clock does not yet (lock held)."""
        second = int(self._clock())
        if second != self._shown_second:
            self._draw_clock(second)

    @property
    def clipboard_serial(self) -> int:
        return self._clipboard_serial

    def get_clipboard(self) -> str:
        return self._clipboard

    def set_clipboard(self, text: str) -> None:
        with self._lock:
            self._clipboard = text
            self._clipboard_serial += 1
            for number, line in enumerate(text[-PASTE_SHOWN:].split("\n")):
                if number:
                    self._lines.append("")
                for char in line:
                    if char == "\t":
                        self._type(TAB_SPACES)
                    elif char.isprintable():
                        self._type(char)
            del self._lines[:-MAX_LINES]
            self._draw_pad()

    def inject_key(self, keysym: int, down: bool) -> None:
        with self._lock:
            self._keys += 1
            if keysym in CONTROL_KEYSYMS:
                (self._control_held.add if down else self._control_held.discard)(keysym)
            if not down:
                return
            if self._control_held:
                if keysym in COPY_KEYSYMS:
                    self._copy_last_line()
                return  # other Ctrl combinations type nothing
            if keysym in (keysyms.RETURN, keysyms.KP_ENTER):
                self._lines.append("")
            elif keysym == keysyms.BACKSPACE:
                if self._lines[-1]:
                    self._lines[-1] = self._lines[-1][:-1]
                elif len(self._lines) > 1:
                    self._lines.pop()
            elif keysym == keysyms.TAB:
                self._type(TAB_SPACES)
            elif (char := keysyms.keysym_to_char(keysym)) is not None:
                self._type(char)
            else:
                return
            del self._lines[:-MAX_LINES]
            self._draw_pad()

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        with self._lock:
            self._pointer_events += 1
            x = min(max(x, 0), self._size[0] - 1)
            y = min(max(y, 0), self._size[1] - 1)
            mask = button_mask & 0xFF
            pressed = mask & ~self._mask
            if pressed & BUTTON_CLEAR:
                self._clear_canvas()
            if pressed & WHEEL_NEXT:
                self._pen = (self._pen + 1) % len(PENS)
            if pressed & WHEEL_PREVIOUS:
                self._pen = (self._pen - 1) % len(PENS)
            on_canvas = self._canvas.contains(Box(x, y, 1, 1))
            if mask & BUTTON_DRAW and (self._stroke is not None or on_canvas):
                point = (x - self._canvas.x, y - self._canvas.y)
                self._draw_segment(self._stroke or point, point)
                self._stroke = point
            else:
                self._stroke = None
            if (
                (x, y) != self._pointer
                or mask != self._mask
                or pressed & (WHEEL_NEXT | WHEEL_PREVIOUS)
            ):
                self._pointer, self._mask = (x, y), mask
                self._draw_status()

    def _copy_last_line(self) -> None:
        """Ctrl+C (lock held): the last line with text becomes the clipboard."""
        line = next((line for line in reversed(self._lines) if line), None)
        if line is not None:
            self._clipboard = line
            self._clipboard_serial += 1

    # --- drawing (always called with the lock held) ---------------------------------------

    def _type(self, text: str) -> None:
        """Append to the last line; when the pad is full, carry the last word to a new line."""
        line = self._lines[-1]
        limit = self._pad.width - 2 * MARGIN
        if not line or self._text_font.getlength(line + text) <= limit:
            self._lines[-1] = line + text
            return
        head, space, word = line.rpartition(" ")
        if head and self._text_font.getlength(word + text) <= limit:
            self._lines[-1] = head + space
            self._lines.append(word + text)
        else:
            self._lines.append(text)

    def _patch(self, box: Box, background: tuple[int, int, int]) -> Image.Image | None:
        """A fresh RGB patch to draw ``box`` on (None if it is off-screen); see ``_blit``."""
        if box.empty:
            return None
        return Image.new("RGB", (box.width, box.height), background)

    def _blit(self, box: Box, image: Image.Image) -> None:
        pixels = np.frombuffer(image.tobytes("raw", "BGRX"), np.uint8)
        self._frame[box.slices()] = pixels.reshape(box.height, box.width, 4)
        self._damaged(box)

    def _damaged(self, box: Box) -> None:
        self._damage.add(box)
        self._changed.set()

    def _draw_desktop(self) -> None:
        self._frame[...] = (*DESKTOP[::-1], 0)
        self._damaged(Box(0, 0, *self._size))
        if title := self._patch(self._title, TITLE_BAR):
            ImageDraw.Draw(title).text(
                (MARGIN, TITLE_HEIGHT // 2),
                "vncd  ·  demo desktop",
                TITLE_TEXT,
                self._title_font,
                anchor="lm",
            )
            self._blit(self._title, title)
        for box, label, hint in ((self._pad, "Keyboard", PAD_HINT), (self._canvas, "Canvas", "")):
            label_box = _clipped(box.x, box.y - LABEL_HEIGHT, box.width, LABEL_HEIGHT, self._size)
            if patch := self._patch(label_box, DESKTOP):
                draw = ImageDraw.Draw(patch)
                middle = LABEL_HEIGHT // 2
                draw.text((0, middle), label, LABEL_TEXT, self._small_font, anchor="lm")
                room = label_box.width - self._small_font.getlength(label) - 2 * MARGIN
                if hint and self._small_font.getlength(hint) <= room:
                    draw.text(
                        (label_box.width, middle), hint, HINT_TEXT, self._small_font, anchor="rm"
                    )
                self._blit(label_box, patch)
        self._draw_pad()
        if not self._canvas.empty:
            self._blit(self._canvas, self._canvas_image)
        self._draw_status()
        self._draw_clock(int(self._clock()))

    def _draw_clock(self, second: int) -> None:
        self._shown_second = second
        if patch := self._patch(self._clock_box, TITLE_BAR):
            text = time.strftime("%H:%M:%S", time.localtime(second))
            ImageDraw.Draw(patch).text(
                (self._clock_box.width - MARGIN, TITLE_HEIGHT // 2),
                text,
                CLOCK_TEXT,
                self._title_font,
                anchor="rm",
            )
            self._blit(self._clock_box, patch)

    def _draw_pad(self) -> None:
        patch = self._patch(self._pad, PAD)
        if patch is None:
            return
        draw = ImageDraw.Draw(patch)
        ascent, descent = self._text_font.getmetrics()
        line_height = ascent + descent + 4
        shown = self._lines[-max((self._pad.height - MARGIN) // line_height, 1) :]
        if shown == [""] and len(self._lines) == 1:
            draw.text((MARGIN, MARGIN), "Type here…", HINT_TEXT, self._text_font)
        for row, line in enumerate(shown):
            draw.text((MARGIN, MARGIN + row * line_height), line, PAD_TEXT, self._text_font)
        caret_x = MARGIN + int(self._text_font.getlength(shown[-1])) + 1
        caret_y = MARGIN + (len(shown) - 1) * line_height
        draw.rectangle((caret_x, caret_y, caret_x + 1, caret_y + ascent + descent), CARET)
        self._blit(self._pad, patch)

    def _clear_canvas(self) -> None:
        if not self._canvas.empty:
            ImageDraw.Draw(self._canvas_image).rectangle(
                (0, 0, self._canvas.width, self._canvas.height), CANVAS
            )
            self._blit(self._canvas, self._canvas_image)

    def _draw_segment(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        """Draw a round-capped line on the canvas and copy just its bounding box."""
        if self._canvas.empty:
            return
        draw = ImageDraw.Draw(self._canvas_image)
        colour = PENS[self._pen]
        radius = PEN_WIDTH // 2 + 1
        draw.line((start, end), colour, PEN_WIDTH)
        for x, y in (start, end):
            draw.ellipse((x - radius + 1, y - radius + 1, x + radius - 1, y + radius - 1), colour)
        box = _clipped(
            min(start[0], end[0]) - radius,
            min(start[1], end[1]) - radius,
            abs(end[0] - start[0]) + 2 * radius + 1,
            abs(end[1] - start[1]) + 2 * radius + 1,
            (self._canvas.width, self._canvas.height),
        )
        if not box.empty:
            patch = self._canvas_image.crop((box.x, box.y, box.x + box.width, box.y + box.height))
            self._blit(
                Box(self._canvas.x + box.x, self._canvas.y + box.y, box.width, box.height), patch
            )

    def _draw_status(self) -> None:
        patch = self._patch(self._status, STATUS_BAR)
        if patch is None:
            return
        draw = ImageDraw.Draw(patch)
        middle = STATUS_HEIGHT // 2
        buttons = " ".join(str(bit + 1) for bit in range(8) if self._mask >> bit & 1) or "-"
        text = f"pointer {self._pointer[0]:>4}, {self._pointer[1]:<4}   buttons {buttons}   pen"
        draw.text((MARGIN, middle), text, STATUS_TEXT, self._small_font, anchor="lm")
        swatch_x = MARGIN + int(self._small_font.getlength(text)) + 8
        draw.rectangle(
            (swatch_x, middle - 6, swatch_x + 24, middle + 6), PENS[self._pen], STATUS_TEXT
        )
        hint = "button 1 draws  ·  button 3 clears  ·  wheel changes the pen"
        if swatch_x + 40 + self._small_font.getlength(hint) < self._status.width - MARGIN:
            draw.text(
                (self._status.width - MARGIN, middle),
                hint,
                LABEL_TEXT,
                self._small_font,
                anchor="rm",
            )
        self._blit(self._status, patch)
