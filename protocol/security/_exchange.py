"""What the table-driven security handlers (VeNCrypt, Tight) share: a receive buffer, a
resumable reader per (side, phase) for what the peer says next, and the rule that an error
closes the exchange. A subclass supplies its readers, its transition check and its writer."""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator, Mapping
from typing import Any, ClassVar

from .._buffer import ReceiveBuffer
from .._common import NEED_DATA, NeedData, Role
from .._errors import LocalProtocolError, ProtocolError, RemoteProtocolError

#: A reader: yields how many bytes it needs next, is sent them, returns its event.
Reader = Generator[int, bytes, Any]

_PEER = {Role.SERVER: Role.CLIENT, Role.CLIENT: Role.SERVER}


class Exchange:
    """One side of a security exchange that runs inside the RFB handshake."""

    #: The exchange's name in error messages ("VeNCrypt", "Tight").
    NAME: ClassVar[str]
    #: (side, phase) → the reader of what the peer sends then; other phases wait.
    READERS: ClassVar[Mapping[tuple[Role, Any], Callable[[], Reader]]]
    #: The phase after an error: nothing more is read or may be sent.
    CLOSED: ClassVar[enum.Enum]
    #: The phases in which ``trailing_data`` may be taken.
    TRAILING: ClassVar[frozenset[enum.Enum]]

    def __init__(self, side: Role, phase: enum.Enum) -> None:
        self.side = side
        self.phase = phase
        self._buffer = ReceiveBuffer()
        self._reader: Reader | None = None
        self._need = 0

    def send(self, event: Any) -> bytes:
        self._apply(self.side, event, LocalProtocolError)
        return self._write(event)

    def receive_data(self, data: bytes) -> None:
        self._buffer.append(data)

    def next_event(self) -> Any | NeedData:
        if self._reader is None:
            start = self.READERS.get((self.side, self.phase))
            if start is None:
                return NEED_DATA
            self._reader = start()
            self._need = next(self._reader)
        try:
            while len(self._buffer) >= self._need:
                self._need = self._reader.send(self._buffer.take(self._need))
        except StopIteration as done:
            self._reader = None
            self._apply(_PEER[self.side], done.value, RemoteProtocolError)
            return done.value
        except RemoteProtocolError:
            self.phase = self.CLOSED
            raise
        return NEED_DATA

    def trailing_data(self) -> bytes:
        """What was received beyond the last event (in a ``TRAILING`` phase): the bytes of
        whatever comes next, TLS or RFB."""
        if self.phase not in self.TRAILING:
            raise LocalProtocolError(f"no trailing data during {self.NAME} {self.phase.name}")
        return self._buffer.take(len(self._buffer))

    def _apply(self, sender: Role, event: Any, error: type[ProtocolError]) -> None:
        """Move on if ``sender`` may say ``event`` now; after an error the exchange is
        CLOSED."""
        try:
            self._check(sender, event, error)
        except ProtocolError:
            self.phase = self.CLOSED
            raise

    def _check(self, sender: Role, event: Any, error: type[ProtocolError]) -> None:
        """Raise ``error`` if ``sender`` may not say ``event`` now, else move the phase on."""
        raise NotImplementedError

    def _write(self, event: Any) -> bytes:
        """The bytes of ``event``."""
        raise NotImplementedError
