"""Clipboard text between the desktop and the viewers, in both wire forms: classic cut text
(ClientCutText rfbproto 7.5.6, ServerCutText 7.6.4: Latin-1) and, for viewers that advertise
it, the Extended Clipboard (rfbproto 'Extended Clipboard Pseudo-Encoding': UTF-8 text).

One ``ClipboardBus`` serves every session.  A viewer's text goes to the desktop at once and to
every *other* viewer (a viewer never gets its own text back).  Desktop changes are found by
watching the source's ``clipboard_serial`` from one task, while any viewer is connected:
sources change their clipboard on threads of their own (the X selection thread), and reading
an integer a few times a second is cheaper and simpler than waking Trio from those threads.
Each session has a ``ViewerClipboard`` holding the latest text its writer has yet to send, so
a busy viewer gets only the newest text, never a queue of them, and answering its viewer's
clipboard messages.

Classic cut text is Latin-1 with lines ending in a bare newline: characters outside Latin-1
become "?", and carriage returns before newlines (some Windows viewers send them) are dropped.

The Extended Clipboard, as TigerVNC's server runs it and as noVNC needs it: after each
SetEncodings that names it, our caps (text, taken unasked up to the cut-text limit; request,
peek, notify and provide).  A desktop change goes out as Provide when the viewer's caps take
that much text unasked, else as Notify (noVNC's caps take nothing unasked: it answers Notify
with Request).  The viewer's Request is answered with Provide, its Peek with Notify, its
Notify (text) with Request, and its Provide's text goes to the desktop like classic text.

``max_text`` bounds both forms, both ways: Latin-1 characters of classic text, and bytes of
extended text as on the wire (UTF-8, CRLF line ends, the NUL).
"""

from __future__ import annotations

import logging

import attrs
import trio

from protocol import ClientCutText, Event, ServerCutText
from protocol.clipboard import (
    EVENTS,
    ClipboardAction,
    ClipboardCaps,
    ClipboardDropped,
    ClipboardFormat,
    ClipboardNotify,
    ClipboardPeek,
    ClipboardProvide,
    ClipboardRequest,
    provided_text,
    text_to_wire,
)
from protocol.encodings import Encoding

from .frames import Wakeup
from .sources.base import Source

log = logging.getLogger(__name__)

#: How often the desktop's clipboard serial is read; a paste is never quicker than this.
POLL_SECONDS = 0.1

TEXT = ClipboardFormat.TEXT
REQUEST, PEEK = ClipboardAction.REQUEST, ClipboardAction.PEEK
NOTIFY, PROVIDE = ClipboardAction.NOTIFY, ClipboardAction.PROVIDE
#: The actions we take from viewers (caps is implied): all of them, as TigerVNC's server.
OUR_ACTIONS = REQUEST | PEEK | NOTIFY | PROVIDE
#: What a viewer that sent no caps takes (rfbproto): text, RTF and HTML, 20 MiB of text
#: unasked; request, notify and provide.
ASSUMED_CAPS = ClipboardCaps(
    {TEXT: 20 << 20, ClipboardFormat.RTF: 0, ClipboardFormat.HTML: 0}, REQUEST | NOTIFY | PROVIDE
)
#: Every clipboard message a viewer may send.
FROM_VIEWER = (ClientCutText, *EVENTS)
_SIZE_WORD = 4  # the U32 size before each format's data in a Provide
_NO_TEXT = text_to_wire("")


def from_viewer(text: str) -> str:
    """A viewer's cut text as desktop text: lines end in a bare newline (rfbproto 7.5.6)."""
    return text.replace("\r\n", "\n")


def to_viewer(text: str) -> str:
    """Desktop text as cut text a viewer can decode: Latin-1, "?" for anything else, lines
    ending in a bare newline (rfbproto 7.6.4)."""
    return text.replace("\r\n", "\n").encode("latin-1", "replace").decode("latin-1")


def provide_limit(max_text: int) -> int:
    """How far a viewer's Provide may inflate (``ServerConnection(max_clipboard=...)``): a text
    of ``max_text`` bytes and its size word."""
    return max_text + _SIZE_WORD


@attrs.frozen
class DesktopText:
    """One clipboard text in both wire forms, made once for every viewer; a form longer than
    the cut-text limit is None."""

    latin1: str | None  # ServerCutText's text
    utf8: bytes | None  # the Extended Clipboard's text format

    @classmethod
    def of(cls, text: str, max_text: int) -> DesktopText:
        latin1, utf8 = to_viewer(text), text_to_wire(text)
        return cls(
            latin1 if len(latin1) <= max_text else None, utf8 if len(utf8) <= max_text else None
        )


