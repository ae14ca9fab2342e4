"""Typing on an X display with XTest: keysyms through the current layout, and keys by
position (QEMU Extended Key Events' scancodes) through the X keycodes of XKB's evdev rules.

Keysyms are what plain RFB key events carry (rfbproto 7.5.4): the keyboard finds a keycode and
shift level that type each, as x11vnc and x0vncserver do. A scancode names a key, not what it
types: pressing its keycode lets the desktop's own layout decide (the key labelled Y on a US
keyboard types "z" on a German desktop), which is what a user of a non-US layout wants and
what keysyms cannot give for dead keys or AltGr combinations. Where the key carries the keysym
sent with it, both layouts agree on the key and the keysym is typed (``press_position``). X does
not say how its keycodes are numbered, so the names XKB gives a few keys
(``x11_xkb.XkbWatcher.key_names``) are checked against evdev's numbering first; where they
disagree, keys go by keysym only.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping

import Xlib.display
from Xlib import X
from Xlib.ext import xtest

from .. import keysyms, scancodes

log = logging.getLogger(__name__)

SPARE_KEYCODES = 16  # at most this many unused keycodes are borrowed for unmapped keysyms
LAST_KEYSYM = 0x1FFFFFFF  # keysyms are 29-bit values (X11 protocol, section 5 "Keysyms")
#: X keycode = evdev code + 8 under XKB's evdev rules (xkeyboard-config keycodes/evdev).
EVDEV_OFFSET = 8
#: (evdev code, XKB key name) of keys whose X keycode tells evdev's numbering apart from the
#: older "xfree86" one, which agrees on the letters (AD01 is 24 in both) but not on these.
EVDEV_PROBES = ((16, "AD01"), (30, "AC01"), (96, "KPEN"), (97, "RCTL"), (103, "UP"), (125, "LWIN"))


def evdev_numbered(key_names: Mapping[int, str]) -> bool:
    """Whether a display whose keycodes have ``key_names`` numbers its keys evdev + 8."""
    return all(key_names.get(code + EVDEV_OFFSET) == name for code, name in EVDEV_PROBES)


class Keyboard:
    """Types keysyms with XTest: finds the keycode and shift level for each, and borrows a
    spare keycode (one without keysyms) for keysyms the layout lacks, reusing the least
    recently used one when all are taken. Presses keys by position too (``press_position``)
    where the display's keycodes are evdev's."""

    def __init__(
        self, x: Xlib.display.Display, spare_keycodes: int, key_names: Mapping[int, str]
    ) -> None:
        """``key_names``: keycode → XKB key name (empty if unknown: keys by keysym only)."""
        self._x = x
        first, last = x.display.info.min_keycode, x.display.info.max_keycode
        self._keycodes = range(first, last + 1)
        rows = x.get_keyboard_mapping(first, last - first + 1)
        empty = [keycode for keycode, row in enumerate(rows, first) if not any(row)]
        self._spare = empty[len(empty) - spare_keycodes :] if spare_keycodes else []
        self._borrowed: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._pressed: dict[int, int] = {}  # keysym → the keycode we pressed for it
        self._client_shift: set[int] = set()  # Shift keysyms the viewer holds down
        self._held: set[int] = set()  # keycodes pressed by position
        self._shifts = self._shift_keycodes()
        #: Keys may be pressed by position: the display numbers them as evdev does.
        self.by_position = evdev_numbered(key_names)
        log.info(
            "keys named by position (QEMU Extended Key Events) are pressed %s",
            "by position" if self.by_position else "by keysym: the X keycodes are not evdev's",
        )
        self.bound = 0
        self.dropped = 0

    def _shift_keycodes(self) -> list[int]:
        return [code for code in self._x.get_modifier_mapping()[X.ShiftMapIndex] if code]

    @property
    def _shift(self) -> int | None:
        return self._shifts[0] if self._shifts else None

    def _follow_mapping_changes(self) -> None:
        """Apply MappingNotify events (sent to every client) so a new layout is honoured."""
        while self._x.pending_events():
            event = self._x.next_event()
            if event.type != X.MappingNotify:
                continue
            if event.request == X.MappingKeyboard:
                self._x.refresh_keyboard_mapping(event)
            elif event.request == X.MappingModifier:
                self._shifts = self._shift_keycodes()

    def _find(self, keysym: int) -> tuple[int, int] | None:
        """(keycode, level) with level 0 (plain) or 1 (Shift) in the first group."""
        if keysym in self._borrowed:
            self._borrowed.move_to_end(keysym)
            return self._borrowed[keysym], 0
        for keycode, level in self._x.keysym_to_keycodes(keysym):
            if level == 0 or (level == 1 and self._shift is not None):
                return keycode, level
        return None

    def _borrow(self, keysym: int) -> int | None:
        """Bind ``keysym`` to a spare keycode; None if every spare keycode is held down."""
        taken = set(self._borrowed.values())
        free = [keycode for keycode in self._spare if keycode not in taken]
        if free:
            keycode = free[0]
        else:
            held = set(self._pressed.values())
            victim = next((sym for sym, code in self._borrowed.items() if code not in held), None)
            if victim is None:
                return None
            keycode = self._borrowed.pop(victim)
        # Same keysym on both levels, so a held Shift cannot change what the key types.
        self._x.change_keyboard_mapping(keycode, [(keysym, keysym)])
        self._borrowed[keysym] = keycode
        self.bound += 1
        # The round trip brings our own MappingNotify, refreshing the cached keymap.
        self._x.sync()
        self._follow_mapping_changes()
        return keycode

    def key(self, keysym: int, down: bool) -> None:
        self._follow_mapping_changes()
        if keysym in keysyms.SHIFT_KEYSYMS:
            (self._client_shift.add if down else self._client_shift.discard)(keysym)
        if not down:
            keycode = self._pressed.pop(keysym, None)
            if keycode is None and (found := self._find(keysym)) is not None:
                keycode = found[0]
            if keycode is not None:
                xtest.fake_input(self._x, X.KeyRelease, keycode)
            return
        found = self._find(keysym)
        if found is None:
            keycode = self._borrow(keysym) if 0 < keysym <= LAST_KEYSYM else None
            if keycode is None:
                self.dropped += 1
                log.debug("cannot type keysym %s", keysyms.keysym_name(keysym))
                return
            found = keycode, 0
        keycode, level = found
        add_shift = level == 1 and not self._client_shift and self._held.isdisjoint(self._shifts)
        if add_shift:
            xtest.fake_input(self._x, X.KeyPress, self._shift)
        xtest.fake_input(self._x, X.KeyPress, keycode)
        if add_shift:
            xtest.fake_input(self._x, X.KeyRelease, self._shift)
        self._pressed[keysym] = keycode

    def press_position(self, scancode: int, keysym: int, down: bool) -> bool:
        """Press or release the key at XT ``scancode`` (``vncd.scancodes``) by its X keycode,
        so that the display's layout decides what it types. False, having done nothing (the
        caller types ``keysym``), if the display's keycodes are not evdev's, the scancode
        names no key it has, or that key carries ``keysym``: then both layouts agree on the
        key, and the keysym also says its case, which a viewer that sends no Shift of its
        own (synthetic input: test drivers, on-screen keyboards) cannot say otherwise. A key
        pressed by position is released by position."""
        evdev = scancodes.evdev_code(scancode)
        if not self.by_position or evdev is None:
            return False
        keycode = evdev + EVDEV_OFFSET
        if keycode not in self._keycodes:
            return False
        if not down:
            if keycode not in self._held:
                return False  # pressed by keysym: released so too
            self._held.discard(keycode)
            xtest.fake_input(self._x, X.KeyRelease, keycode)
            return True
        self._follow_mapping_changes()
        if keycode in self._carrying(keysym):
            return False
        self._held.add(keycode)
        xtest.fake_input(self._x, X.KeyPress, keycode)
        return True

    def _carrying(self, keysym: int) -> set[int]:
        """The keycodes whose keys carry ``keysym``, at any level or group."""
        return {keycode for keycode, _ in self._x.keysym_to_keycodes(keysym)} if keysym else set()

    def release_all(self) -> None:
        """Release what we hold and give the borrowed keycodes back (they had no keysyms)."""
        for keycode in set(self._pressed.values()) | self._held:
            xtest.fake_input(self._x, X.KeyRelease, keycode)
        self._pressed.clear()
        self._held.clear()
        for keycode in self._borrowed.values():
            self._x.change_keyboard_mapping(keycode, [(X.NoSymbol, X.NoSymbol)])
        self._borrowed.clear()
