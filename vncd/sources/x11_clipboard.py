"""The X selections as the desktop's clipboard (ICCCM chapter 2, "Peer-to-Peer Communication
by Means of Selections").

Text from a viewer: we become the owner of CLIPBOARD and PRIMARY with a small window that is
never mapped, and answer other clients' SelectionRequests for TARGETS, UTF8_STRING, STRING and
TEXT (ICCCM 2.2).  Every answer must fit one ChangeProperty request, because we do not do INCR
transfers (ICCCM 2.7.2): longer texts (python-xlib does not use BIG-REQUESTS, so about 256 KiB)
are refused, which the requestor sees as "no text".

Text from the desktop: XFixes reports every SetSelectionOwner on CLIPBOARD (XFixes protocol,
"Selection Tracking"); without XFixes we poll the owner every 0.5 s, which misses a second copy
by the same owner window (or by a new client that got the old one's window id).  We convert
the selection to UTF8_STRING, or to STRING if the owner cannot (ICCCM 2.4), keep the text and
bump ``serial``.  Texts an owner can only send by INCR are skipped.

All X traffic runs on one thread over a connection of its own: the selection protocol is a
conversation of events and replies, and keeping it on one thread needs no locks around
python-xlib.  Other threads only read ``text`` / ``serial`` and hand over new texts with
``set_text``, under a lock, waking the thread through a pipe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time

import Xlib.display
import Xlib.error
import Xlib.protocol.event
import Xlib.protocol.rq
from Xlib import X, Xatom
from Xlib.ext import xfixes
from Xlib.xobject.drawable import Window

from ._clipboard_text import SharedClipboardText
from ._xconnection import X_GONE

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # owner polling interval when the server lacks XFixes
CONVERT_SECONDS = 2.0  # an owner that has not answered a conversion by then is given up on
CHANGE_PROPERTY_HEADER = 24  # bytes before the data in a ChangeProperty request (X11 protocol)
MAX_FETCH = 64 << 20  # the longest desktop text we read, in bytes (vncd's largest cut-text limit)
_Reply = tuple[int, int, bytes | list[int]]  # property type, format, data


def _window_id(window: Window | int) -> int:
    """python-xlib gives windows as objects, but None (0) as a plain int."""
    return window if isinstance(window, int) else window.id


class X11Clipboard(SharedClipboardText):
    """CLIPBOARD (and PRIMARY) of one X display; takes over the connection ``x`` and closes
    it.  ``use_xfixes=False`` watches the owner by polling even where XFixes is available."""

    def __init__(self, x: Xlib.display.Display, *, use_xfixes: bool = True) -> None:
        self._x = x
        try:
            self._window = x.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
            self._window.set_wm_name("vncd clipboard")
            self._clipboard = x.intern_atom("CLIPBOARD")
            self._targets = x.intern_atom("TARGETS")
            self._utf8 = x.intern_atom("UTF8_STRING")
            self._text_target = x.intern_atom("TEXT")
            self._incr = x.intern_atom("INCR")
            self._property = x.intern_atom("VNCD_SELECTION")
            self._xfixes = use_xfixes and x.has_extension("XFIXES")
            if self._xfixes:
                # python-xlib copies extension event classes per display, so we recognise
                # XFixes events by code, not by class.
                self._xfixes_event = x.query_extension("XFIXES").first_event
                x.xfixes_query_version()
                x.xfixes_select_selection_input(
                    self._window, self._clipboard, xfixes.XFixesSetSelectionOwnerNotifyMask
                )
            x.set_error_handler(self._log_x_error)
            self._seen_owner = self._owner()
        except BaseException:
            with contextlib.suppress(*X_GONE):
                x.close()
            raise
        # Usable by the X thread only.
        self._max_property = x.display.info.max_request_length * 4 - CHANGE_PROPERTY_HEADER
        self._owned: set[int] = set()  # the selections we own
        self._owned_text = ""  # what we serve while we own them
        self._converting: tuple[int, float] | None = None  # (target, deadline) in flight
        self._next_poll = time.monotonic() + POLL_SECONDS
        # Shared with other threads, under the lock.
        self._lock = threading.Lock()
        self._text = ""
        self._serial = 0
        self._wanted: str | None = None  # a viewer's text the X thread has yet to own
        self._closing = False
        self._wake_read, self._wake_write = os.pipe()
        # One pending byte is enough to wake the thread; a full pipe must never block Trio.
        os.set_blocking(self._wake_write, False)
        self._thread = threading.Thread(target=self._run, name="vncd-x11-clipboard", daemon=True)
        self._thread.start()

    # --- any thread (and text, serial, set_text: SharedClipboardText) ------------------

    def close(self) -> None:
        """Stop the X thread; closing its connection gives up the selections we own."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake()
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"\0")

    # --- the X thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._closing:
                self._serve_once()
        except X_GONE as error:
            if not self._closing:
                log.warning("clipboard: lost the X display: %s", error)
        except Exception:  # the clipboard stops; capture and input carry on
            log.exception("clipboard: the X selection thread failed")
        finally:
            with contextlib.suppress(*X_GONE):
                self._x.close()

    def _serve_once(self) -> None:
        with self._lock:
            wanted, self._wanted = self._wanted, None
        if wanted is not None:
            self._own(wanted)
        # python-xlib's flush also reads what the server sent (a conversion's answer to the
        # request it flushes): look at the queue after each one, or select() below would wait
        # for bytes that were read already.
        self._x.flush()
        while self._x.pending_events():
            self._handle(self._x.next_event())
            self._x.flush()
        now = time.monotonic()
        if self._converting is not None and now >= self._converting[1]:
            log.info("clipboard: the owner of CLIPBOARD did not answer; ignored")
            self._converting = None
        deadlines = [self._converting[1]] if self._converting else []
        if not self._xfixes:
            deadlines.append(self._next_poll)
        timeout = max(min(deadlines) - now, 0.0) if deadlines else None
        readable, _, _ = select.select([self._x.fileno(), self._wake_read], [], [], timeout)
        if self._wake_read in readable:
            os.read(self._wake_read, 4096)
        if not self._xfixes and time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + POLL_SECONDS
            owner = self._owner()
            if owner != self._seen_owner:
                self._owner_changed(owner, X.CurrentTime)

    def _owner(self) -> int:
        return _window_id(self._x.get_selection_owner(self._clipboard))

    def _own(self, text: str) -> None:
        # A conversion still in flight would bring back the text this one replaces.
        self._converting = None
        self._owned_text = text
        # CurrentTime, although ICCCM 2.1 asks for an event's timestamp: we act on a viewer's
        # message, not on an X event, and the server then records its own current time.
        for selection in (self._clipboard, Xatom.PRIMARY):
            self._window.set_selection_owner(selection, X.CurrentTime)
        self._owned = {
            selection
            for selection in (self._clipboard, Xatom.PRIMARY)
            if _window_id(self._x.get_selection_owner(selection)) == self._window.id
        }
        self._seen_owner = self._owner()
        if self._clipboard not in self._owned:
            log.warning("clipboard: another client kept the CLIPBOARD selection")

    def _handle(self, event: Xlib.protocol.rq.Event) -> None:
        if isinstance(event, Xlib.protocol.event.SelectionRequest):
            self._answer(event)
        elif isinstance(event, Xlib.protocol.event.SelectionClear):
            self._owned.discard(event.atom)
        elif isinstance(event, Xlib.protocol.event.SelectionNotify):
            self._receive(event)
        elif (
            self._xfixes
            and event.type == self._xfixes_event + xfixes.XFixesSelectionNotify
            and event.sub_code == xfixes.XFixesSetSelectionOwnerNotify
            and event.selection == self._clipboard
        ):
            self._owner_changed(_window_id(event.owner), event.selection_timestamp)

    # Answering requests for our text (ICCCM 2.2).

    def _answer(self, request: Xlib.protocol.event.SelectionRequest) -> None:
        # An obsolete requestor names no property: it means the target atom (ICCCM 2.2).
        target_property = request.property or request.target
        reply = self._reply(request.selection, request.target)
        if reply is None:
            target_property = X.NONE
        else:
            kind, format_, data = reply
            request.requestor.change_property(target_property, kind, format_, data)
        request.requestor.send_event(
            Xlib.protocol.event.SelectionNotify(
                time=request.time,
                requestor=request.requestor,
                selection=request.selection,
                target=request.target,
                property=target_property,
            )
        )

    def _reply(self, selection: int, target: int) -> _Reply | None:
        """What to store for ``target``, or None to refuse."""
        if selection not in self._owned:
            return None
        if target == self._targets:
            return Xatom.ATOM, 32, [self._targets, self._utf8, Xatom.STRING, self._text_target]
        if target in (self._utf8, self._text_target):  # TEXT: the owner picks; UTF-8 it is
            kind, data = self._utf8, self._owned_text.encode("utf-8")
        elif target == Xatom.STRING:  # ISO Latin-1 (ICCCM 2.6.2)
            kind, data = Xatom.STRING, self._owned_text.encode("latin-1", "replace")
        else:
            return None
        if len(data) > self._max_property:
            log.info("clipboard: %d bytes are too many for one X request; refused", len(data))
            return None
        return kind, 8, data

    # Fetching another client's text (ICCCM 2.4).

    def _owner_changed(self, owner: int, timestamp: int) -> None:
        self._seen_owner = owner
        if owner not in (X.NONE, self._window.id):
            self._convert(self._utf8, timestamp)

    def _convert(self, target: int, timestamp: int) -> None:
        self._converting = (target, time.monotonic() + CONVERT_SECONDS)
        self._window.convert_selection(self._clipboard, target, self._property, timestamp)

    def _receive(self, notify: Xlib.protocol.event.SelectionNotify) -> None:
        if self._converting is None or notify.selection != self._clipboard:
            return  # not an answer we are waiting for (any more)
        target, _ = self._converting
        self._converting = None
        if notify.property == X.NONE:
            if target == self._utf8:
                self._convert(Xatom.STRING, notify.time)
            return
        reply = self._window.get_property(self._property, X.AnyPropertyType, 0, MAX_FETCH // 4)
        if reply is None:
            return
        if reply.property_type == self._incr or reply.bytes_after:
            # Deleting an INCR property would start the transfer (ICCCM 2.7.2): leave it.
            log.info("clipboard: the desktop's text is too long to fetch; ignored")
            return
        self._window.delete_property(self._property)
        if reply.format != 8:
            return
        data = bytes(reply.value)
        if reply.property_type == Xatom.STRING:
            text = data.decode("latin-1")
        else:
            text = data.decode("utf-8", "replace")
        with self._lock:
            self._text = text
            self._serial += 1

    def _log_x_error(self, error: Xlib.error.XError, request: object) -> None:
        # Requestors may vanish before we answer them: BadWindow is routine here.
        log.debug("clipboard: X error %s", error)