class ViewerClipboard:
    """One session's side of the bus: the latest desktop text its viewer has yet to receive,
    the viewer's Extended Clipboard caps, and the answers to its clipboard messages."""

    def __init__(self, bus: ClipboardBus, wakeup: Wakeup, peer: str) -> None:
        self._bus = bus
        self._wakeup = wakeup
        self._peer = peer
        self._text: DesktopText | None = None
        #: The viewer's caps: what it takes from us in the extended form.
        self.caps = ASSUMED_CAPS

    @property
    def pending(self) -> bool:
        return self._text is not None

    def put(self, text: DesktopText | None) -> None:
        """Replace what is waiting (None: nothing) and wake the writer."""
        self._text = text
        if text is not None:
            self._wakeup.set()

    def set_encodings(self, encodings: tuple[int, ...]) -> list[Event]:
        """Our caps, owed after each SetEncodings naming the Extended Clipboard (rfbproto)."""
        return [self._bus.caps] if Encoding.EXTENDED_CLIPBOARD in encodings else []

    def take(self, extended: bool) -> list[Event]:
        """The message for the text waiting, if any; ``extended``: the viewer advertised the
        Extended Clipboard.  Nothing waits afterwards."""
        news, self._text = self._text, None
        if news is None:
            return []
        size = dict(self.caps.sizes).get(TEXT)
        if extended and size is not None:
            if news.utf8 is None:
                log.info("%s: clipboard: the text is over limits.max_cut_text in UTF-8", self._peer)
                return []
            if self.caps.actions & PROVIDE and len(news.utf8) <= size:
                return [ClipboardProvide({TEXT: news.utf8})]
            if self.caps.actions & NOTIFY:
                return [ClipboardNotify(TEXT)]
        # A viewer without the extension, or one whose caps take text neither way.
        return [] if news.latin1 is None else [ServerCutText(news.latin1)]

    def received(self, event: Event, may_set: bool) -> list[Event]:
        """Act on one of ``FROM_VIEWER``; returns the answers owed.  ``may_set``: the viewer may
        set the desktop's clipboard now (view-only viewers never may: they receive the
        desktop's clipboard but cannot set it; see vncd.policy)."""
        actions = self.caps.actions
        match event:
            case ClientCutText(text=text):
                self._set_desktop(text, may_set)
            case ClipboardCaps():
                self.caps = event
            case ClipboardRequest(formats=formats) if formats & TEXT and actions & PROVIDE:
                if (utf8 := self._bus.current().utf8) is not None:
                    return [ClipboardProvide({TEXT: utf8})]
                log.info("%s: clipboard: the text asked for is over the limit", self._peer)
            case ClipboardPeek() if actions & NOTIFY:
                utf8 = self._bus.current().utf8
                return [ClipboardNotify(TEXT if utf8 not in (None, _NO_TEXT) else 0)]
            case ClipboardNotify(formats=formats) if formats & TEXT and actions & REQUEST:
                if may_set:
                    return [ClipboardRequest(TEXT)]
                log.debug("%s: clipboard text ignored", self._peer)
            case ClipboardProvide():
                if (text := provided_text(event)) is not None:
                    self._set_desktop(text, may_set)
            case ClipboardDropped(size=size):
                log.info(
                    "%s: clipboard: dropped a Provide of %d compressed bytes: over "
                    "limits.max_cut_text",
                    self._peer,
                    size,
                )
        return []

    def _set_desktop(self, text: str, may_set: bool) -> None:
        if may_set:
            self._bus.set_from_viewer(text, self)
        else:
            log.debug("%s: clipboard text ignored", self._peer)


@attrs.define
class ClipboardStatistics:
    from_viewers: int = 0  # texts viewers set on the desktop
    from_desktop: int = 0  # desktop clipboard changes sent out
    too_long: int = 0  # desktop texts not sent: longer than the cut-text limit in both forms
    viewers: int = 0


class ClipboardBus:
    """Carries clipboard text between ``source`` and the joined viewers; ``run()`` watches the
    desktop.  ``max_text``: the longest text sent to viewers, the same limit that viewers'
    cut text is held to."""

    def __init__(self, source: Source, max_text: int, poll_seconds: float = POLL_SECONDS) -> None:
        self._source = source
        self._max_text = max_text
        self._poll_seconds = poll_seconds
        self._viewers: set[ViewerClipboard] = set()
        self._serial = source.clipboard_serial
        self._stats = ClipboardStatistics()
        self._joined = Wakeup()
        #: What we send after a SetEncodings that names the Extended Clipboard.
        self.caps = ClipboardCaps({TEXT: max_text}, OUR_ACTIONS)

    def join(self, viewer: ViewerClipboard) -> None:
        if not self._viewers:
            # Nobody watched: what the desktop copied meanwhile is not news to anyone.
            self._serial = self._source.clipboard_serial
            self._joined.set()
        self._viewers.add(viewer)

    def leave(self, viewer: ViewerClipboard) -> None:
        self._viewers.discard(viewer)

    def statistics(self) -> ClipboardStatistics:
        return attrs.evolve(self._stats, viewers=len(self._viewers))

    def current(self) -> DesktopText:
        """The desktop's clipboard now (what a viewer's Request or Peek is answered from)."""
        return DesktopText.of(self._source.get_clipboard(), self._max_text)

    def set_from_viewer(self, text: str, origin: ViewerClipboard) -> None:
        """A viewer's text: the desktop's clipboard and every other viewer's."""
        text = from_viewer(text)
        self._source.set_clipboard(text)
        self._serial = self._source.clipboard_serial  # our own change: not news to anyone
        self._stats.from_viewers += 1
        origin.put(None)  # anything still waiting for it is older than its own text
        self._publish(DesktopText.of(text, self._max_text), skip=origin)

    def check(self) -> None:
        """Publish the desktop's clipboard if it changed since the last look."""
        serial = self._source.clipboard_serial
        if serial == self._serial:
            return
        self._serial = serial
        news = self.current()
        if news.latin1 is None and news.utf8 is None:
            self._stats.too_long += 1
            log.info("clipboard: the desktop's text is over limits.max_cut_text; not sent")
            return
        self._stats.from_desktop += 1
        self._publish(news, skip=None)

    def _publish(self, news: DesktopText, skip: ViewerClipboard | None) -> None:
        for viewer in self._viewers:
            if viewer is not skip:
                viewer.put(news)

    async def run(self) -> None:
        """Watch the desktop's clipboard forever, while any viewer is there to tell."""
        while True:
            if not self._viewers:
                await self._joined.wait()
                continue
            self.check()
            await trio.sleep(self._poll_seconds)
