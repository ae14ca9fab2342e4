"""A ServerConnection and a ClientConnection talk to each other under Hypothesis' control.

Rules take the handshake down every path (versions, security types, passwords, refusals), then
exchange normal-phase messages both ways, with the bytes cut at random points. Other rules
inject garbage, send out of turn or close. Whatever happens:

- what one side sends, the other reads back exactly, and both agree on phase, version, pixel
  format and framebuffer size;
- garbage yields only events or RemoteProtocolError;
- replaying a connection's history with every received byte fed on its own gives the same
  events and the same error (the readers resume anywhere).

Fast by default; ``FUZZ_EXAMPLES=20000 python -m pytest fuzz/`` runs it long. The message
strategies come from tests/protocol (run from the repository root, as ``python -m pytest``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from protocol import (
    BGRX,
    ClientConnection,
    ClientInit,
    ConnectionClosed,
    Event,
    HandshakeFailed,
    LocalProtocolError,
    Phase,
    ProtocolVersion,
    RemoteProtocolError,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerConnection,
    ServerInit,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import SecurityType
from protocol.security.vncauth import check_response, encrypt_challenge
from tests.protocol.messages import (
    CLIENT_TYPES,
    SERVER_TYPES,
    Connection,
    client_messages,
    drain,
    garbage,
    server_messages,
)
from tests.protocol.roundtrip import split
from tests.protocol.strategies import pixel_formats

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
PASSWORD = "pa55word"
IMPLEMENTED = {SecurityType.NONE, SecurityType.VNC_AUTH}
#: Phases in which the server speaks; in the other handshake phases the client does.
SERVER_TURNS = {
    Phase.SERVER_VERSION,
    Phase.SECURITY_TYPES,
    Phase.VNC_AUTH_CHALLENGE,
    Phase.SECURITY_RESULT,
    Phase.SERVER_INIT,
}
HANDSHAKE = SERVER_TURNS | {
    Phase.CLIENT_VERSION,
    Phase.SECURITY_TYPE_CHOICE,
    Phase.VNC_AUTH_RESPONSE,
    Phase.CLIENT_INIT,
}
cuts = st.lists(st.integers(0, 1 << 16), max_size=4)


@attrs.define
class Recorder:
    """A connection plus its history, so the history can be replayed byte by byte."""

    conn: Connection
    make: Callable[[], Connection]
    actions: list[tuple[str, object]] = attrs.Factory(list)
    events: list[Event] = attrs.Factory(list)
    error: str | None = None

    def send(self, event: Event) -> bytes:
        data = self.conn.send(event)
        self.actions.append(("send", event))
        return data

    def receive(self, chunk: bytes) -> list[Event]:
        self.actions.append(("receive", chunk))
        events: list[Event] = []
        try:
            drain(self.conn, chunk, events)
        except RemoteProtocolError as error:
            self.error = str(error)
            raise
        finally:
            self.events += events
        return events

    def check_replay(self) -> None:
        fresh, error = self.make(), None
        events: list[Event] = []
        try:
            for kind, value in self.actions:
                if kind == "send":
                    fresh.send(value)
                    continue
                assert isinstance(value, bytes)
                pieces = [value[i : i + 1] for i in range(len(value))] or [b""]
                for piece in pieces:
                    drain(fresh, piece, events)
        except RemoteProtocolError as raised:
            error = str(raised)
        assert (events, error) == (self.events, self.error)


class Conversation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.start()

    def start(self) -> None:
        self.server = Recorder(ServerConnection(), ServerConnection)
        self.client = Recorder(ClientConnection(), ClientConnection)
        self.offer: tuple[int, ...] = ()
        self.challenge = b""
        self.response = b""

    def restart(self) -> None:
        self.server.check_replay()
        self.client.check_replay()
        self.start()

    @initialize(chaos_at=st.sampled_from(list(Phase)))
    def pick_chaos_phase(self, chaos_at: Phase) -> None:
        """Garbage, out-of-turn sends and closes happen in one phase per example, so that the
        other rules get through the handshake instead of restarting at every step."""
        self.chaos_at = chaos_at

    def chaos(self) -> bool:
        return self.phase is self.chaos_at

    @property
    def phase(self) -> Phase:
        return self.server.conn.phase

    def deliver(self, sender: Recorder, receiver: Recorder, event: Event, at: list[int]) -> None:
        """Send ``event`` and feed its bytes to the peer in pieces; it must read it back."""
        received = []
        for piece in split(sender.send(event), at):
            received += receiver.receive(piece)
        assert received == [event]

    def server_says(self, event: Event, at: list[int]) -> None:
        self.deliver(self.server, self.client, event, at)

    def client_says(self, event: Event, at: list[int]) -> None:
        self.deliver(self.client, self.server, event, at)

    @invariant()
    def both_ends_agree(self) -> None:
        server, client = self.server.conn, self.client.conn
        assert server.phase is client.phase
        assert server.version == client.version
        assert server.pixel_format == client.pixel_format
        assert server.framebuffer_size == client.framebuffer_size

    # --- Handshake (rfbproto 7.1-7.3) --------------------------------------------------------

    @precondition(lambda self: self.phase is Phase.SERVER_VERSION)
    @rule(version=st.sampled_from([(3, 3), (3, 7), (3, 8)]), at=cuts)
    def server_version(self, version: tuple[int, int], at: list[int]) -> None:
        self.server_says(ProtocolVersion(*version), at)

    @precondition(lambda self: self.phase is Phase.CLIENT_VERSION)
    @rule(version=st.sampled_from([(3, 3), (3, 5), (3, 7), (3, 8), (3, 889), (4, 0)]), at=cuts)
    def client_version(self, version: tuple[int, int], at: list[int]) -> None:
        self.client_says(ProtocolVersion(*version), at)
        assert self.server.conn.version in {(3, 3), (3, 7), (3, 8)}

    @precondition(lambda self: self.phase is Phase.SECURITY_TYPES)
    @rule(data=st.data(), at=cuts)
    def security_types(self, data: st.DataObject, at: list[int]) -> None:
        if data.draw(st.integers(0, 9)) == 0:  # now and then, refuse instead (7.1.2)
            self.server_says(HandshakeFailed(data.draw(st.text(max_size=20))), at)
            assert self.phase is Phase.CLOSED
            return
        if self.server.conn.version == (3, 3):
            offer = data.draw(st.sampled_from([(1,), (2,)]))
        else:
            # None, VNC auth, and types this machine cannot continue with: unassigned numbers.
            # Types with a handler of their own (VeNCrypt, RSA-AES, Tight) pause the
            # connection for it and are tested in tests/protocol and fuzz/cov.
            offer = data.draw(st.lists(st.sampled_from([1, 2, 30, 31]), min_size=1, max_size=4))
        self.offer = tuple(offer)
        self.server_says(SecurityTypes(offer), at)

    @precondition(lambda self: self.phase is Phase.SECURITY_TYPE_CHOICE)
    @rule(data=st.data(), at=cuts)
    def choose_security_type(self, data: st.DataObject, at: list[int]) -> None:
        usable = sorted(IMPLEMENTED.intersection(self.offer))
        if usable:
            self.client_says(SecurityTypeChosen(data.draw(st.sampled_from(usable))), at)
            return
        # Nothing the client connection can continue with: the viewer hangs up, which the
        # server sees as EOF mid-handshake.
        with pytest.raises(LocalProtocolError, match="not implemented"):
            self.client.send(SecurityTypeChosen(self.offer[0]))
        with pytest.raises(RemoteProtocolError, match="connection closed during"):
            self.server.receive(b"")
        self.restart()

    @precondition(lambda self: self.phase is Phase.VNC_AUTH_CHALLENGE)
    @rule(challenge=st.binary(min_size=16, max_size=16), at=cuts)
    def challenge_client(self, challenge: bytes, at: list[int]) -> None:
        self.challenge = challenge
        self.server_says(VncAuthChallenge(challenge), at)

    @precondition(lambda self: self.phase is Phase.VNC_AUTH_RESPONSE)
    @rule(password=st.sampled_from([PASSWORD, "wrong"]), at=cuts)
    def respond(self, password: str, at: list[int]) -> None:
        self.response = encrypt_challenge(self.challenge, password)
        self.client_says(VncAuthResponse(self.response), at)

    @precondition(lambda self: self.phase is Phase.SECURITY_RESULT)
    @rule(at=cuts)
    def security_result(self, at: list[int]) -> None:
        ok = not self.challenge or check_response(self.challenge, self.response, PASSWORD)
        # A reason only travels in 3.8 (7.1.3), so only then is it part of the event.
        reason = "" if ok or self.server.conn.version != (3, 8) else "wrong password"
        self.server_says(SecurityResult(ok, reason), at)
        assert self.phase is (Phase.CLIENT_INIT if ok else Phase.CLOSED)

    @precondition(lambda self: self.phase is Phase.CLIENT_INIT)
    @rule(shared=st.booleans(), at=cuts)
    def client_init(self, shared: bool, at: list[int]) -> None:
        self.client_says(ClientInit(shared), at)

    @precondition(lambda self: self.phase is Phase.SERVER_INIT)
    @rule(
        width=st.integers(0, 64),
        height=st.integers(0, 48),
        pixel_format=st.one_of(st.just(BGRX), pixel_formats()),
        name=st.text(max_size=20),
        at=cuts,
    )
    def server_init(self, width, height, pixel_format, name, at) -> None:
        self.server_says(ServerInit(width, height, pixel_format, name), at)

    # --- Normal phase (7.5, 7.6) -------------------------------------------------------------

    @precondition(lambda self: self.phase is Phase.NORMAL)
    @rule(message=client_messages, at=cuts)
    def client_message(self, message: Event, at: list[int]) -> None:
        self.client_says(message, at)

    @precondition(lambda self: self.phase is Phase.NORMAL)
    @rule(data=st.data(), at=cuts)
    def server_message(self, data: st.DataObject, at: list[int]) -> None:
        server = self.server.conn
        assert server.framebuffer_size is not None and server.pixel_format is not None
        message = data.draw(server_messages(server.framebuffer_size, server.pixel_format))
        self.server_says(message, at)

    # --- Endings -----------------------------------------------------------------------------

    @precondition(lambda self: self.phase is Phase.CLOSED or self.chaos())
    @rule(server_closes=st.booleans())
    def close(self, server_closes: bool) -> None:
        closer, peer = (self.server, self.client) if server_closes else (self.client, self.server)
        phase = self.phase
        if phase in (Phase.NORMAL, Phase.CLOSED):
            assert closer.send(ConnectionClosed()) == b""
            assert peer.receive(b"") == [ConnectionClosed()]
            assert peer.conn.phase is closer.conn.phase is Phase.CLOSED
        else:  # hanging up mid-handshake: the peer's EOF is an error
            with pytest.raises(LocalProtocolError):
                closer.conn.send(ConnectionClosed())
            with pytest.raises(RemoteProtocolError, match=f"connection closed during {phase.name}"):
                peer.receive(b"")
        self.restart()

    @precondition(lambda self: self.chaos())
    @rule(to_server=st.booleans(), data=st.data())
    def garbage(self, to_server: bool, data: st.DataObject) -> None:
        victim = self.server if to_server else self.client
        noise = data.draw(garbage(CLIENT_TYPES if to_server else SERVER_TYPES))
        try:
            victim.receive(noise)
        except RemoteProtocolError:
            assert victim.conn.phase is Phase.ERROR
        self.restart()

    @precondition(lambda self: self.phase in HANDSHAKE and self.chaos())
    @rule()
    def out_of_turn(self) -> None:
        """The side whose turn it is not tries to speak: refused, and its connection dies."""
        silent = self.client if self.phase in SERVER_TURNS else self.server
        speech = ClientInit(True) if silent is self.client else ServerInit(1, 1, BGRX, "")
        with pytest.raises(LocalProtocolError):
            silent.conn.send(speech)
        with pytest.raises(LocalProtocolError, match="connection is dead"):
            silent.conn.next_event()
        self.restart()


Conversation.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=40, deadline=None
)
TestConversation = Conversation.TestCase
