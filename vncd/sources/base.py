"""The one interface every desktop source implements, so the daemon never knows which it serves.

Threading contract: ``capture()`` runs in Trio worker threads (any OS thread, never two at
once); ``inject_*``, ``resize``, the clipboard members, ``size`` and ``statistics()`` run in
the Trio thread.  A source may see both at the same time and must keep them apart.
"""

from __future__ import annotations

from typing import Protocol

import attrs
import numpy as np

from protocol.encodings import LedState

from ..region import Box


class SourceError(Exception):
    """A source could not start or lost its desktop; the message is written for the user."""


@attrs.frozen
class SourceStatistics:
    """Counters a source reports for /metrics (every field is cumulative since it opened)."""

    kind: str
    frames_captured: int
    key_events: int
    pointer_events: int
    keysyms_bound: int = 0  # x11: keysyms we had to bind to a spare keycode
    keysyms_dropped: int = 0  # x11: presses not typed (not a keysym, or all spare keycodes held)
    capture_backend: str = ""  # x11: which mss backend captures ("xcb" or "xlib")


class SourceConfig(Protocol):
    """What ``open_source`` reads from the configuration (any object with these attributes)."""

    kind: str  # "auto" | "demo" | "x11" | "xvfb" | "desktop"
    display: str | None  # x11: None means $DISPLAY
    geometry: tuple[int, int]  # demo and xvfb: (width, height)
    command: str  # xvfb: session command, shlex-split; "" = none
    resize: str  # who may resize: "any" | "first" | "none" (xvfb: "none" needs no spare room)
    max_size: tuple[int, int]  # the largest size viewers may resize to (xvfb: allocated at start)
    monitor: int  # desktop: 0 = all monitors as one framebuffer, 1, 2, … one monitor
    scale: float  # served size over the desktop's (0.1..1.0; 1.0: not scaled)


class Source(Protocol):
    """A desktop: frames out, input in."""

    name: str  # desktop name for ServerInit (rfbproto 7.3.2)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the current frame."""
        ...

    def capture(self) -> np.ndarray:
        """A new (H, W, 4) uint8 C-contiguous BGRX array that the source never touches again."""
        ...

    @property
    def reports_damage(self) -> bool:
        """Whether ``wait_for_damage`` works: the desktop says when and where it changes
        (X DAMAGE, or a source that draws its own pixels). Otherwise the capture loop polls."""
        ...

    async def wait_for_damage(self) -> list[Box]:
        """Wait (in the Trio thread, cancellably) until the desktop has changed, and return
        the boxes that changed since the previous call, clipped to the frame and at least one.

        The boxes are a hint that must cover every change (they may be larger, and may
        overlap); the capture loop finds the exact pixels. A change that happened before the
        first call is not reported: the loop captures once before it starts waiting."""
        ...

    def inject_key(self, keysym: int, down: bool) -> None:
        """Press or release the key for an X keysym (rfbproto 7.5.4)."""
        ...

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        """Move the pointer; bit n of the mask is button n+1 (rfbproto 7.5.5)."""
        ...

    def resize(self, width: int, height: int) -> bool:
        """Make the desktop width x height (a viewer's SetDesktopSize, rfbproto 7.5.11): True
        once ``size`` and later captures have the new size, False if this source never
        resizes.  Raises SourceError if it tried and failed."""
        ...

    @property
    def clipboard_serial(self) -> int:
        """Changes whenever the desktop's clipboard text changes (``set_clipboard`` included);
        cheap, so one task can watch it for every viewer (``vncd.clipboard``)."""
        ...

    def get_clipboard(self) -> str:
        """The desktop's clipboard text, lines ending in a bare newline."""
        ...

    def set_clipboard(self, text: str) -> None:
        """Make ``text`` (lines ending in a bare newline) the desktop's clipboard, without
        blocking."""
        ...

    def statistics(self) -> SourceStatistics: ...


@attrs.frozen
class CursorShape:
    """A pointer shape as X gives it: (height, width) uint32 0xAARRGGBB with premultiplied
    alpha, and the hotspot (x, y)."""

    argb: np.ndarray = attrs.field(eq=False)
    hotspot: tuple[int, int]


@attrs.frozen
class CursorNews:
    """What changed about the pointer: a new shape (None: the same one) and where it is."""

    shape: CursorShape | None
    position: tuple[int, int]


class TracksCursor(Protocol):
    """What a source may add (the cursor bus looks for it): the pointer's shape and place."""

    async def wait_for_cursor(self, poll: float | None) -> CursorNews:
        """Wait (in the Trio thread, cancellably, losing nothing) until the shape changed —
        the first call returns the current one — or at most ``poll`` seconds (None: as long
        as it takes), and return the news with the pointer's position."""
        ...


@attrs.frozen
class KeyboardNews:
    """What the desktop's keyboard reported: the lock keys lit now, and how many times the
    bell rang since the last news."""

    leds: LedState
    bells: int = 0


class ReportsKeyboard(Protocol):
    """What a source may add (the notice bus looks for it): lock-key LEDs and the bell."""

    async def wait_for_keyboard(self) -> KeyboardNews:
        """Wait (in the Trio thread, cancellably, losing nothing) until the LEDs change or
        the bell rings; the first call returns at once with the LEDs lit now."""
        ...


class InjectsKeycodes(Protocol):
    """What a source may add (viewers' QEMU Extended Key Events look for it): pressing a key
    by its position, so that the desktop's own layout decides what it types."""

    def inject_keycode(self, scancode: int, keysym: int, down: bool) -> bool:
        """Press or release the key at XT scancode ``scancode`` (rfbproto 'QEMU Extended Key
        Event Message': 0xE0-prefixed codes with the high bit set, see ``vncd.scancodes``);
        False, having done nothing, when the source cannot or need not (the caller types
        ``keysym``, the key the viewer meant as its layout sees it)."""
        ...


class ReportsName(Protocol):
    """What a source may add (the notice bus looks for it): a desktop name that changes."""

    async def wait_for_name(self) -> str:
        """Wait (in the Trio thread, cancellably) until the desktop's name changes, and
        return the new one."""
        ...


class CapturesRegions(Protocol):
    """What a source may add (the frame bus looks for it): grabbing only a changed box."""

    def capture_region(self, box: Box) -> np.ndarray:
        """A new (h, w, 4) BGRX array of just ``box``, which lies inside the current frame.
        Raises SourceError when the desktop is gone; any other exception makes the bus
        capture the whole frame instead."""
        ...
