"""ServerConnection and ClientConnection: an RFB conversation without I/O (h11's shape).

Feed bytes with ``receive_data``, pull events with ``next_event`` until it returns
``NEED_DATA``, and turn events into bytes with ``send``. Which events are legal when lives in
``_state.TRANSITIONS``; byte layouts live in ``_wire``. This module only drives readers over
the receive buffer and keeps the books.

Oversized cut text (over ``max_cut_text``, under 2 GiB) is read in bounded chunks, dropped,
and counted in ``statistics().cut_text_skipped`` rather than raised: an over-eager clipboard is
no reason to drop a viewer. A length of 2 GiB or more is the extended form (a negative S32),
an error unless the Extended Clipboard pseudo-encoding was negotiated. An Extended Clipboard
Provide too large on the wire or inflated (over ``max_clipboard``) is counted too, and arrives
as ``ClipboardDropped`` for the caller to log.

``send(ConnectionClosed())`` (normal phase, or after the handshake ended) returns ``b""`` and
records that we are closing; the peer's EOF is ``ConnectionClosed`` from ``next_event``.
Bytes the peer sends before its turn (a client pipelining after ClientInit) wait in the
buffer until the phase lets it speak.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import attrs

from ._buffer import ReceiveBuffer
from ._common import NEED_DATA, _Sentinel
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import ClipboardDropped, ConnectionClosed, Event, FramebufferUpdate
from ._framebuffer import Framebuffer
from ._pixelformat import PixelFormat
from ._state import IllegalTransition, Phase, Role, State, Version, advance, after_security_type
from ._wire import (
    DEFAULT_MAX_CLIPBOARD,
    DEFAULT_MAX_CUT_TEXT,
    DEFAULT_MAX_ENCODINGS,
    DEFAULT_MAX_REASON,
    ClientContext,
    Limits,
    Reader,
    Skipped,
    UpdateContext,
    read_after_close,
    read_client_init,
    read_client_message,
    read_protocol_version,
    read_security_result,
    read_security_type_chosen,
    read_security_types,
    read_server_init,
    read_server_message,
    read_vnc_auth_challenge,
    read_vnc_auth_response,
    write,
)
from .encodings import Decoder, make_decoder
from .security import SecurityType


@attrs.frozen(slots=True)
class ConnectionStatistics:
    """Counters for ``/metrics``; a snapshot, like Trio's ``statistics()``."""

    phase: Phase
    bytes_received: int
    bytes_sent: int
    messages_received: int
    messages_sent: int
    cut_text_skipped: int


