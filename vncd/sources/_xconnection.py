"""Opening an X connection, opening and closing one a Trio task watches, and the errors that
mean the display is gone (shared by the X11 source's connections: input, capture, clipboard
and the watchers)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

import trio
import Xlib.display
import Xlib.error

from .base import SourceError

#: What python-xlib raises when the X server goes away under a connection.
X_GONE = (Xlib.error.ConnectionClosedError, OSError)

Watcher = TypeVar("Watcher")


def open_display(name: str) -> Xlib.display.Display:
    try:
        return Xlib.display.Display(name)
    except (Xlib.error.DisplayError, *X_GONE) as error:
        raise SourceError(f"cannot open X display {name!r}: {error}") from error


def open_watched(
    name: str, start: Callable[[Xlib.display.Display], Watcher | None]
) -> Watcher | None:
    """A watcher that ``start`` makes on a new connection of its own, or None when ``start``
    finds the server lacks what it needs. The connection is closed then, or if ``start``
    raises, so a watcher that never came to be leaves nothing open. Raises SourceError if it
    cannot connect."""
    x = open_display(name)
    try:
        watcher = start(x)
        if watcher is None:
            x.close()
        return watcher
    except BaseException:
        with contextlib.suppress(*X_GONE):
            x.close()
        raise


def close_watched(x: Xlib.display.Display) -> None:
    """Close a connection whose socket a Trio task may be waiting on (the watchers'): the
    waiter is woken with ClosedResourceError instead of waiting on a dead descriptor."""
    with contextlib.suppress(*X_GONE):  # gone already: python-xlib closed the socket
        fileno = x.fileno()
        with contextlib.suppress(RuntimeError):  # outside Trio nobody can be waiting on it
            trio.lowlevel.notify_closing(fileno)
        x.close()
