"""The clipboard text a source's clipboard thread shares with the other threads."""

from __future__ import annotations

import threading


class SharedClipboardText:
    """Any thread reads ``text`` and ``serial``; ``set_text`` hands a viewer's text to the
    clipboard thread (``_wanted``) and wakes it, without waiting for it. A subclass makes
    ``_lock``, ``_text``, ``_serial`` and ``_wanted`` and says how its thread is woken."""

    _lock: threading.Lock
    _text: str
    _serial: int
    _wanted: str | None

    @property
    def serial(self) -> int:
        """Bumped each time the text changes (by ``set_text`` or on the desktop)."""
        with self._lock:
            return self._serial

    @property
    def text(self) -> str:
        """The clipboard text as last seen or set ("" until then)."""
        with self._lock:
            return self._text

    def set_text(self, text: str) -> None:
        """Make ``text`` the clipboard's: now for readers, soon (by the thread) the desktop's."""
        with self._lock:
            self._text = text
            self._serial += 1
            self._wanted = text
        self._wake()

    def _wake(self) -> None:
        raise NotImplementedError
