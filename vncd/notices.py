"""What viewers are told besides pixels, the pointer, the clipboard and the desktop's size:
the lock-key LEDs, the bell, the desktop's name, and that vncd reads the extended keyboard
and mouse messages.

One ``NoticeBus`` follows the source (sources that can say: ``sources.base.ReportsKeyboard``,
``ReportsName``) for every session; each session has a ``NoticeView`` that knows what its
viewer has been told. Each is told only what it asked for in SetEncodings:

- QEMU LED State (rfbproto 'QEMU LED State Pseudo-encoding', -261), else VMware LED State:
  the Caps, Num and Scroll Lock LEDs once when it lists the encoding and again whenever they
  change (noVNC then keeps its own Caps and Num Lock in step with the desktop's);
- DesktopName (-307): the new name whenever the desktop is renamed;
- the empty rectangles that confirm QEMU Extended Key Events (-258: the viewer may then send
  keys by scancode, ``InputState.qemu_key``) and ExtendedMouseButtons (-316: back and
  forward buttons), once, when it lists them;
- the Bell message (rfbproto 7.6.3), whenever the desktop's bell rings.

The pseudo-rectangles go at the head of the viewer's next update, as TigerVNC's server sends
them; the bell needs no update request and goes at once (rings the viewer has not yet been
sent are one ring: a viewer that stops reading is not owed a queue of them).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import trio

from protocol import Rectangle, ServerConnection
from protocol.encodings import (
    Encoding,
    LedState,
    extended_mouse_buttons,
    qemu_extended_key_event,
    qemu_led_state,
    vmware_led_state,
)
from protocol.encodings.pseudo import desktop_name

from .frames import Wakeup
from .sources.base import KeyboardNews

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)
T = TypeVar("T")

#: LED encodings in the order they are preferred (TigerVNC's server prefers QEMU's too).
LED_ENCODINGS = {
    Encoding.QEMU_LED_STATE: qemu_led_state,
    Encoding.VMWARE_LED_STATE: vmware_led_state,
}
#: Extensions confirmed by an empty rectangle, and whether the connection has had it.
CONFIRMATIONS = {
    Encoding.QEMU_EXTENDED_KEY_EVENT: (
        qemu_extended_key_event,
        lambda conn: conn.qemu_extended_key_events,
    ),
    Encoding.EXTENDED_MOUSE_BUTTONS: (
        extended_mouse_buttons,
        lambda conn: conn.extended_mouse_buttons,
    ),
}


class NoticeView:
    """One session's side of the bus; see the module docstring."""

    def __init__(self, bus: NoticeBus, wakeup: Wakeup, conn: ServerConnection) -> None:
        self._bus = bus
        self.wakeup = wakeup
        self._conn = conn
        self._led_encoding: int | None = None
        self._leds_sent: LedState | None = None  # what this viewer was last told (None: nothing)
        self._names = False  # the viewer lists DesktopName
        #: The name the viewer knows: ServerInit's, sent after this view was made.
        self._name_known = bus.name
        self._confirm: set[int] = set()  # confirmations due in the next update
        self._bell = False  # the bell rang since the writer last looked

    def set_encodings(self, encodings: Sequence[int]) -> None:
        led_encoding = next((e for e in LED_ENCODINGS if e in encodings), None)
        if led_encoding != self._led_encoding:
            self._led_encoding, self._leds_sent = led_encoding, None  # tell it once more
        self._names = Encoding.DESKTOP_NAME in encodings
        self._confirm = {
            encoding
            for encoding, (_, confirmed) in CONFIRMATIONS.items()
            if encoding in encodings and not confirmed(self._conn)
        }

    def news(self) -> bool:
        """Whether the viewer's next update has pseudo-rectangles to carry."""
        return bool(self._confirm) or self._led_news() or self._name_news()

    def _led_news(self) -> bool:
        leds = self._bus.leds
        return self._led_encoding is not None and leds is not None and leds != self._leds_sent

    def _name_news(self) -> bool:
        return self._names and self._bus.name != self._name_known

    def take(self) -> list[Rectangle]:
        """The pseudo-rectangles that bring the viewer up to date (they go first in its next
        update)."""
        rectangles = [CONFIRMATIONS[encoding][0]() for encoding in sorted(self._confirm)]
        self._confirm.clear()
        if self._led_news():
            assert self._led_encoding is not None and self._bus.leds is not None
            self._leds_sent = self._bus.leds
            rectangles.append(LED_ENCODINGS[self._led_encoding](self._leds_sent))
        if self._name_news():
            self._name_known = self._bus.name
            rectangles.append(desktop_name(self._name_known))
        return rectangles

    def ring(self) -> None:
        self._bell = True
        self.wakeup.set()

    def take_bell(self) -> bool:
        """Whether the bell rang since the last call (the writer sends one Bell then)."""
        rang, self._bell = self._bell, False
        return rang


class NoticeBus:
    """Follows the source's keyboard and name for the joined views; whoever runs the hub
    runs ``run()``. The hub's ``name`` is the desktop's name (ServerInit's); ``rename`` changes
    it for every viewer."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._views: set[NoticeView] = set()
        #: The lock keys lit on the desktop; None until the source tells (or if it cannot).
        self.leds: LedState | None = None

    @property
    def name(self) -> str:
        return self._hub.name

    def join(self, view: NoticeView) -> None:
        self._views.add(view)

    def leave(self, view: NoticeView) -> None:
        self._views.discard(view)

    def rename(self, name: str) -> None:
        """The desktop has a new name: new viewers get it in ServerInit, the others in a
        DesktopName rectangle (those that list it)."""
        if name != self._hub.name:
            log.info("the desktop is now called %r", name)
            self._hub.name = name
            self._wake_all()

    async def run(self, follow_source_name: bool = True) -> None:
        """Follow the source's LEDs and bell, and its name unless ``follow_source_name`` is
        False (server.name set), for as long as the source can tell."""
        wait_for_keyboard = getattr(self._hub.source, "wait_for_keyboard", None)
        wait_for_name = getattr(self._hub.source, "wait_for_name", None)
        async with trio.open_nursery() as nursery:
            if wait_for_keyboard is not None:
                nursery.start_soon(self._follow, wait_for_keyboard, self._keyboard)
            if wait_for_name is not None and follow_source_name:
                nursery.start_soon(self._follow, wait_for_name, self.rename)

    @staticmethod
    async def _follow(wait: Callable[[], Awaitable[T]], apply: Callable[[T], None]) -> None:
        while True:
            apply(await wait())

    def _keyboard(self, news: KeyboardNews) -> None:
        if news.leds != self.leds:
            self.leds = news.leds
            self._wake_all()
        if news.bells:
            for view in self._views:
                view.ring()

    def _wake_all(self) -> None:
        for view in self._views:
            view.wakeup.set()