class _Connection:
    """What both ends share; a subclass names its role and how to read its peer per phase."""

    role: ClassVar[Role]
    _peer: ClassVar[Role]
    #: Phase → the reader for what the peer may send then. A phase missing here is our turn:
    #: bytes the peer sent early (pipelined) wait in the buffer until it is theirs.
    _READERS: ClassVar[Mapping[Phase, Callable[[Any], Reader[Event | Skipped]]]]

    def __init__(
        self,
        *,
        max_cut_text: int = DEFAULT_MAX_CUT_TEXT,
        max_encodings: int = DEFAULT_MAX_ENCODINGS,
        max_reason: int = DEFAULT_MAX_REASON,
        max_clipboard: int = DEFAULT_MAX_CLIPBOARD,
    ) -> None:
        self._limits = Limits(max_cut_text, max_encodings, max_reason, max_clipboard)
        self._state = State()
        self._buffer = ReceiveBuffer()
        self._eof = False
        self._reader: Reader[Event | Skipped] | None = None
        self._need = 0
        #: Why the connection died, as text: the error object would keep its traceback, whose
        #: frames hold this connection and the caller's objects in a reference cycle.
        self._error: str | None = None
        self._bytes_received = 0
        self._bytes_sent = 0
        self._messages_received = 0
        self._messages_sent = 0
        self._cut_text_skipped = 0

    @property
    def phase(self) -> Phase:
        return self._state.phase

    @property
    def version(self) -> Version | None:
        """The negotiated (major, minor): (3, 3), (3, 7) or (3, 8); None until the client's
        ProtocolVersion."""
        return self._state.version

    @property
    def pixel_format(self) -> PixelFormat | None:
        """The format of pixels on the wire: from ServerInit, then each SetPixelFormat."""
        return self._state.pixel_format

    @property
    def framebuffer_size(self) -> tuple[int, int] | None:
        """(width, height) from ServerInit, then DesktopSize/ExtendedDesktopSize rectangles."""
        return self._state.size

    @property
    def extended_clipboard(self) -> bool:
        """The client advertised the Extended Clipboard: the ``protocol.clipboard`` events
        may be sent. Whether the peer's ClipboardCaps allow an action is the caller's check
        (a client should wait for the server's caps, as noVNC and TigerVNC do)."""
        return self._state.extended_clipboard

    @property
    def extended_mouse_buttons(self) -> bool:
        """The server confirmed ExtendedMouseButtons: masks may use bits 8-14."""
        return self._state.extended_mouse_buttons

    @property
    def qemu_extended_key_events(self) -> bool:
        """The server confirmed QEMU Extended Key Events: the client may send them."""
        return self._state.qemu_extended_key_events

    def statistics(self) -> ConnectionStatistics:
        return ConnectionStatistics(
            phase=self.phase,
            bytes_received=self._bytes_received,
            bytes_sent=self._bytes_sent,
            messages_received=self._messages_received,
            messages_sent=self._messages_sent,
            cut_text_skipped=self._cut_text_skipped,
        )

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed the stream."""
        self._check_alive()
        if not data:
            self._eof = True
            return
        if self._eof:
            raise self._fail(LocalProtocolError("data received after EOF"))
        self._buffer.append(data)
        self._bytes_received += len(data)

    def next_event(self) -> Event | Literal[_Sentinel.NEED_DATA]:
        """The next complete event from the peer, or ``NEED_DATA``."""
        self._check_alive()
        try:
            return self._next_event()
        except RemoteProtocolError as error:
            self._fail(error)
            raise

    def send(self, event: Event) -> bytes:
        """The bytes that say ``event``; LocalProtocolError if it is not ours to say now."""
        self._check_alive()
        try:
            state = advance(self.role, self._state, event)
            data = write(event, self._state, self.role)
        except IllegalTransition as error:
            raise self._fail(LocalProtocolError(str(error))) from None
        except ValueError as error:
            raise self._fail(
                LocalProtocolError(f"cannot send {type(event).__name__}: {error}")
            ) from error
        self._state = state
        self._bytes_sent += len(data)
        self._messages_sent += 1
        return data

    def hand_over(self) -> bytes:
        """During ``SECURITY_HANDLER``: the bytes received so far, which are the handler's
        (see ``protocol.security``); from now on feed the handler until it is done."""
        if self._state.phase is not Phase.SECURITY_HANDLER:
            raise LocalProtocolError(f"nothing to hand over during {self.phase.name}")
        return self._buffer.take(len(self._buffer))

    def security_handled(self, trailing_data: bytes = b"", *, like_none: bool = False) -> None:
        """The security handler is done: SecurityResult comes next, and ``trailing_data``
        (what the handler received beyond its last message) is the peer's. ``like_none``:
        it ended in security type None (Tight without authentication), which has no
        SecurityResult before 3.8 (7.2.1)."""
        if self._state.phase is not Phase.SECURITY_HANDLER:
            raise LocalProtocolError(f"no security handler runs during {self.phase.name}")
        phase = Phase.SECURITY_RESULT
        if like_none:
            assert self._state.version is not None  # a type was chosen, so versions came first
            phase = after_security_type(SecurityType.NONE, self._state.version)
        self._state = attrs.evolve(self._state, phase=phase)
        if trailing_data:
            self.receive_data(trailing_data)

    def _next_event(self) -> Event | Literal[_Sentinel.NEED_DATA]:
        while True:
            if self._reader is None:
                start = self._READERS.get(self._state.phase)
                if not self._buffer or start is None:
                    return self._closed() if self._eof else NEED_DATA
                self._reader = start(self)
                self._need = next(self._reader)
            result = self._resume()
            if result is NEED_DATA:
                if self._eof:
                    raise RemoteProtocolError(
                        f"connection closed in the middle of a message during {self.phase.name}"
                    )
                return NEED_DATA
            if isinstance(result, Skipped):
                self._cut_text_skipped += 1
                continue
            if isinstance(result, ClipboardDropped):
                self._cut_text_skipped += 1
            try:
                self._state = advance(self._peer, self._state, result)
            except IllegalTransition as error:
                raise RemoteProtocolError(str(error)) from None
            self._messages_received += 1
            return result

    def _resume(self) -> Event | Skipped | Literal[_Sentinel.NEED_DATA]:
        """Feed the current reader while the buffer holds what it asks for."""
        assert self._reader is not None
        try:
            while len(self._buffer) >= self._need:
                self._need = self._reader.send(self._buffer.take(self._need))
        except StopIteration as done:
            self._reader = None
            return done.value
        return NEED_DATA

    def _closed(self) -> ConnectionClosed:
        """The peer's EOF between messages: fine where the table allows ConnectionClosed."""
        event = ConnectionClosed()
        try:
            self._state = advance(self._peer, self._state, event)
        except IllegalTransition:
            raise RemoteProtocolError(f"connection closed during {self.phase.name}") from None
        return event

    def _check_alive(self) -> None:
        if self._error is not None:
            raise LocalProtocolError(f"connection is dead after {self._error}")

    def _fail(self, error: ProtocolError) -> ProtocolError:
        self._error = f"{type(error).__name__}: {error}"
        self._state = attrs.evolve(self._state, phase=Phase.ERROR)
        return error


