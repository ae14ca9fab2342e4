"""The one interface every desktop source implements, so the daemon never knows which it serves.

Threading contract: ``capture()`` runs in Trio worker threads (any OS thread, never two at
once); ``inject_*``, ``resize``, the clipboard members, ``size`` and ``statistics()`` run in
the Trio thread.  A source may see both at the same time and must keep them apart.
"""

from __future__ import annotations

from typing import Protocol

import attrs
import numpy as np

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

    kind: str  # "auto" | "demo" | "x11" | "xvfb"
    display: str | None  # x11: None means $DISPLAY
    geometry: tuple[int, int]  # demo and xvfb: (width, height)
    command: str  # xvfb: session command, shlex-split; "" = none


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


class CapturesRegions(Protocol):
    """What a source may add (the frame bus looks for it): grabbing only a changed box."""

    def capture_region(self, box: Box) -> np.ndarray:
        """A new (h, w, 4) BGRX array of just ``box``, which lies inside the current frame.
        Raises SourceError when the desktop is gone; any other exception makes the bus
        capture the whole frame instead."""
        ...
