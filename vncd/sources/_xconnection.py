"""Opening an X connection, closing one a Trio task watches, and the errors that mean the
display is gone (shared by the X11 source's connections: input, capture, clipboard and the
watchers)."""

from __future__ import annotations

import contextlib

import trio
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


def close_watched(x: Xlib.display.Display) -> None:
    """Close a connection whose socket a Trio task may be waiting on (the watchers'): the
    waiter is woken with ClosedResourceError instead of waiting on a dead descriptor."""
    with contextlib.suppress(*X_GONE):  # gone already: python-xlib closed the socket
        fileno = x.fileno()
        with contextlib.suppress(RuntimeError):  # outside Trio nobody can be waiting on it
            trio.lowlevel.notify_closing(fileno)
        x.close()