class ServerConnection(_Connection):
    """The server's end: sends the handshake's server half and 7.6 messages, parses 7.5."""

    role = Role.SERVER
    _peer = Role.CLIENT
    _READERS: ClassVar[Mapping[Phase, Callable[[ServerConnection], Reader[Event | Skipped]]]] = {
        Phase.CLIENT_VERSION: lambda conn: read_protocol_version(),
        Phase.SECURITY_TYPE_CHOICE: lambda conn: read_security_type_chosen(),
        Phase.VNC_AUTH_RESPONSE: lambda conn: read_vnc_auth_response(),
        Phase.CLIENT_INIT: lambda conn: read_client_init(),
        Phase.NORMAL: lambda conn: read_client_message(conn._client_context()),
        Phase.CLOSED: lambda conn: read_after_close(),
    }

    def _client_context(self) -> ClientContext:
        state = self._state
        return ClientContext(self._limits, state.extended_clipboard, state.extended_mouse_buttons)


class ClientConnection(_Connection):
    """The viewer's end: parses the server's messages, decoding rectangle payloads with one
    decoder per encoding, kept for the whole connection (zlib streams span updates)."""

    role = Role.CLIENT
    _peer = Role.SERVER
    _READERS: ClassVar[Mapping[Phase, Callable[[ClientConnection], Reader[Event | Skipped]]]] = {
        Phase.SERVER_VERSION: lambda conn: read_protocol_version(),
        Phase.SECURITY_TYPES: lambda conn: read_security_types(conn._version(), conn._limits),
        Phase.VNC_AUTH_CHALLENGE: lambda conn: read_vnc_auth_challenge(),
        Phase.SECURITY_RESULT: lambda conn: read_security_result(conn._version(), conn._limits),
        Phase.SERVER_INIT: lambda conn: read_server_init(
            conn._limits, conn._state.security_type == SecurityType.TIGHT
        ),
        Phase.NORMAL: lambda conn: read_server_message(conn._update_context()),
        Phase.CLOSED: lambda conn: read_after_close(),
    }

    def __init__(
        self,
        *,
        max_cut_text: int = DEFAULT_MAX_CUT_TEXT,
        max_encodings: int = DEFAULT_MAX_ENCODINGS,
        max_reason: int = DEFAULT_MAX_REASON,
        max_clipboard: int = DEFAULT_MAX_CLIPBOARD,
    ) -> None:
        super().__init__(
            max_cut_text=max_cut_text,
            max_encodings=max_encodings,
            max_reason=max_reason,
            max_clipboard=max_clipboard,
        )
        self._decoders: dict[int, Decoder] = {}

    def apply_update(self, update: FramebufferUpdate, framebuffer: Framebuffer) -> None:
        """Draw a received update into ``framebuffer``. Decoder state carries over between
        updates, so apply every update, in the order received."""
        self._check_alive()
        pixel_format = self._state.pixel_format
        assert pixel_format is not None, "updates arrive only after ServerInit"
        try:
            for rectangle in update.rectangles:
                self._decoder(rectangle.encoding).decode(rectangle, pixel_format, framebuffer)
        except RemoteProtocolError as error:
            self._fail(error)
            raise

    def _decoder(self, encoding: int) -> Decoder:
        decoder = self._decoders.get(encoding)
        if decoder is None:
            try:
                decoder = make_decoder(encoding)
            except KeyError:
                raise RemoteProtocolError(
                    f"unknown encoding {encoding} in a FramebufferUpdate"
                ) from None
            self._decoders[encoding] = decoder
        return decoder

    def _version(self) -> Version:
        assert self._state.version is not None, "the table puts versions first"
        return self._state.version

    def _update_context(self) -> UpdateContext:
        state = self._state
        assert state.pixel_format is not None and state.size is not None
        return UpdateContext(
            self._limits, state.pixel_format, state.size, self._decoder, state.extended_clipboard
        )
