"""The X keyboard's lock-key LEDs and bell, and its key names, from the XKEYBOARD extension,
awaited in the Trio thread.

python-xlib has no XKB binding, so the few requests used are declared here from the XKB
protocol specification (xkbproto, "Requests" and "Events"; field layouts as in xcb-proto's
xkb.xml). XKB requires UseExtension before any other of its requests, and a client that has
used it stops receiving some core MappingNotify events (the server leaves those to XKB's own
events): so it is done on a connection of its own, never the input connection, whose
keyboard follows MappingNotify.

One SelectEvents asks for IndicatorStateNotify, sent whenever a lit indicator changes, and
BellNotify, sent whenever any client rings the bell (a core Bell request included) — whether
or not the server has a speaker, so Xvfb reports bells too. Which indicator bits are Caps,
Num and Scroll Lock depends on the keymap: GetNamedIndicator finds them by name, as
TigerVNC's x0vncserver does.

Like the damage and cursor watchers, the watcher never blocks Trio: events are read as the
socket becomes readable (``trio.lowlevel.wait_readable``). Only the requests made once at
``open`` wait for their replies.
"""

from __future__ import annotations

import logging
import struct

import trio
import Xlib.display
import Xlib.error
from Xlib.protocol import rq

from protocol.encodings import LedState

from ._xconnection import close_watched, open_watched
from .base import KeyboardNews

log = logging.getLogger(__name__)

XKB_VERSION = (1, 0)
USE_CORE_KEYBOARD = 0x100  # XkbUseCoreKbd
DEFAULT_LED_CLASS = 0x300  # XkbDfltXIClass
DEFAULT_LED_ID = 0x400  # XkbDfltXIId
INDICATOR_STATE_NOTIFY = 4  # xkbType of the events (and their bit in SelectEvents' masks)
BELL_NOTIFY = 8
KEY_NAMES = 1 << 9  # GetNames' "which": the name of every key (4 bytes each)
#: The indicators viewers are told about, by the names xkeyboard-config gives them.
LED_NAMES = {
    LedState.SCROLL_LOCK: "Scroll Lock",
    LedState.NUM_LOCK: "Num Lock",
    LedState.CAPS_LOCK: "Caps Lock",
}
# IndicatorStateNotify after the event code, xkbType and sequence number: time, device,
# 3 pad bytes, the lit indicators.
_INDICATOR_STATE = struct.Struct("=4xB3xI")


