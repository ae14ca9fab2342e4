"""VeNCrypt (rfbproto 7.2.8): golden bytes for both roles, the pause for TLS, the inner
authentications, the hand-over to and from the RFB connection, and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    NEED_DATA,
    ClientConnection,
    ClientInit,
    LocalProtocolError,
    Phase,
    ProtocolVersion,
    RemoteProtocolError,
    Role,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerConnection,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import HANDLERS, SecurityType
from protocol.security.vencrypt import (
    MAX_CREDENTIAL,
    PlainCredentials,
    StartTLS,
    Subtype,
    SubtypeChosen,
    Subtypes,
    VeNCrypt,
    VeNCryptVersion,
    VersionRefused,
)
from protocol.security.vencrypt import Phase as VPhase

OFFER = (Subtype.X509_VNC, Subtype.TLS_PLAIN, Subtype.PLAIN)
# The server's offer on the wire: status 0, count 3, three U32 subtypes (261, 259, 256).
OFFER_WIRE = b"\x00\x03" + b"\x00\x00\x01\x05" + b"\x00\x00\x01\x03" + b"\x00\x00\x01\x00"


def exchange(sender: VeNCrypt, receiver: VeNCrypt, event: object) -> bytes:
    """Send ``event`` one byte at a time; the receiver must see exactly it, only at the end."""
    wire = sender.send(event)  # type: ignore[arg-type]
    for byte in wire[:-1]:
        receiver.receive_data(bytes([byte]))
        assert receiver.next_event() is NEED_DATA
    receiver.receive_data(wire[-1:])
    assert receiver.next_event() == event
    return wire


def chosen(subtype: int) -> tuple[VeNCrypt, VeNCrypt]:
    server, client = VeNCrypt(Role.SERVER), VeNCrypt(Role.CLIENT)
    assert exchange(server, client, VeNCryptVersion(0, 2)) == b"\x00\x02"
    assert exchange(client, server, VeNCryptVersion(0, 2)) == b"\x00\x02"
    assert exchange(server, client, Subtypes(OFFER)) == OFFER_WIRE
    assert exchange(client, server, SubtypeChosen(subtype)) == subtype.to_bytes(4, "big")
    return server, client


def test_registered_as_security_type_19() -> None:
    assert SecurityType.VENCRYPT == 19
    assert HANDLERS[SecurityType.VENCRYPT] is VeNCrypt


def test_tls_subtype_pauses_both_sides_after_the_ack_byte() -> None:
    server, client = chosen(Subtype.X509_VNC)
    assert server.next_event() is NEED_DATA  # the server's turn: it must send StartTLS
    assert exchange(server, client, StartTLS()) == b"\x01"
    assert server.phase is client.phase is VPhase.TLS
    # A ClientHello arriving with the ack is TLS's, not VeNCrypt's.
    server.receive_data(b"\x16\x03\x01")
    assert server.next_event() is NEED_DATA
    assert server.trailing_data() == b"\x16\x03\x01"
    server.tls_started()
    client.tls_started()
    challenge = bytes(range(16))
    assert exchange(server, client, VncAuthChallenge(challenge)) == challenge
    assert exchange(client, server, VncAuthResponse(b"r" * 16)) == b"r" * 16
    assert server.phase is client.phase is VPhase.DONE


def test_plain_credentials_bytes() -> None:
    server, client = chosen(Subtype.PLAIN)  # no TLS: straight to the credentials
    wire = exchange(client, server, PlainCredentials("anne", "sécret"))
    assert wire == b"\x00\x00\x00\x04\x00\x00\x00\x07annes\xc3\xa9cret"
    assert server.phase is VPhase.DONE
    assert "sécret" not in repr(PlainCredentials("anne", "sécret"))


def test_tls_plain_after_tls() -> None:
    server, client = chosen(Subtype.TLS_PLAIN)
    exchange(server, client, StartTLS())
    server.tls_started()
    client.tls_started()
    exchange(client, server, PlainCredentials("", ""))
    assert server.phase is VPhase.DONE


@pytest.mark.parametrize("subtype", [Subtype.X509_NONE, Subtype.TLS_NONE])
def test_none_inner_is_done_after_tls(subtype: Subtype) -> None:
    server, client = VeNCrypt(Role.SERVER), VeNCrypt(Role.CLIENT)
    for sender, receiver, event in [
        (server, client, VeNCryptVersion(0, 2)),
        (client, server, VeNCryptVersion(0, 2)),
        (server, client, Subtypes((subtype,))),
        (client, server, SubtypeChosen(subtype)),
        (server, client, StartTLS()),
    ]:
        exchange(sender, receiver, event)
    server.tls_started()
    assert server.phase is VPhase.DONE


def test_server_refuses_other_versions_with_0xff() -> None:
    server, client = VeNCrypt(Role.SERVER), VeNCrypt(Role.CLIENT)
    exchange(server, client, VeNCryptVersion(0, 2))
    exchange(client, server, VeNCryptVersion(0, 1))
    with pytest.raises(LocalProtocolError, match=r"0\.2"):
        server.send(Subtypes(OFFER))


def test_version_refused_bytes() -> None:
    server, client = VeNCrypt(Role.SERVER), VeNCrypt(Role.CLIENT)
    exchange(server, client, VeNCryptVersion(0, 2))
    exchange(client, server, VeNCryptVersion(0, 1))
    assert exchange(server, client, VersionRefused()) == b"\xff"
    assert client.phase is VPhase.CLOSED


def test_client_refuses_an_old_server() -> None:
    client = VeNCrypt(Role.CLIENT)
    client.receive_data(b"\x00\x01")
    with pytest.raises(RemoteProtocolError, match=r"older than 0\.2"):
        client.next_event()


def test_server_refuses_an_unoffered_subtype() -> None:
    server, client = VeNCrypt(Role.SERVER), VeNCrypt(Role.CLIENT)
    exchange(server, client, VeNCryptVersion(0, 2))
    exchange(client, server, VeNCryptVersion(0, 2))
    server.send(Subtypes((Subtype.X509_VNC,)))
    server.receive_data((Subtype.PLAIN).to_bytes(4, "big"))
    with pytest.raises(RemoteProtocolError, match="256 was not offered"):
        server.next_event()


def test_client_refuses_a_failed_tls_start() -> None:
    _, client = chosen(Subtype.X509_VNC)
    client.receive_data(b"\x00")
    with pytest.raises(RemoteProtocolError, match="could not start TLS"):
        client.next_event()


def test_client_refuses_an_empty_offer() -> None:
    client = VeNCrypt(Role.CLIENT)
    client.receive_data(b"\x00\x02")
    client.next_event()
    client.send(VeNCryptVersion(0, 2))
    client.receive_data(b"\x00\x00")
    with pytest.raises(RemoteProtocolError, match="no VeNCrypt subtypes"):
        client.next_event()


def test_plain_credentials_are_bounded() -> None:
    server, _ = chosen(Subtype.PLAIN)
    server.receive_data((MAX_CREDENTIAL + 1).to_bytes(4, "big") + bytes(4))
    with pytest.raises(RemoteProtocolError, match="username of 1025 bytes"):
        server.next_event()


def test_plain_credentials_must_be_utf8() -> None:
    server, _ = chosen(Subtype.PLAIN)
    server.receive_data(b"\x00\x00\x00\x01\x00\x00\x00\x00\xff")
    with pytest.raises(RemoteProtocolError, match="not UTF-8"):
        server.next_event()


def test_out_of_turn_events_are_local_errors() -> None:
    with pytest.raises(LocalProtocolError, match="may not send StartTLS"):
        VeNCrypt(Role.SERVER).send(StartTLS())
    with pytest.raises(LocalProtocolError, match="tls_started"):
        VeNCrypt(Role.SERVER).tls_started()


def test_rfb_connection_hands_over_and_takes_back() -> None:
    """Type 19 in the RFB offer: the connections pause for the handler, then the
    SecurityResult and ClientInit follow on whatever stream the handler left."""
    server, client = ServerConnection(), ClientConnection()
    client.receive_data(server.send(ProtocolVersion(3, 8)))
    client.next_event()
    server.receive_data(client.send(ProtocolVersion(3, 8)))
    server.next_event()
    wire = server.send(SecurityTypes((SecurityType.VENCRYPT, SecurityType.VNC_AUTH)))
    assert wire == b"\x02\x13\x02"
    client.receive_data(wire)
    client.next_event()
    server.receive_data(client.send(SecurityTypeChosen(SecurityType.VENCRYPT)) + b"\x00\x02")
    assert server.next_event() == SecurityTypeChosen(SecurityType.VENCRYPT)
    assert server.phase is client.phase is Phase.SECURITY_HANDLER
    assert server.next_event() is NEED_DATA
    assert server.hand_over() == b"\x00\x02"  # the client's pipelined VeNCrypt version
    server.security_handled(b"\x01")  # the viewer's ClientInit, early
    client.security_handled()
    client.receive_data(server.send(SecurityResult(ok=True)))
    assert client.next_event() == SecurityResult(ok=True)
    assert server.next_event() == ClientInit(shared=True)


def test_hand_over_only_while_a_handler_runs() -> None:
    with pytest.raises(LocalProtocolError, match="nothing to hand over"):
        ServerConnection().hand_over()
    with pytest.raises(LocalProtocolError, match="no security handler"):
        ClientConnection().security_handled()


def test_dead_after_a_protocol_error() -> None:
    client = VeNCrypt(Role.CLIENT)
    client.receive_data(b"\x00\x01")
    with pytest.raises(RemoteProtocolError):
        client.next_event()
    assert client.phase is VPhase.CLOSED
    with pytest.raises(LocalProtocolError, match="during VeNCrypt CLOSED"):
        client.send(VeNCryptVersion(0, 2))


def take_turn(handler: VeNCrypt, subtype: Subtype) -> bool:
    """Say what ``handler`` must say now, if anything; False when it is the peer's turn or
    the exchange is over."""
    server = handler.side is Role.SERVER
    match handler.phase:
        case VPhase.SUBTYPES if server:
            refused = handler.client_version != (0, 2)
            handler.send(VersionRefused() if refused else Subtypes(tuple(Subtype)))
        case VPhase.CLIENT_VERSION if not server:
            handler.send(VeNCryptVersion(0, 2))
        case VPhase.CHOICE if not server:
            if subtype not in handler.subtypes:
                return False
            handler.send(SubtypeChosen(subtype))
        case VPhase.START_TLS if server:
            handler.send(StartTLS())
        case VPhase.TLS:
            handler.tls_started()
        case VPhase.VNC_CHALLENGE if server:
            handler.send(VncAuthChallenge(bytes(16)))
        case VPhase.VNC_RESPONSE if not server:
            handler.send(VncAuthResponse(bytes(16)))
        case VPhase.PLAIN_CREDENTIALS if not server:
            handler.send(PlainCredentials("u", "p"))
        case _:
            return False
    return True


@given(st.binary(max_size=80), st.sampled_from(list(Subtype)))
def test_any_bytes_are_events_or_a_remote_error(data: bytes, subtype: Subtype) -> None:
    """Whatever a peer sends, each side (taking its turns) answers with events, NEED_DATA
    or a RemoteProtocolError: never another exception."""
    for side in Role:
        handler = VeNCrypt(side)
        if side is Role.SERVER:
            handler.send(VeNCryptVersion(0, 2))
        handler.receive_data(data)
        try:
            while take_turn(handler, subtype) or handler.next_event() is not NEED_DATA:
                pass
        except RemoteProtocolError:
            assert handler.phase is VPhase.CLOSED


def test_values_must_fit_their_fields() -> None:
    with pytest.raises(ValueError):
        VeNCryptVersion(0, 256)
    with pytest.raises(ValueError):
        SubtypeChosen(1 << 32)
    with pytest.raises(ValueError):
        Subtypes((-1,))
