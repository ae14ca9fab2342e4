"""Opening an X connection, and the errors that mean the display is gone (shared by the
X11 source's connections: input, capture and clipboard)."""

from __future__ import annotations

import Xlib.display
import Xlib.error

from .base import SourceError

#: What python-xlib raises when the X server goes away under a connection.
X_GONE = (Xlib.error.ConnectionClosedError, OSError)


def open_display(name: str) -> Xlib.display.Display:
    try:
        return Xlib.display.Display(name)
    except (Xlib.error.DisplayError, *X_GONE) as error:
        raise SourceError(f"cannot open X display {name!r}: {error}") from error
