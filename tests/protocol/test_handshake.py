"""The handshake (rfbproto 7.1-7.3): golden bytes, every version and security type, refusals
and EOF at each step."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import protocol
from protocol import (
    BGRX,
    NEED_DATA,
    ClientConnection,
    ClientInit,
    ConnectionClosed,
    HandshakeFailed,
    KeyEvent,
    LocalProtocolError,
    Phase,
    ProtocolVersion,
    RemoteProtocolError,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerConnection,
    ServerInit,
    SetEncodings,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import SecurityType

from .messages import BGRX_WIRE


def at_security_types(version: tuple[int, int]) -> tuple[ServerConnection, ClientConnection]:
    server, client = ServerConnection(), ClientConnection()
    client.receive_data(server.send(ProtocolVersion(*version)))
    assert client.next_event() == ProtocolVersion(*version)
    server.receive_data(client.send(ProtocolVersion(*version)))
    assert server.next_event() == ProtocolVersion(*version)
    return server, client


# --- Golden bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (ProtocolVersion(3, 8), b"RFB 003.008\n"),
        (ProtocolVersion(3, 3), b"RFB 003.003\n"),
        (ProtocolVersion(3, 889), b"RFB 003.889\n"),
    ],
)
def test_protocol_version_bytes(event: ProtocolVersion, wire: bytes) -> None:
    server, client = ServerConnection(), ClientConnection()
    assert server.send(event) == wire
    client.receive_data(wire)
    assert client.next_event() == event


@pytest.mark.parametrize(
    ("version", "event", "wire"),
    [
        ((3, 8), SecurityTypes((1, 2)), b"\x02\x01\x02"),
        ((3, 7), SecurityTypes((2,)), b"\x01\x02"),
        ((3, 3), SecurityTypes((2,)), b"\x00\x00\x00\x02"),
        ((3, 8), HandshakeFailed("no"), b"\x00\x00\x00\x00\x02no"),
        ((3, 7), HandshakeFailed("no"), b"\x00\x00\x00\x00\x02no"),
        ((3, 3), HandshakeFailed("no"), b"\x00\x00\x00\x00\x00\x00\x00\x02no"),
    ],
)
def test_security_types_and_handshake_failed_bytes(
    version: tuple[int, int], event: object, wire: bytes
) -> None:
    server, client = at_security_types(version)
    assert server.send(event) == wire
    client.receive_data(wire)
    assert client.next_event() == event


@pytest.mark.parametrize(
    ("version", "event", "wire", "received"),
    [
        ((3, 8), SecurityResult(ok=True), b"\0\0\0\0", SecurityResult(ok=True)),
        (
            (3, 8),
            SecurityResult(False, "bad password"),
            b"\0\0\0\1\0\0\0\x0cbad password",
            SecurityResult(False, "bad password"),
        ),
        # 3.3 and 3.7 have no reason string: it is not sent, the client gets none.
        ((3, 7), SecurityResult(False, "bad password"), b"\0\0\0\1", SecurityResult(False)),
        ((3, 3), SecurityResult(False, "bad password"), b"\0\0\0\1", SecurityResult(False)),
        ((3, 7), SecurityResult(ok=True), b"\0\0\0\0", SecurityResult(ok=True)),
    ],
)
def test_security_result_bytes(
    version: tuple[int, int], event: SecurityResult, wire: bytes, received: SecurityResult, pair
) -> None:
    server, client = pair(
        offer=version, reply=version, security=SecurityType.VNC_AUTH, until=Phase.SECURITY_RESULT
    )
    assert server.send(event) == wire
    client.receive_data(wire)
    assert client.next_event() == received
    expected_phase = Phase.CLIENT_INIT if event.ok else Phase.CLOSED
    assert server.phase is client.phase is expected_phase


def test_client_init_and_server_init_bytes(pair) -> None:
    server, client = pair(until=Phase.CLIENT_INIT)
    assert client.send(ClientInit(shared=True)) == b"\x01"
    server.receive_data(b"\x00")
    assert server.next_event() == ClientInit(shared=False)
    init = ServerInit(1024, 768, BGRX, "vncd")
    wire = b"\x04\x00\x03\x00" + BGRX_WIRE + b"\x00\x00\x00\x04vncd"
    assert server.send(init) == wire
    client.receive_data(wire)
    assert client.next_event() == init
    assert client.pixel_format == server.pixel_format == BGRX
    assert client.framebuffer_size == server.framebuffer_size == (1024, 768)


def test_vnc_auth_challenge_and_response_are_sixteen_raw_bytes(pair) -> None:
    server, client = pair(security=SecurityType.VNC_AUTH, until=Phase.VNC_AUTH_CHALLENGE)
    challenge = bytes(range(16))
    assert server.send(VncAuthChallenge(challenge)) == challenge
    client.receive_data(challenge)
    assert client.next_event() == VncAuthChallenge(challenge)
    response = bytes(range(16, 32))
    assert client.send(VncAuthResponse(response)) == response


# --- Full handshakes ------------------------------------------------------------------------

VERSIONS = [
    # (client's reply, negotiated)
    ((3, 3), (3, 3)),
    ((3, 7), (3, 7)),
    ((3, 8), (3, 8)),
    ((3, 5), (3, 3)),
    ((3, 6), (3, 3)),
    ((3, 889), (3, 8)),
    ((4, 0), (3, 8)),
]


@pytest.mark.parametrize(("reply", "negotiated"), VERSIONS)
def test_full_handshake_without_security(reply, negotiated, pair) -> None:
    server, client = pair(reply=reply, security=SecurityType.NONE)
    assert server.phase is client.phase is Phase.NORMAL
    assert server.version == client.version == negotiated
    # Normal messages flow both ways.
    server.receive_data(client.send(KeyEvent(True, 0x61)))
    assert server.next_event() == KeyEvent(True, 0x61)


@pytest.mark.parametrize(("reply", "negotiated"), VERSIONS)
def test_full_handshake_with_the_right_vnc_password(reply, negotiated, pair) -> None:
    server, client = pair(reply=reply, security=SecurityType.VNC_AUTH)
    assert server.phase is client.phase is Phase.NORMAL
    assert server.version == client.version == negotiated


@pytest.mark.parametrize(("reply", "negotiated"), VERSIONS)
def test_wrong_vnc_password_closes_the_connection(reply, negotiated, pair) -> None:
    server, client = pair(reply=reply, security=SecurityType.VNC_AUTH, password="guess")
    assert server.phase is client.phase is Phase.CLOSED
    # The server closes; both sides see a clean ConnectionClosed.
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed()
    server.receive_data(b"")
    assert server.next_event() == ConnectionClosed()
    assert server.next_event() == ConnectionClosed()  # and keep seeing it


@pytest.mark.parametrize(
    ("version", "wire"),
    [((3, 8), b"\x01\x01\x01\0\0\0\0"), ((3, 7), b"\x01\x01\x01"), ((3, 3), None)],
)
def test_security_none_wire_per_version(version, wire, pair) -> None:
    """7.2.1: 3.8 answers None with a SecurityResult, 3.7 goes straight to ClientInit, and 3.3
    has no choice message at all."""
    server, client = at_security_types(version)
    sent = server.send(SecurityTypes((SecurityType.NONE,)))
    client.receive_data(sent)
    assert client.next_event() == SecurityTypes((1,))
    if version == (3, 3):
        assert sent == b"\0\0\0\1"
        assert server.phase is client.phase is Phase.CLIENT_INIT
        return
    choice = client.send(SecurityTypeChosen(SecurityType.NONE))
    server.receive_data(choice)
    assert server.next_event() == SecurityTypeChosen(1)
    if version == (3, 8):
        sent += choice + server.send(SecurityResult(ok=True))
        assert server.phase is Phase.CLIENT_INIT
    else:
        sent += choice
    assert sent == wire
    assert server.phase is Phase.CLIENT_INIT


def test_client_asking_above_the_offer_gets_the_offer() -> None:
    server, client = ServerConnection(), ClientConnection()
    client.receive_data(server.send(ProtocolVersion(3, 3)))
    client.next_event()
    server.receive_data(client.send(ProtocolVersion(3, 8)))
    server.next_event()
    assert server.version == client.version == (3, 3)
    assert server.send(SecurityTypes((2,))) == b"\0\0\0\2"


def test_handshake_failed_closes_both_sides() -> None:
    server, client = at_security_types((3, 8))
    client.receive_data(server.send(HandshakeFailed("go away")))
    assert client.next_event() == HandshakeFailed("go away")
    assert server.phase is client.phase is Phase.CLOSED
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed()


def test_pipelined_client_messages_wait_for_the_servers_turn(pair) -> None:
    """A client that sends ClientInit and SetEncodings together: the SetEncodings bytes wait
    in the buffer until ServerInit puts the conversation in the normal phase."""
    server, client = pair(until=Phase.CLIENT_INIT)
    server.receive_data(client.send(ClientInit(True)) + bytes([2, 0, 0, 1, 0, 0, 0, 0]))
    assert server.next_event() == ClientInit(True)
    assert server.next_event() is NEED_DATA
    server.send(ServerInit(10, 10, BGRX, ""))
    assert server.next_event() == SetEncodings((0,))


# --- Refusals -------------------------------------------------------------------------------


def test_unoffered_security_type_is_refused_by_the_server() -> None:
    server, _ = at_security_types((3, 8))
    server.send(SecurityTypes((SecurityType.VNC_AUTH,)))
    server.receive_data(b"\x01")
    with pytest.raises(RemoteProtocolError, match="security type 1 was not offered"):
        server.next_event()
    assert server.phase is Phase.ERROR


def test_client_may_not_choose_an_unoffered_type() -> None:
    server, client = at_security_types((3, 8))
    client.receive_data(server.send(SecurityTypes((SecurityType.VNC_AUTH,))))
    client.next_event()
    with pytest.raises(LocalProtocolError, match="not offered"):
        client.send(SecurityTypeChosen(SecurityType.NONE))


def test_offered_but_unimplemented_type_cannot_be_chosen() -> None:
    server, client = at_security_types((3, 8))
    client.receive_data(server.send(SecurityTypes((1, 30))))
    assert client.next_event() == SecurityTypes((1, 30))
    with pytest.raises(LocalProtocolError, match="security type 30 is not implemented"):
        client.send(SecurityTypeChosen(30))


def test_version_3_3_carries_exactly_one_supported_type() -> None:
    server, _ = at_security_types((3, 3))
    with pytest.raises(LocalProtocolError, match="exactly one"):
        server.send(SecurityTypes((1, 2)))
    _, client = at_security_types((3, 3))
    client.receive_data(b"\0\0\0\x1e")  # 30 (Apple's): not implemented
    with pytest.raises(RemoteProtocolError, match="not implemented"):
        client.next_event()


def test_zero_is_not_a_security_type() -> None:
    server, client = at_security_types((3, 8))
    client.receive_data(b"\x02\x01\x00")
    with pytest.raises(RemoteProtocolError, match="SecurityTypes"):
        client.next_event()
    server.send(SecurityTypes((1,)))
    server.receive_data(b"\x00")
    with pytest.raises(RemoteProtocolError, match="SecurityTypeChosen"):
        server.next_event()


@pytest.mark.parametrize("wire", [b"RFB 002.000\n", b"RFB 000.000\n"])
def test_versions_before_3_are_refused(wire: bytes) -> None:
    server = ServerConnection()
    server.send(ProtocolVersion(3, 8))
    server.receive_data(wire)
    with pytest.raises(RemoteProtocolError, match=r"predates 3\.3"):
        server.next_event()
    client = ClientConnection()
    client.receive_data(wire)
    with pytest.raises(RemoteProtocolError, match=r"predates 3\.3"):
        client.next_event()
    with pytest.raises(LocalProtocolError, match=r"predates 3\.3"):
        ServerConnection().send(ProtocolVersion(2, 0))


@pytest.mark.parametrize("wire", [b"GET / HTTP/1.1\r\n", b"RFB 003.00a\n", b"RFB 003.008\r"])
def test_garbage_instead_of_a_version(wire: bytes) -> None:
    client = ClientConnection()
    client.receive_data(wire)
    with pytest.raises(RemoteProtocolError, match="not an RFB ProtocolVersion"):
        client.next_event()


def test_reason_longer_than_max_reason_is_refused_before_its_body() -> None:
    server, client = ServerConnection(), ClientConnection(max_reason=10)
    client.receive_data(server.send(ProtocolVersion(3, 8)))
    client.next_event()
    server.receive_data(client.send(ProtocolVersion(3, 8)))
    client.receive_data(b"\x00\x00\x00\x00\x0b")  # zero types, an 11-byte reason follows
    with pytest.raises(RemoteProtocolError, match="reason of 11 bytes exceeds the limit of 10"):
        client.next_event()


def test_desktop_name_is_capped_and_decoded_leniently(pair) -> None:
    _, client = pair(until=Phase.SERVER_INIT, max_reason=8)
    head = b"\x00\x10\x00\x10" + BGRX_WIRE
    client.receive_data(head + b"\x00\x00\x00\x03\xffok")
    assert client.next_event() == ServerInit(16, 16, BGRX, "\ufffdok")
    _, client = pair(until=Phase.SERVER_INIT, max_reason=8)
    client.receive_data(head + b"\x00\x00\x00\x09")
    with pytest.raises(RemoteProtocolError, match="desktop name of 9 bytes"):
        client.next_event()


def test_invalid_pixel_format_in_server_init(pair) -> None:
    _, client = pair(until=Phase.SERVER_INIT)
    client.receive_data(b"\x00\x10\x00\x10" + b"\x18" + BGRX_WIRE[1:] + b"\0\0\0\0")
    with pytest.raises(RemoteProtocolError, match="invalid pixel format in ServerInit"):
        client.next_event()


def test_security_result_status_two_is_a_failure(pair) -> None:
    _, client = pair(security=SecurityType.VNC_AUTH, until=Phase.SECURITY_RESULT)
    client.receive_data(b"\0\0\0\2\0\0\0\x03bye")
    assert client.next_event() == SecurityResult(False, "bye")
    assert client.phase is Phase.CLOSED


def test_successful_result_cannot_carry_a_reason(pair) -> None:
    server, _ = pair(security=SecurityType.VNC_AUTH, until=Phase.SECURITY_RESULT)
    with pytest.raises(LocalProtocolError, match="carries no reason"):
        server.send(SecurityResult(True, "welcome"))


def test_data_after_the_handshake_ended_is_an_error() -> None:
    server, client = at_security_types((3, 8))
    client.receive_data(server.send(HandshakeFailed("no")) + b"\x00")
    assert client.next_event() == HandshakeFailed("no")
    with pytest.raises(RemoteProtocolError, match="after the handshake ended"):
        client.next_event()


# --- Turn-taking and dead connections -------------------------------------------------------


def test_sending_out_of_turn_kills_the_connection() -> None:
    client = ClientConnection()
    with pytest.raises(LocalProtocolError, match="may not send ClientInit during SERVER_VERSION"):
        client.send(ClientInit(True))
    assert client.phase is Phase.ERROR
    for call in (
        lambda: client.send(ProtocolVersion(3, 8)),
        lambda: client.receive_data(b"RFB 003.008\n"),
        client.next_event,
    ):
        with pytest.raises(LocalProtocolError, match="connection is dead after"):
            call()


def test_remote_error_kills_the_connection() -> None:
    server = ServerConnection()
    server.send(ProtocolVersion(3, 8))
    server.receive_data(b"HTTP/1.1 200")
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    with pytest.raises(LocalProtocolError, match="dead after RemoteProtocolError"):
        server.send(SecurityTypes((1,)))


def test_server_messages_are_not_for_clients(pair) -> None:
    _, client = pair()
    with pytest.raises(LocalProtocolError, match="client may not send ServerInit"):
        client.send(ServerInit(1, 1, BGRX, ""))


def test_bytes_before_the_servers_version_wait() -> None:
    server = ServerConnection()
    server.receive_data(b"RFB 003.008\n")
    assert server.next_event() is NEED_DATA
    server.send(ProtocolVersion(3, 8))
    assert server.next_event() == ProtocolVersion(3, 8)


# --- EOF ------------------------------------------------------------------------------------

HANDSHAKE_PHASES = [
    Phase.SERVER_VERSION,
    Phase.CLIENT_VERSION,
    Phase.SECURITY_TYPES,
    Phase.SECURITY_TYPE_CHOICE,
    Phase.VNC_AUTH_CHALLENGE,
    Phase.VNC_AUTH_RESPONSE,
    Phase.SECURITY_RESULT,
    Phase.CLIENT_INIT,
    Phase.SERVER_INIT,
]


@pytest.mark.parametrize("phase", HANDSHAKE_PHASES)
def test_eof_mid_handshake_is_an_error_on_both_sides(phase: Phase, pair) -> None:
    server, client = pair(security=SecurityType.VNC_AUTH, until=phase)
    assert server.phase is phase
    for conn in (server, client):
        conn.receive_data(b"")
        with pytest.raises(RemoteProtocolError, match=f"connection closed during {phase.name}"):
            conn.next_event()


def test_eof_in_the_middle_of_a_message() -> None:
    server = ServerConnection()
    server.send(ProtocolVersion(3, 8))
    server.receive_data(b"RFB 003")
    assert server.next_event() is NEED_DATA
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="in the middle of a message"):
        server.next_event()


def test_eof_in_the_normal_phase_is_a_clean_close(pair) -> None:
    server, client = pair()
    server.receive_data(client.send(KeyEvent(False, 1)))
    server.receive_data(b"")
    assert server.next_event() == KeyEvent(False, 1)
    assert server.next_event() == ConnectionClosed()
    assert server.phase is Phase.CLOSED
    with pytest.raises(LocalProtocolError, match="after EOF"):
        server.receive_data(b"more")


def test_closing_our_side_moves_to_closed(pair) -> None:
    server, _ = pair()
    assert server.send(ConnectionClosed()) == b""
    assert server.phase is Phase.CLOSED
    with pytest.raises(LocalProtocolError):
        server.send(KeyEvent(True, 1))


# --- The package stays sans-IO --------------------------------------------------------------

FORBIDDEN = {"trio", "socket", "ssl", "threading", "time", "asyncio", "selectors"}


def test_protocol_package_imports_no_io_or_time() -> None:
    """Design rule: protocol/ never does I/O or reads clocks (vncd/ owns both)."""
    root = Path(protocol.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
