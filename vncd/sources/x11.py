"""Serve an existing X display: mss captures the root window, XTest injects input.

Input goes through python-xlib's XTest binding (``Xlib.ext.xtest.fake_input``), not pynput:
pynput connects to ``$DISPLAY`` when it is imported and types through its own key tables, while
we must talk to a display chosen at run time and type whatever keysym a viewer sends, binding
unmapped ones to spare keycodes the way x11vnc does.

Capture, input (typing: ``x11_keyboard``), the clipboard (``x11_clipboard``), damage
(``x11_damage``), the pointer's shape (``x11_cursor``) and the keyboard's LEDs and bell
(``x11_xkb``) use separate X connections.  All capture work (mss and the root-geometry query)
runs on one thread this source owns, because mss's xlib backend is bound to the thread that
created it and Trio's worker threads differ from call to call.  The damage connection is used
in the Trio thread only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import mss
import numpy as np
import trio
import Xlib.display
import Xlib.error
from Xlib import X
from Xlib.ext import xtest

from ..region import Box
from ._xconnection import X_GONE, open_display
from .base import CursorNews, KeyboardNews, SourceError, SourceStatistics
from .x11_clipboard import X11Clipboard
from .x11_cursor import CursorWatcher
from .x11_damage import DamageWatcher
from .x11_keyboard import SPARE_KEYCODES, Keyboard
from .x11_randr import ScreenResizer
from .x11_xkb import XkbWatcher

log = logging.getLogger(__name__)

#: RFB mask bits 0..8 are buttons 1..9 (rfbproto 7.5.5; 8 back and 9 forward need
#: ExtendedMouseButtons), which XTest presses as X buttons 1..9.
BUTTONS = 9
ALL_BUTTONS = (1 << BUTTONS) - 1
WHEEL_BUTTONS = frozenset({4, 5, 6, 7})  # clicks, not held states: press and release at once


class ScreenResized(Exception):
    """A box cannot be grabbed alone right after a resize (the frame bus then grabs whole)."""


class _Grabber:
    """Everything ``capture`` touches; created, used and closed on the capture thread."""

    def __init__(self, display_name: str, backend: str) -> None:
        self._display_name = display_name
        self._x = open_display(display_name)
        self._root = self._x.screen().root
        self._whole_pending = False  # see follow_root
        try:
            self.size = self._root_size()
            self._mss, self.backend = self._open_mss(backend)
        except BaseException:
            self._x.close()
            raise

    def _root_size(self) -> tuple[int, int]:
        geometry = self._root.get_geometry()
        return geometry.width, geometry.height

    def _open_mss(self, backend: str) -> tuple[mss.MSS, str]:
        """The first mss backend that can grab this display: XCB (XShm, else GetImage), then
        Xlib, whose visual checks accept servers the XCB backend rejects (e.g. Xvnc)."""
        failures = []
        for candidate in ("default", "xlib") if backend == "auto" else (backend,):
            try:
                grabber = mss.MSS(display=self._display_name, backend=candidate)
            except mss.ScreenShotError as error:
                failures.append(f"{candidate}: {error}")
                continue
            try:
                grabber.grab({"left": 0, "top": 0, "width": 1, "height": 1})
            except mss.ScreenShotError as error:
                grabber.close()
                failures.append(f"{candidate}: {error}")
                continue
            log.debug(
                "capturing %s with mss %s: %s",
                self._display_name,
                candidate,
                grabber.performance_status,
            )
            return grabber, "xcb" if candidate == "default" else candidate
        raise SourceError(f"cannot capture X display {self._display_name}: {'; '.join(failures)}")

    def grab(self) -> np.ndarray:
        try:
            return self._grab()
        except mss.ScreenShotError:
            # The root may have been resized between the geometry query and the grab: once more.
            return self._grab(reopen=True)

    def _grab(self, reopen: bool = False) -> np.ndarray:
        size = self._root_size()
        if reopen or size != self.size:
            self._renew(size)
        width, height = size
        shot = self._mss.grab({"left": 0, "top": 0, "width": width, "height": height})
        self._whole_pending = False
        # shot.raw is a fresh bytearray of BGRX rows: wrap it, the one copy is mss's.
        return np.frombuffer(shot.raw, np.uint8).reshape(height, width, 4)

    def _renew(self, size: tuple[int, int]) -> None:
        # mss sizes its shared-memory buffer for the root it saw first: after RandR, renew.
        self._mss.close()
        self._mss, self.backend = self._open_mss("default" if self.backend == "xcb" else "xlib")
        self.size = size

    def follow_root(self) -> None:
        """Take the root's size now (we resized it), and grab no box alone until the next
        whole grab: the bus's frame has the old size, and the new screen's damage can lie
        inside it (a shrink), so patching it would hide the change."""
        self._whole_pending = True
        if (size := self._root_size()) != self.size:
            self._renew(size)

    def grab_region(self, box: Box) -> np.ndarray:
        """The pixels of ``box`` (inside the root), BGRX rows."""
        if self._whole_pending:
            raise ScreenResized("the screen was resized: grab it whole")
        region = {"left": box.x, "top": box.y, "width": box.width, "height": box.height}
        shot = self._mss.grab(region)
        return np.frombuffer(shot.raw, np.uint8).reshape(box.height, box.width, 4)

    def close(self) -> None:
        self._mss.close()
        with contextlib.suppress(*X_GONE):
            self._x.close()


class X11Source:
    """An X display served as it is.  ``backend``: "auto", or an mss backend name."""

    def __init__(
        self,
        display: str | None = None,
        *,
        backend: str = "auto",
        spare_keycodes: int = SPARE_KEYCODES,
    ) -> None:
        display = display or os.environ.get("DISPLAY")
        if not display:
            raise SourceError("no X display to attach to: $DISPLAY is not set")
        self.display = display
        self.name = f"{socket.gethostname()}{display}" if display.startswith(":") else display
        self._x = open_display(display)
        with contextlib.ExitStack() as undo:  # if a step fails, close what the others opened
            undo.callback(self._x.close)
            self._capture_thread = ThreadPoolExecutor(1, thread_name_prefix="vncd-x11-capture")
            undo.callback(self._capture_thread.shutdown)
            if not self._x.has_extension("XTEST"):
                raise SourceError(f"X display {display} lacks the XTEST extension for input")
            self._x.set_error_handler(self._log_x_error)
            self._root = self._x.screen().root
            self._xkb = XkbWatcher.open(display)
            undo.callback(lambda: self._xkb and self._xkb.close())
            key_names = {} if self._xkb is None else self._xkb.key_names
            self._keyboard = Keyboard(self._x, spare_keycodes, key_names)
            self._randr = ScreenResizer.open(self._x)
            self._clipboard = X11Clipboard(open_display(display))
            undo.callback(self._clipboard.close)
            self._grabber = self._capture_thread.submit(_Grabber, display, backend).result()
            undo.callback(lambda: self._capture_thread.submit(self._grabber.close).result())
            self._damage = DamageWatcher.open(display)
            undo.callback(lambda: self._damage and self._damage.close())
            self._cursor = CursorWatcher.open(display)
            undo.pop_all()
        if self._damage is None:
            log.info("X display %s lacks DAMAGE (or XFixes 2): the screen is polled", display)
        self._position: tuple[int, int] | None = None
        self._mask = 0
        self._frames = self._keys = self._pointer_events = 0
        self._closed = False

    def __enter__(self) -> X11Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def size(self) -> tuple[int, int]:
        return self._grabber.size

    @property
    def reports_damage(self) -> bool:
        """Whether the server has DAMAGE and XFixes 2 (every X.Org server does)."""
        return self._damage is not None

    async def wait_for_damage(self) -> list[Box]:
        """See ``x11_damage.DamageWatcher.wait``; only when ``reports_damage``."""
        if self._damage is None:
            raise RuntimeError(f"X display {self.display} does not report damage")
        with self._x_alive():
            return await self._damage.wait()

    async def wait_for_cursor(self, poll: float | None) -> CursorNews:
        """See ``sources.base.TracksCursor`` and ``x11_cursor.CursorWatcher``; a display
        without XFixes never reports (viewers keep their local pointer)."""
        if self._cursor is None:
            await trio.sleep_forever()
        with self._x_alive():
            return await self._cursor.wait(poll)

    async def wait_for_keyboard(self) -> KeyboardNews:
        """See ``sources.base.ReportsKeyboard`` and ``x11_xkb.XkbWatcher``; a display without
        XKEYBOARD never reports."""
        if self._xkb is None:
            await trio.sleep_forever()
        with self._x_alive():
            return await self._xkb.wait()

    def resize(self, width: int, height: int) -> bool:
        """Through RandR where that is safe (``x11_randr``); False where the display has no
        RandR 1.3 or is not resized (several monitors, no mode of that size)."""
        if self._randr is None:
            return False
        with self._x_alive():
            if not self._randr.resize(width, height):
                return False
            self._capture_thread.submit(self._grabber.follow_root).result()
        return True

    def statistics(self) -> SourceStatistics:
        return SourceStatistics(
            kind="x11",
            frames_captured=self._frames,
            key_events=self._keys,
            pointer_events=self._pointer_events,
            keysyms_bound=self._keyboard.bound,
            keysyms_dropped=self._keyboard.dropped,
            capture_backend=self._grabber.backend,
        )

    @contextlib.contextmanager
    def _x_alive(self) -> Iterator[None]:
        try:
            yield
        except (*X_GONE, mss.ScreenShotError) as error:
            raise SourceError(f"lost X display {self.display}: {error}") from error

    def _log_x_error(self, error: Xlib.error.XError, request: object) -> None:
        log.warning("X display %s reported %s", self.display, error)

    def capture(self) -> np.ndarray:
        with self._x_alive():
            frame = self._capture_thread.submit(self._grabber.grab).result()
        self._frames += 1
        return frame

    def capture_region(self, box: Box) -> np.ndarray:
        """Only the pixels of ``box``: a small change costs a small grab (XShm for a 200×40
        box takes a tenth of a whole 1080p screen's time)."""
        with self._x_alive():
            return self._capture_thread.submit(self._grabber.grab_region, box).result()

    def inject_key(self, keysym: int, down: bool) -> None:
        self._keys += 1
        with self._x_alive():
            self._keyboard.key(keysym, down)
            self._x.flush()

    def inject_keycode(self, scancode: int, keysym: int, down: bool) -> bool:
        """See ``sources.base.InjectsKeycodes``: by X keycode where the display numbers its
        keys as evdev does and the key does not carry ``keysym`` (``x11_keyboard``)."""
        with self._x_alive():
            if not self._keyboard.press_position(scancode, keysym, down):
                return False
            self._x.flush()
        self._keys += 1
        return True

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        self._pointer_events += 1
        width, height = self.size
        position = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
        mask = button_mask & ALL_BUTTONS
        with self._x_alive():
            if position != self._position:
                xtest.fake_input(
                    self._x, X.MotionNotify, root=self._root, x=position[0], y=position[1]
                )
                self._position = position
            self._press_buttons(mask & ~self._mask)
            self._release_buttons(self._mask & ~mask)
            self._mask = mask
            self._x.flush()

    @property
    def clipboard_serial(self) -> int:
        return self._clipboard.serial

    def get_clipboard(self) -> str:
        return self._clipboard.text

    def set_clipboard(self, text: str) -> None:
        self._clipboard.set_text(text)

    def _press_buttons(self, mask: int) -> None:
        for button in _buttons(mask):
            xtest.fake_input(self._x, X.ButtonPress, button)
            if button in WHEEL_BUTTONS:
                xtest.fake_input(self._x, X.ButtonRelease, button)

    def _release_buttons(self, mask: int) -> None:
        for button in _buttons(mask):
            if button not in WHEEL_BUTTONS:
                xtest.fake_input(self._x, X.ButtonRelease, button)

    def close(self) -> None:
        """Release held keys and buttons, unbind borrowed keycodes, close the connections."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(*X_GONE):
            self._release_buttons(self._mask)
            self._keyboard.release_all()
            self._x.sync()
        with contextlib.suppress(*X_GONE):
            self._x.close()
        self._capture_thread.submit(self._grabber.close).result()
        self._capture_thread.shutdown()
        self._clipboard.close()
        if self._damage is not None:
            self._damage.close()
        if self._cursor is not None:
            self._cursor.close()
        if self._xkb is not None:
            self._xkb.close()


def _buttons(mask: int) -> Iterator[int]:
    return (bit + 1 for bit in range(BUTTONS) if mask >> bit & 1)
