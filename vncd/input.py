"""A viewer's keyboard and pointer reaching the desktop, and what it still holds."""

from __future__ import annotations

import logging

import trio

from .policy import InputControl
from .sources.base import Source

log = logging.getLogger(__name__)


class InputState:
    """One viewer's gate to the desktop: injects its keys and pointer when it may drive
    (never when view-only; under single-controller only while it has control, see
    vncd.policy), says whether its clipboard text may go through, and remembers the keys
    and buttons it holds, so that they can be let go when it leaves or loses control."""

    def __init__(self, source: Source, peer: str, control: InputControl[InputState]) -> None:
        self.source = source
        self.peer = peer
        self.control = control
        self.view_only = False
        self.held_keys: set[int] = set()
        self.held_scancodes: dict[int, int] = {}  # pressed by position: scancode → keysym
        self._inject_keycode = getattr(source, "inject_keycode", None)  # InjectsKeycodes
        self.pointer: tuple[int, int, int] = (0, 0, 0)  # x, y, button mask last injected
        self.ignored = False  # the last keyboard or pointer input was ignored (for the log)

    def drives(self) -> bool:
        """Whether this viewer's keyboard and pointer input reaches the desktop now; under
        single-controller, sending it may take control."""
        if self.view_only:
            return False
        claim = self.control.claim(self, trio.current_time())
        if claim.displaced is not None:
            log.info("%s: takes control from idle %s", self.peer, claim.displaced.peer)
            claim.displaced.release()
        elif claim.taken:
            log.info("%s: takes control of the keyboard and pointer", self.peer)
        if not claim.granted and not self.ignored:
            holder = self.control.controller
            log.info("%s: input ignored: %s has control", self.peer, holder and holder.peer)
        self.ignored = not claim.granted
        return claim.granted

    def may_set_clipboard(self) -> bool:
        """Clipboard text goes to the desktop from a viewer that may drive (it does not take
        control: viewers send their clipboard on their own)."""
        return not self.view_only and self.control.allows(self, trio.current_time())

    def key(self, keysym: int, down: bool) -> None:
        if self.drives():
            self._press(keysym, down)

    def qemu_key(self, keysym: int, scancode: int, down: bool) -> None:
        """A QEMU Extended Key Event: the key at XT ``scancode`` where the source presses keys
        by position (the desktop's layout then decides what it types), else ``keysym``."""
        if not self.drives():
            return
        inject = self._inject_keycode
        if scancode and inject is not None and inject(scancode, keysym, down):
            if down:
                self.held_scancodes[scancode] = keysym
            else:
                self.held_scancodes.pop(scancode, None)
            return
        self._press(keysym, down)

    def _press(self, keysym: int, down: bool) -> None:
        if down:
            self.held_keys.add(keysym)
        else:
            self.held_keys.discard(keysym)
        self.source.inject_key(keysym, down)

    def pointer_event(self, x: int, y: int, mask: int) -> bool:
        """Inject a pointer event (clipped to the desktop); returns whether it was."""
        if not self.drives():
            return False
        width, height = self.source.size
        self.pointer = (min(x, width - 1), min(y, height - 1), mask)
        self.source.inject_pointer(*self.pointer)
        return True

    def release(self) -> None:
        """Keys and buttons still held when the viewer leaves or loses control would stay
        down on the desktop; a viewer that leaves gives up control."""
        self.control.leave(self)
        try:
            for keysym in sorted(self.held_keys):
                self.source.inject_key(keysym, False)
            for scancode, keysym in sorted(self.held_scancodes.items()):
                self._inject_keycode(scancode, keysym, False)
            x, y, mask = self.pointer
            if mask:
                self.source.inject_pointer(x, y, 0)
                self.pointer = (x, y, 0)
        except Exception:  # the desktop may be gone already; nothing more to release
            log.exception("%s: releasing held keys and buttons failed", self.peer)
        self.held_keys.clear()
        self.held_scancodes.clear()
