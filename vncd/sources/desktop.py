"""Serve the desktop vncd runs on with cross-platform libraries only: mss captures a monitor
(or all of them as one framebuffer), pynput types keys and moves the pointer.

This is the Windows and macOS path; on X11 it works too (mss and pynput both speak X11), but
the x11 source does more there (damage events, the pointer's shape, LEDs, the clipboard).
Nothing here is platform-specific except the macOS permission check: the platform's own
differences live inside mss and pynput.  The desktop says nothing about what changed, so the
capture loop polls and compares frames (``reports_damage`` is False).

pynput picks its backend, and on X11 connects to ``$DISPLAY``, when it is imported, so it is
imported when a source opens.  It types characters through the desktop's layout (on X11 it
binds a spare keycode for a character the layout lacks) and special keys through its ``Key``
names; X keysyms that name neither are dropped and counted.  The clipboard is pyperclip's
text: Windows' own, pbcopy/pbpaste on macOS, xclip or xsel on X11.  None of them says when
the text changes, so a thread of its own polls it (each poll runs a process on macOS and X11).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import mss
import numpy as np

from .. import keysyms
from ..region import Box
from ._clipboard_text import SharedClipboardText
from .base import SourceError, SourceStatistics

log = logging.getLogger(__name__)

#: How often the desktop's clipboard text is read: a copy reaches viewers within this.
CLIPBOARD_POLL_SECONDS = 0.5
#: What the platform's clipboard ends lines with (the Source interface's text: a bare newline).
PLATFORM_NEWLINE = "\r\n" if sys.platform == "win32" else "\n"

#: RFB mask bits 0..2 are buttons 1..3 (rfbproto 7.5.5): pynput's left, middle and right.
BUTTON_NAMES = ("left", "middle", "right")
#: Bits 3..6 are the wheel (X buttons 4..7): one click each is one step of pynput's scroll(dx, dy).
WHEEL_STEPS = {3: (0, 1), 4: (0, -1), 5: (-1, 0), 6: (1, 0)}

#: X keysyms (keysymdef.h) of keys that type no character → pynput ``Key`` member names.
#: A name the platform's pynput lacks (macOS has no insert, num_lock, …) drops the key.
KEY_NAMES: dict[int, str] = {
    0x0020: "space",
    keysyms.BACKSPACE: "backspace",
    keysyms.TAB: "tab",
    keysyms.ISO_LEFT_TAB: "tab",  # Shift+Tab: the viewer sends its Shift as well
    keysyms.RETURN: "enter",
    keysyms.ESCAPE: "esc",
    keysyms.DELETE: "delete",
    0xFF13: "pause",
    0xFF14: "scroll_lock",
    0xFF61: "print_screen",
    0xFF63: "insert",
    0xFF67: "menu",
    0xFF50: "home",
    0xFF51: "left",
    0xFF52: "up",
    0xFF53: "right",
    0xFF54: "down",
    0xFF55: "page_up",  # Prior
    0xFF56: "page_down",  # Next
    0xFF57: "end",
    # The keypad's keys that do not type a character (those that do go by character).
    keysyms.KP_ENTER: "enter",
    0xFF89: "tab",  # KP_Tab
    0xFF95: "home",
    0xFF96: "left",
    0xFF97: "up",
    0xFF98: "right",
    0xFF99: "down",
    0xFF9A: "page_up",
    0xFF9B: "page_down",
    0xFF9C: "end",
    0xFF9E: "insert",
    0xFF9F: "delete",
    # Modifiers.
    keysyms.SHIFT_L: "shift_l",
    keysyms.SHIFT_R: "shift_r",
    keysyms.CONTROL_L: "ctrl_l",
    keysyms.CONTROL_R: "ctrl_r",
    keysyms.ALT_L: "alt_l",
    keysyms.ALT_R: "alt_r",
    keysyms.META_L: "cmd_l",
    keysyms.META_R: "cmd_r",
    keysyms.SUPER_L: "cmd_l",
    keysyms.SUPER_R: "cmd_r",
    keysyms.ISO_LEVEL3_SHIFT: "alt_gr",
    keysyms.MODE_SWITCH: "alt_gr",
    keysyms.CAPS_LOCK: "caps_lock",
    keysyms.NUM_LOCK: "num_lock",
    # F1..F35 (0xFFBE..0xFFE0); pynput has f1..f20 everywhere, more on some platforms.
    **{0xFFBE + number: f"f{number + 1}" for number in range(35)},
}


@attrs.frozen
class Permissions:
    """What the platform lets this process do (None: it cannot say)."""

    screen_recording: bool | None
    accessibility: bool | None


def macos_permissions() -> Permissions:
    """Screen Recording (Quartz's CGPreflightScreenCaptureAccess, macOS 10.15+) and
    Accessibility (AXIsProcessTrusted: what pynput's listeners call IS_TRUSTED, and what
    posting key and pointer events needs); pyobjc comes with pynput on macOS."""
    import HIServices  # type: ignore[import-not-found]
    import Quartz  # type: ignore[import-not-found]

    preflight = getattr(Quartz, "CGPreflightScreenCaptureAccess", None)
    return Permissions(
        screen_recording=None if preflight is None else bool(preflight()),
        accessibility=bool(HIServices.AXIsProcessTrusted()),
    )


#: sys.platform → how to ask it for the permissions capture and input need.
PERMISSION_PROBES: dict[str, Callable[[], Permissions]] = {"darwin": macos_permissions}


def permission_advice(permissions: Permissions, first_frame: np.ndarray) -> str | None:
    """One line naming the permissions to grant, or None when nothing is missing.  A frame
    that is black all over counts as no Screen Recording permission (older macOS has no
    preflight, and without the permission it hands out black frames)."""
    black = not first_frame[..., :3].any()
    missing = []
    if permissions.screen_recording is False or (permissions.screen_recording is None and black):
        missing.append("Screen Recording (without it viewers see a black screen)")
    if permissions.accessibility is False:
        missing.append("Accessibility (without it viewers' keys and pointer are ignored)")
    if not missing:
        return None
    plural = len(missing) > 1
    return (
        f"macOS withholds the {' and the '.join(missing)} permission{'s' if plural else ''} "
        f"from {sys.executable}: grant {'them' if plural else 'it'} in System Settings › "
        "Privacy & Security, then restart vncd"
    )


def _monitor_error(monitor: int, monitors: list[dict[str, int]]) -> SourceError:
    count = len(monitors) - 1
    allowed = "0 (all of them as one framebuffer)" + (f" or 1..{count}" if count else "")
    return SourceError(
        f"source.monitor = {monitor}: this desktop has {count} monitor"
        f"{'' if count == 1 else 's'}; use {allowed}"
    )


class _Grabber:
    """mss and the monitor it grabs; created, used and closed on the capture thread (mss's
    handles are bound to the thread that made them on X11 and Windows)."""

    def __init__(self, monitor: int) -> None:
        try:
            self._mss = mss.MSS()
        except mss.ScreenShotError as error:
            raise SourceError(f"cannot capture the desktop: {error}") from error
        try:
            monitors = self._mss.monitors
            if monitor >= len(monitors):
                raise _monitor_error(monitor, monitors)
            area = monitors[monitor]
            self.area = Box(area["left"], area["top"], area["width"], area["height"])
            self.first = self.grab()
        except BaseException:
            self._mss.close()
            raise
        # Pixels may be denser than the desktop's coordinates (macOS's Retina screens).
        self.size = self.first.shape[1], self.first.shape[0]

    def grab(self) -> np.ndarray:
        area = self.area
        shot = self._mss.grab(
            {"left": area.x, "top": area.y, "width": area.width, "height": area.height}
        )
        width, height = shot.size
        # shot.raw is a fresh bytearray of BGRA rows: wrap it, the one copy is mss's.
        return np.frombuffer(shot.raw, np.uint8).reshape(height, width, 4)

    def close(self) -> None:
        self._mss.close()


class PolledClipboard(SharedClipboardText):
    """pyperclip's text, read every CLIPBOARD_POLL_SECONDS and written on a thread of its own,
    so that the Trio thread never waits for a clipboard process.  Other threads only read
    ``text`` / ``serial`` and hand over texts with ``set_text``, under a lock."""

    def __init__(self, pyperclip: Any) -> None:
        self._pyperclip = pyperclip
        self._lock = threading.Lock()
        try:
            self._text = self._paste()  # raises PyperclipException where it has no mechanism
        except (OSError, UnicodeError):  # a mechanism, but today's text cannot be read
            self._text = ""
        self._serial = 0
        self._wanted: str | None = None  # a viewer's text the thread has yet to copy
        self._woken = threading.Event()
        self._closing = False
        self._thread = threading.Thread(
            target=self._run, name="vncd-desktop-clipboard", daemon=True
        )
        self._thread.start()

    @classmethod
    def open(cls) -> PolledClipboard | None:
        """The clipboard, or None (with one log line) where pyperclip cannot reach one."""
        try:
            import pyperclip
        except ModuleNotFoundError as error:
            log.warning("no clipboard (pip install 'vncd[desktop]'): %s", error)
            return None
        try:
            return cls(pyperclip)
        except pyperclip.PyperclipException as error:
            log.warning("no clipboard: %s", str(error).splitlines()[0])
            return None

    def _wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self._closing = True
        self._wake()
        self._thread.join()

    def _paste(self) -> str:
        return self._pyperclip.paste().replace("\r\n", "\n")

    def _run(self) -> None:
        while not self._closing:
            self._woken.wait(CLIPBOARD_POLL_SECONDS)
            self._woken.clear()
            if self._closing:
                return
            try:
                self._poll()
            except (self._pyperclip.PyperclipException, OSError, UnicodeError) as error:
                # Windows' clipboard may be held open by another program: try again later.
                log.debug("clipboard: %s", error)

    def _poll(self) -> None:
        with self._lock:
            wanted, self._wanted = self._wanted, None
        if wanted is not None:
            self._pyperclip.copy(wanted.replace("\n", PLATFORM_NEWLINE))
            return
        text = self._paste()
        with self._lock:
            # A text handed over meanwhile is newer than what was read.
            if self._wanted is None and text != self._text:
                self._text = text
                self._serial += 1


def _import_pynput() -> tuple[Any, Any]:
    """pynput's keyboard and mouse modules (imported now: see the module docstring)."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise SourceError("the desktop source needs an X11 session on Linux: $DISPLAY is not set")
    try:
        from pynput import keyboard, mouse
    except ModuleNotFoundError as error:
        raise SourceError(
            f"the desktop source needs pynput (pip install 'vncd[desktop]'): {error}"
        ) from error
    except ImportError as error:  # pynput found no backend that works here
        raise SourceError(f"pynput cannot work here: {str(error).splitlines()[0]}") from error
    return keyboard, mouse


class DesktopSource:
    """This machine's desktop: ``monitor`` 0 is all monitors as one framebuffer, 1, 2, … one
    monitor each (mss's numbering)."""

    def __init__(self, monitor: int = 0) -> None:
        self._keyboard_module, mouse = _import_pynput()
        self._capture_thread = ThreadPoolExecutor(1, thread_name_prefix="vncd-desktop-capture")
        try:
            self._grabber = self._capture_thread.submit(_Grabber, monitor).result()
        except BaseException:
            self._capture_thread.shutdown()
            raise
        self.name = f"{socket.gethostname()} desktop" + (f" {monitor}" if monitor else "")
        try:
            self._keys = self._keyboard_module.Controller()
            self._mouse = mouse.Controller()
        except Exception as error:  # whatever the platform's backend raises (Xlib, Quartz, …)
            self._capture_thread.submit(self._grabber.close).result()
            self._capture_thread.shutdown()
            raise SourceError(f"pynput cannot reach the desktop: {error}") from error
        self._buttons = [getattr(mouse.Button, name) for name in BUTTON_NAMES]
        self._held: dict[int, Any] = {}  # keysym → the pynput key pressed for it
        self._position: tuple[float, float] | None = None
        self._mask = 0
        self._frames = self._key_events = self._pointer_events = self._dropped = 0
        self._closed = False
        self._clipboard = PolledClipboard.open()
        probe = PERMISSION_PROBES.get(sys.platform)
        if probe is not None and (advice := permission_advice(probe(), self._grabber.first)):
            log.error("%s", advice)

    def __enter__(self) -> DesktopSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def size(self) -> tuple[int, int]:
        return self._grabber.size

    @property
    def reports_damage(self) -> bool:
        return False

    async def wait_for_damage(self) -> list[Box]:
        raise RuntimeError("the desktop source does not report damage: poll it")

    @contextlib.contextmanager
    def _desktop_alive(self) -> Iterator[None]:
        try:
            yield
        except mss.ScreenShotError as error:
            raise SourceError(f"lost the desktop: {error}") from error

    def capture(self) -> np.ndarray:
        with self._desktop_alive():
            frame = self._capture_thread.submit(self._grabber.grab).result()
        self._frames += 1
        return frame

    def key_for(self, keysym: int) -> Any:
        """The pynput key for an X keysym, or None if it names no key pynput has here."""
        if (name := KEY_NAMES.get(keysym)) is not None:
            return getattr(self._keyboard_module.Key, name, None)
        if (char := keysyms.keysym_to_char(keysym)) is not None:
            return self._keyboard_module.KeyCode.from_char(char)
        return None

    def inject_key(self, keysym: int, down: bool) -> None:
        self._key_events += 1
        if not down:
            if (key := self._held.pop(keysym, None)) is not None:
                self._keys.release(key)
            return
        key = self._held.get(keysym) or self.key_for(keysym)
        if key is None:
            self._dropped += 1
            log.debug("cannot type keysym %s", keysyms.keysym_name(keysym))
            return
        try:
            self._keys.press(key)
        except (self._keys.InvalidKeyException, self._keys.InvalidCharacterException):
            self._dropped += 1
            log.debug("pynput cannot type keysym %s", keysyms.keysym_name(keysym))
            return
        self._held[keysym] = key

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        """Move in the monitor's place on the desktop (its origin added, frame pixels turned
        into desktop coordinates), press and release buttons 1-3, scroll for 4-7."""
        self._pointer_events += 1
        (width, height), area = self.size, self._grabber.area
        x, y = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
        position = area.x + x * area.width / width, area.y + y * area.height / height
        if position != self._position:
            self._mouse.position = position
            self._position = position
        changed, self._mask = button_mask ^ self._mask, button_mask
        for bit, button in enumerate(self._buttons):
            if changed >> bit & 1:
                (self._mouse.press if button_mask >> bit & 1 else self._mouse.release)(button)
        for bit, (dx, dy) in WHEEL_STEPS.items():
            if (changed & button_mask) >> bit & 1:
                self._mouse.scroll(dx, dy)

    def resize(self, width: int, height: int) -> bool:
        return False

    @property
    def clipboard_serial(self) -> int:
        return 0 if self._clipboard is None else self._clipboard.serial

    def get_clipboard(self) -> str:
        return "" if self._clipboard is None else self._clipboard.text

    def set_clipboard(self, text: str) -> None:
        if self._clipboard is None:
            log.debug("no clipboard here: %d characters ignored", len(text))
        else:
            self._clipboard.set_text(text)

    def statistics(self) -> SourceStatistics:
        return SourceStatistics(
            kind="desktop",
            frames_captured=self._frames,
            key_events=self._key_events,
            pointer_events=self._pointer_events,
            keysyms_dropped=self._dropped,
            capture_backend="mss",
        )

    def close(self) -> None:
        """Release the keys and buttons viewers hold, then stop polling the clipboard and
        capturing."""
        if self._closed:
            return
        self._closed = True
        for key in reversed(self._held.values()):
            self._keys.release(key)
        self._held.clear()
        for bit, button in enumerate(self._buttons):
            if self._mask >> bit & 1:
                self._mouse.release(button)
        self._mask = 0
        # pynput's controllers have no close(): dropping them closes their X connections now
        # (in __del__) instead of at some later collection, when the display may be gone.
        self._keys = self._mouse = None
        if self._clipboard is not None:
            self._clipboard.close()
        self._capture_thread.submit(self._grabber.close).result()
        self._capture_thread.shutdown()
