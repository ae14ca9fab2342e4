"""Where an X screen changed, from the DAMAGE extension, awaited in the Trio thread.

DAMAGE 1.1 (damageproto.txt) tracks damage on the root window including what is drawn in every
inferior window (section 3, "Damage Model"), at one of four report levels (section 6). We use
**NonEmpty**: the server sends one DamageNotify when the damage region goes from empty to
non-empty; we answer with DamageSubtract(repair=None, parts=R) (section 9: "parts = damage;
damage = <empty>") and XFixes FetchRegion(R), one round trip that returns the whole region
accumulated since the last fetch, already merged by the server into y-x banded rectangles.
Measured on a 1920x1080 Xvfb while an xterm printed a long listing for 6 s: RawRectangles
sent ~59 000 events (1.6 s of CPU to parse in python-xlib), DeltaRectangles ~900, NonEmpty 6.
NonEmpty also bounds what waits for us: while nobody calls ``wait`` the server holds one event
and one region, where the rectangle levels queue events without limit.

The watcher owns a connection of its own, used only from the Trio thread: python-xlib
connections are not thread-safe, and the source's other connections serve other threads. It
never blocks on it: the fetch is sent deferred and its reply read as the socket becomes
readable (``trio.lowlevel.wait_readable``), so a busy X server cannot stall Trio.
"""

from __future__ import annotations

import logging

import trio
import Xlib.display
import Xlib.error
from Xlib.ext import damage
from Xlib.protocol import rq, structs

from ..region import Box, Region
from ._xconnection import close_watched, open_watched

log = logging.getLogger(__name__)

XFIXES_REGIONS = 2  # XFixes regions (CreateRegion, FetchRegion) came with version 2.0

# python-xlib implements only XFixes' cursor and selection requests; these are the region
# requests we need, from xfixesproto.h (opcodes: xfixeswire.h).


class _CreateRegion(rq.Request):
    """XFixes CreateRegion (5), here with no rectangles: a new empty region."""

    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(5),
        rq.RequestLength(),
        rq.Card32("region"),
        rq.List("rectangles", structs.Rectangle),
    )


class _FetchRegion(rq.ReplyRequest):
    """XFixes FetchRegion (19): the region's extents and its rectangles."""

    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(19),
        rq.RequestLength(),
        rq.Card32("region"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Pad(1),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Object("extents", structs.Rectangle),
        rq.Pad(16),
        rq.List("rectangles", structs.Rectangle),  # as many as the reply length holds
    )

    @property
    def answered(self) -> bool:
        """Whether the reply (or an error) has been read, so ``reply()`` will not block."""
        return self._data is not None or self._error is not None


class DamageWatcher:
    """Reports where the root window of one X display changed; see the module docstring.
    Open it with ``DamageWatcher.open``; use and close it in the Trio thread."""

    def __init__(self, x: Xlib.display.Display) -> None:
        """Take over ``x`` (which has DAMAGE and XFixes 2.0) and start watching its root."""
        self._x = x
        x.set_error_handler(self._log_x_error)
        self._notify = x.extension_event.DamageNotify
        self._xfixes = x.display.get_extension_major("XFIXES")
        root = x.screen().root
        self._region = x.display.allocate_resource_id()
        _CreateRegion(display=x.display, opcode=self._xfixes, region=self._region, rectangles=[])
        self._damage = root.damage_create(damage.DamageReportNonEmpty)
        # The X server damages a whole window when a Damage is created on it (Xorg's
        # ProcDamageCreate): clear that, and drop its event, as the contract wants changes
        # before the first ``wait`` unreported.
        x.damage_subtract(self._damage)
        geometry = root.get_geometry()  # a round trip: the requests above are done
        for _ in range(x.pending_events()):
            x.next_event()
        self._screen = Box(0, 0, geometry.width, geometry.height)
        self._fetch: _FetchRegion | None = None  # sent, reply not yet taken

    @classmethod
    def open(cls, display_name: str) -> DamageWatcher | None:
        """A watcher on a new connection to ``display_name``; None if the server lacks DAMAGE
        or XFixes 2.0 (the capture loop then polls). Raises SourceError if it cannot connect."""
        return open_watched(display_name, cls._start)

    @classmethod
    def _start(cls, x: Xlib.display.Display) -> DamageWatcher | None:
        if not (x.has_extension("DAMAGE") and x.has_extension("XFIXES")):
            return None
        # Both extensions refuse other requests until the version is negotiated
        # (DAMAGE 1.1, section 8; XFixes, section "Extension initialization").
        x.damage_query_version()
        if x.xfixes_query_version().major_version < XFIXES_REGIONS:
            return None
        return cls(x)

    def _log_x_error(self, error: Xlib.error.XError, request: object) -> None:
        log.warning("X server reported %s to the damage watcher", error)

    async def wait(self) -> list[Box]:
        """Wait until the screen changed; the boxes (clipped to the screen, merged as a
        ``Region`` merges them: at most ``region.MAX_BOXES``) cover everything damaged since
        the previous call. Cancellation loses nothing: a fetch in flight is taken up by the
        next call."""
        await trio.lowlevel.checkpoint()
        while True:
            if self._fetch is None and self._take_notifications():
                self._fetch = _FetchRegion(
                    display=self._x.display, defer=True, opcode=self._xfixes, region=self._region
                )
                self._x.flush()
            if self._fetch is not None and self._fetch.answered:
                fetch, self._fetch = self._fetch, None
                fetch.reply()  # raises the X error, if the server sent one
                damage = Region()
                for rectangle in fetch.rectangles:
                    box = Box(rectangle.x, rectangle.y, rectangle.width, rectangle.height)
                    damage.add(box.intersect(self._screen))
                if damage:
                    return damage.boxes
                continue  # an empty region (damage outside the screen): wait for more
            await trio.lowlevel.wait_readable(self._x.fileno())
            # One read and parse of what has arrived (events and the reply, if it came).
            self._x.pending_events()

    def _take_notifications(self) -> bool:
        """Pop the events read so far; on a DamageNotify, move the damage into our region
        (DamageSubtract, no round trip) and say so. Other events (MappingNotify goes to
        every client) are dropped."""
        notified = False
        for _ in range(self._x.pending_events()):
            event = self._x.next_event()
            if event.type == self._notify:
                notified = True
                geometry = event.drawable_geometry  # the root's size now (RandR may change it)
                self._screen = Box(0, 0, geometry.width, geometry.height)
        if notified:
            self._x.damage_subtract(self._damage, parts=self._region)
        return notified

    def close(self) -> None:
        """Close the connection (which frees the Damage and the region in the server)."""
        close_watched(self._x)
