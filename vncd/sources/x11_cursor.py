"""The X pointer's shape and position, from XFixes, awaited in the Trio thread.

XFixes (xfixesproto.txt, "Cursor Image" and "Cursor Notification") sends a CursorNotify to
clients that asked with SelectCursorInput whenever the displayed cursor changes, carrying
its serial; GetCursorImage returns the image (ARGB, premultiplied alpha), hotspot, serial and
the pointer's position. Nothing announces a pointer that merely moves, so the position is
asked for (QueryPointer) only when the caller wants it, at the pace it chooses — as
x0vncserver and x11vnc poll it.

Like the damage watcher, the watcher owns a connection of its own, used only from the Trio
thread, and never blocks on it: requests are sent deferred and their replies read as the
socket becomes readable, so a busy X server cannot stall Trio.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import trio
import Xlib.display
import Xlib.error
from Xlib.ext import xfixes
from Xlib.protocol import request, rq

from ._xconnection import close_watched, open_watched
from .base import CursorNews, CursorShape

log = logging.getLogger(__name__)

DISPLAY_CURSOR_NOTIFY = 1  # XFixesDisplayCursorNotifyMask


class _SelectCursorInput(rq.Request):
    """XFixes SelectCursorInput (3); python-xlib's helper passes a field the request lacks."""

    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(3),
        rq.RequestLength(),
        rq.Window("window"),
        rq.Card32("mask"),
    )


def _answered(reply: rq.ReplyRequest) -> bool:
    """Whether a deferred request's reply (or error) has been read, so ``reply()`` won't block."""
    return reply._data is not None or reply._error is not None


class CursorWatcher:
    """Reports the X pointer's shape changes and, on request, its position; see the module
    docstring. Open it with ``CursorWatcher.open``; use and close it in the Trio thread."""

    def __init__(self, x: Xlib.display.Display) -> None:
        self._x = x
        x.set_error_handler(self._log_x_error)
        self._xfixes = x.display.get_extension_major("XFIXES")
        # python-xlib gives each display its own copy of the event class: match the code.
        self._notify = x.query_extension("XFIXES").first_event + xfixes.XFixesCursorNotify
        self._root = x.screen().root
        _SelectCursorInput(
            display=x.display, opcode=self._xfixes, window=self._root, mask=DISPLAY_CURSOR_NOTIFY
        )
        x.flush()
        self._serial: int | None = None  # of the shape last returned
        self._stale = True  # a notify (or the start) says the shape may have changed
        self._image: xfixes.GetCursorImage | None = None  # sent, reply not yet taken
        self._query: request.QueryPointer | None = None
        self._position = (0, 0)

    @classmethod
    def open(cls, display_name: str) -> CursorWatcher | None:
        """A watcher on a new connection; None if the server lacks XFixes (then no cursor is
        sent). Raises SourceError if it cannot connect."""
        return open_watched(display_name, cls._start)

    @classmethod
    def _start(cls, x: Xlib.display.Display) -> CursorWatcher | None:
        if not x.has_extension("XFIXES"):
            return None
        x.xfixes_query_version()  # XFixes refuses other requests until this is done
        return cls(x)

    def _log_x_error(self, error: Xlib.error.XError, request: object) -> None:
        log.warning("X server reported %s to the cursor watcher", error)

    async def wait(self, poll: float | None = None) -> CursorNews:
        """See ``sources.base.TracksCursor``: requests in flight when cancelled are taken up
        by the next call."""
        await trio.lowlevel.checkpoint()
        deadline = math.inf if poll is None else trio.current_time() + poll
        while True:
            self._take_notifications()
            if self._stale and self._image is None:
                self._stale = False
                self._image = xfixes.GetCursorImage(
                    display=self._x.display, defer=True, opcode=self._xfixes
                )
                self._x.flush()
            if self._image is not None and _answered(self._image):
                image, self._image = self._image, None
                if image.cursor_serial != self._serial:
                    self._serial = image.cursor_serial
                    self._position = (image.x, image.y)
                    return CursorNews(_shape(image), self._position)
            if self._query is not None and _answered(self._query):
                query, self._query = self._query, None
                self._position = (query.root_x, query.root_y)
                return CursorNews(None, self._position)
            if self._query is None and trio.current_time() >= deadline:
                self._query = request.QueryPointer(
                    display=self._x.display, defer=True, window=self._root
                )
                self._x.flush()
            with trio.move_on_at(deadline if self._query is None else math.inf):
                await trio.lowlevel.wait_readable(self._x.fileno())
                self._x.pending_events()  # one read and parse of what has arrived

    def _take_notifications(self) -> None:
        """Pop the events read so far; a CursorNotify with a new serial makes the shape stale.
        Other events (MappingNotify goes to every client) are dropped."""
        for _ in range(self._x.pending_events()):
            event = self._x.next_event()
            if event.type == self._notify and event.cursor_serial != self._serial:
                self._stale = True

    def close(self) -> None:
        """Close the connection (which ends the selection in the server)."""
        close_watched(self._x)


def _shape(image: xfixes.GetCursorImage) -> CursorShape:
    pixels = np.array(image.cursor_image, dtype=np.uint32)
    if pixels.size != image.width * image.height:
        pixels = np.zeros(image.width * image.height, np.uint32)  # a malformed reply: invisible
    argb = pixels.reshape(image.height, image.width)
    return CursorShape(argb, (image.xhot, image.yhot))
