"""Clipboard text between the desktop and the viewers: ClientCutText in (rfbproto 7.5.6),
ServerCutText out (rfbproto 7.6.4).

One ``ClipboardBus`` serves every session.  A viewer's text goes to the desktop at once and to
every *other* viewer (a viewer never gets its own text back).  Desktop changes are found by
watching the source's ``clipboard_serial`` from one task, while any viewer is connected:
sources change their clipboard on threads of their own (the X selection thread), and reading
an integer a few times a second is cheaper and simpler than waking Trio from those threads.
Each session has a ``ClipboardInbox`` holding the latest text its writer has yet to send, so
a busy viewer gets only the newest text, never a queue of them.

The wire carries Latin-1 with lines ending in a bare newline: characters outside Latin-1 become
"?", and carriage returns before newlines (some Windows viewers send them) are dropped.
"""

from __future__ import annotations

import logging

import attrs
import trio

from .frames import Wakeup
from .sources.base import Source

log = logging.getLogger(__name__)

#: How often the desktop's clipboard serial is read; a paste is never quicker than this.
POLL_SECONDS = 0.1


def from_viewer(text: str) -> str:
    """A viewer's cut text as desktop text: lines end in a bare newline (rfbproto 7.5.6)."""
    return text.replace("\r\n", "\n")


def to_viewer(text: str) -> str:
    """Desktop text as cut text a viewer can decode: Latin-1, "?" for anything else, lines
    ending in a bare newline (rfbproto 7.6.4)."""
    return text.replace("\r\n", "\n").encode("latin-1", "replace").decode("latin-1")


class ClipboardInbox:
    """One session's side of the bus: the latest text its viewer has yet to receive."""

    def __init__(self, wakeup: Wakeup) -> None:
        self._wakeup = wakeup
        self._text: str | None = None

    @property
    def pending(self) -> bool:
        return self._text is not None

    def put(self, text: str | None) -> None:
        """Replace what is waiting (None: nothing) and wake the writer."""
        self._text = text
        if text is not None:
            self._wakeup.set()

    def take(self) -> str | None:
        """The text to send now, if any; the inbox is empty afterwards."""
        text, self._text = self._text, None
        return text


@attrs.define
class ClipboardStatistics:
    from_viewers: int = 0  # texts viewers set on the desktop
    from_desktop: int = 0  # desktop clipboard changes sent out
    too_long: int = 0  # desktop texts not sent: longer than the cut-text limit
    viewers: int = 0


class ClipboardBus:
    """Carries clipboard text between ``source`` and the joined inboxes; ``run()`` watches the
    desktop.  ``max_text``: the longest text (in Latin-1 bytes) sent to viewers, the same
    limit that viewers' cut text is held to."""

    def __init__(self, source: Source, max_text: int, poll_seconds: float = POLL_SECONDS) -> None:
        self._source = source
        self._max_text = max_text
        self._poll_seconds = poll_seconds
        self._inboxes: set[ClipboardInbox] = set()
        self._serial = source.clipboard_serial
        self._stats = ClipboardStatistics()
        self._joined = Wakeup()

    def join(self, inbox: ClipboardInbox) -> None:
        if not self._inboxes:
            # Nobody watched: what the desktop copied meanwhile is not news to anyone.
            self._serial = self._source.clipboard_serial
            self._joined.set()
        self._inboxes.add(inbox)

    def leave(self, inbox: ClipboardInbox) -> None:
        self._inboxes.discard(inbox)

    def statistics(self) -> ClipboardStatistics:
        return attrs.evolve(self._stats, viewers=len(self._inboxes))

    def set_from_viewer(self, text: str, origin: ClipboardInbox) -> None:
        """A viewer's ClientCutText: the desktop's clipboard and every other viewer's."""
        text = from_viewer(text)
        self._source.set_clipboard(text)
        self._serial = self._source.clipboard_serial  # our own change: not news to anyone
        self._stats.from_viewers += 1
        origin.put(None)  # anything still waiting for it is older than its own text
        self._publish(text, skip=origin)

    def check(self) -> None:
        """Publish the desktop's clipboard if it changed since the last look."""
        serial = self._source.clipboard_serial
        if serial == self._serial:
            return
        self._serial = serial
        text = to_viewer(self._source.get_clipboard())
        if len(text) > self._max_text:
            self._stats.too_long += 1
            log.info("clipboard: %d characters are over the cut-text limit; not sent", len(text))
            return
        self._stats.from_desktop += 1
        self._publish(text, skip=None)

    def _publish(self, text: str, skip: ClipboardInbox | None) -> None:
        for inbox in self._inboxes:
            if inbox is not skip:
                inbox.put(text)

    async def run(self) -> None:
        """Watch the desktop's clipboard forever, while any viewer is there to tell."""
        while True:
            if not self._inboxes:
                await self._joined.wait()
                continue
            self.check()
            await trio.sleep(self._poll_seconds)