class _UseExtension(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(0),
        rq.RequestLength(),
        rq.Card16("wanted_major"),
        rq.Card16("wanted_minor"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Bool("supported"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card16("server_major"),
        rq.Card16("server_minor"),
        rq.Pad(20),
    )


class _SelectEvents(rq.Request):
    """Events selected in ``select_all`` need no per-event details (the request's list of
    details covers only those in affect_which but in neither clear nor select_all)."""

    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(1),
        rq.RequestLength(),
        rq.Card16("device_spec"),
        rq.Card16("affect_which"),
        rq.Card16("clear"),
        rq.Card16("select_all"),
        rq.Card16("affect_map"),
        rq.Card16("map"),
    )


class _GetIndicatorState(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(12),
        rq.RequestLength(),
        rq.Card16("device_spec"),
        rq.Pad(2),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Card8("device_id"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("state"),
        rq.Pad(20),
    )


class _GetNamedIndicator(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(15),
        rq.RequestLength(),
        rq.Card16("device_spec"),
        rq.Card16("led_class"),
        rq.Card16("led_id"),
        rq.Pad(2),
        rq.Card32("indicator"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Card8("device_id"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("indicator"),
        rq.Bool("found"),
        rq.Bool("on"),
        rq.Bool("real_indicator"),
        rq.Card8("index"),
        rq.Pad(16),  # the indicator's map, and whether it is supported
    )


class _GetNames(rq.ReplyRequest):
    """Asked for the key names only, the value list is ``n_keys`` names of 4 bytes (NUL
    padded), for keycodes ``first_key`` on."""

    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(17),
        rq.RequestLength(),
        rq.Card16("device_spec"),
        rq.Pad(2),
        rq.Card32("which"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Card8("device_id"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("which"),
        rq.Card8("min_keycode"),
        rq.Card8("max_keycode"),
        rq.Card8("n_types"),
        rq.Card8("group_names"),
        rq.Card16("virtual_mods"),
        rq.Card8("first_key"),
        rq.Card8("n_keys"),
        rq.Card32("indicators"),
        rq.Card8("n_radio_groups"),
        rq.Card8("n_key_aliases"),
        rq.Card16("n_kt_levels"),
        rq.Pad(4),
        rq.Binary("values"),
    )


class XkbWatcher:
    """Reports the lock-key LEDs and the bell of one X display, and knows its key names;
    see the module docstring. Open it with ``XkbWatcher.open``; use and close it in the Trio
    thread."""

    def __init__(self, x: Xlib.display.Display, opcode: int, first_event: int) -> None:
        """Take over ``x``, on which UseExtension succeeded; XKB has the major ``opcode`` and
        sends its events with the code ``first_event``."""
        self._x = x
        x.set_error_handler(self._log_x_error)
        self._opcode = opcode
        self._event = first_event
        selected = 1 << INDICATOR_STATE_NOTIFY | 1 << BELL_NOTIFY
        _SelectEvents(
            display=x.display,
            opcode=self._opcode,
            device_spec=USE_CORE_KEYBOARD,
            affect_which=selected,
            clear=0,
            select_all=selected,
            affect_map=0,
            map=0,
        )
        self._masks = self._indicator_masks()
        state = _GetIndicatorState(
            display=x.display, opcode=self._opcode, device_spec=USE_CORE_KEYBOARD
        ).state
        self._leds = self._lit(state)
        self._reported: LedState | None = None  # what the last ``wait`` said (None: nothing)
        self._bells = 0
        #: keycode → the XKB name of its key ("AC01", "UP", …), read once at open.
        self.key_names = self._key_names()

    @classmethod
    def open(cls, display_name: str) -> XkbWatcher | None:
        """A watcher on a new connection; None if the server lacks XKEYBOARD 1.0 (viewers
        are then told no LED state and no bell). Raises SourceError if it cannot connect."""
        return open_watched(display_name, cls._start)

    @classmethod
    def _start(cls, x: Xlib.display.Display) -> XkbWatcher | None:
        # python-xlib's has_extension knows only the extensions it has modules for.
        extension = x.query_extension("XKEYBOARD")
        major, minor = XKB_VERSION
        if (
            extension is None
            or not _UseExtension(
                display=x.display,
                opcode=extension.major_opcode,
                wanted_major=major,
                wanted_minor=minor,
            ).supported
        ):
            return None
        return cls(x, extension.major_opcode, extension.first_event)

    def _log_x_error(self, error: Xlib.error.XError, request: object) -> None:
        log.warning("X server reported %s to the keyboard watcher", error)

    def _indicator_masks(self) -> dict[LedState, int]:
        """The indicator bit of each lock key the keymap names (keymaps may lack some)."""
        masks = {}
        for led, name in LED_NAMES.items():
            atom = self._x.get_atom(name, only_if_exists=True)
            if not atom:
                continue
            reply = _GetNamedIndicator(
                display=self._x.display,
                opcode=self._opcode,
                device_spec=USE_CORE_KEYBOARD,
                led_class=DEFAULT_LED_CLASS,
                led_id=DEFAULT_LED_ID,
                indicator=atom,
            )
            if reply.found:
                masks[led] = 1 << reply.index
        return masks

    def _lit(self, state: int) -> LedState:
        """The lock keys lit in an XKB indicator state."""
        return LedState(sum(led for led, mask in self._masks.items() if state & mask))

    def _key_names(self) -> dict[int, str]:
        reply = _GetNames(
            display=self._x.display,
            opcode=self._opcode,
            device_spec=USE_CORE_KEYBOARD,
            which=KEY_NAMES,
        )
        names = {}
        for index in range(reply.n_keys):
            name = reply.values[4 * index : 4 * index + 4].rstrip(b"\0")
            if name:
                names[reply.first_key + index] = name.decode("latin-1")
        return names

    async def wait(self) -> KeyboardNews:
        """See ``sources.base.ReportsKeyboard``: the first call returns the LEDs lit now;
        later ones wait until they change or the bell rings."""
        await trio.lowlevel.checkpoint()
        while True:
            self._take_events()
            if self._leds != self._reported or self._bells:
                news = KeyboardNews(self._leds, self._bells)
                self._reported, self._bells = self._leds, 0
                return news
            await trio.lowlevel.wait_readable(self._x.fileno())
            self._x.pending_events()  # one read and parse of what has arrived

    def _take_events(self) -> None:
        """Pop the events read so far: XKB's carry their kind in the byte python-xlib calls
        ``detail``. Other events (MappingNotify goes to every client) are dropped."""
        for _ in range(self._x.pending_events()):
            event = self._x.next_event()
            if event.type != self._event:
                continue
            if event.detail == INDICATOR_STATE_NOTIFY:
                _, state = _INDICATOR_STATE.unpack_from(event.data)
                self._leds = self._lit(state)
            elif event.detail == BELL_NOTIFY:
                self._bells += 1

    def close(self) -> None:
        """Close the connection (which ends the selection in the server)."""
        close_watched(self._x)
