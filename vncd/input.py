"""A viewer's keyboard and pointer reaching the desktop, and what it still holds."""

from __future__ import annotations

import logging

from .sources.base import Source

log = logging.getLogger(__name__)


class InputState:
    """Injects one viewer's input (never a view-only viewer's) and remembers the keys and
    buttons it holds, so that they can be released when it leaves."""

    def __init__(self, source: Source, peer: str) -> None:
        self.source = source
        self.peer = peer
        self.view_only = False
        self.held_keys: set[int] = set()
        self.pointer: tuple[int, int, int] = (0, 0, 0)  # x, y, button mask last injected

    def key(self, keysym: int, down: bool) -> None:
        if self.view_only:
            return
        if down:
            self.held_keys.add(keysym)
        else:
            self.held_keys.discard(keysym)
        self.source.inject_key(keysym, down)

    def pointer_event(self, x: int, y: int, mask: int) -> None:
        if self.view_only:
            return
        width, height = self.source.size
        self.pointer = (min(x, width - 1), min(y, height - 1), mask)
        self.source.inject_pointer(*self.pointer)

    def release(self) -> None:
        """Keys and buttons still held when the viewer leaves would stay down on the desktop."""
        try:
            for keysym in sorted(self.held_keys):
                self.source.inject_key(keysym, False)
            x, y, mask = self.pointer
            if mask:
                self.source.inject_pointer(x, y, 0)
        except Exception:  # the desktop may be gone already; nothing more to release
            log.exception("%s: releasing held keys and buttons failed", self.peer)
        self.held_keys.clear()
