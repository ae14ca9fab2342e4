"""The Tight security type (16, rfbproto 'Tight Security Type'): golden bytes for both roles,
every inner authentication, bounds and refusals, the hand-over to and from the RFB
connection, and the interaction capabilities that follow ServerInit after it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    BGRX,
    NEED_DATA,
    Capability,
    ClientConnection,
    ClientInit,
    InteractionCapabilities,
    LocalProtocolError,
    Phase,
    ProtocolVersion,
    RemoteProtocolError,
    Role,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerConnection,
    ServerInit,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import HANDLERS, SecurityType
from protocol.security.tight import (
    AUTH_CAPABILITIES,
    ENCODING_CAPABILITIES,
    MAX_CAPABILITIES,
    NO_TUNNEL,
    AuthCapabilities,
    AuthChosen,
    AuthType,
    PlainCredentials,
    Tight,
    TightEvent,
    TunnelCapabilities,
    TunnelChosen,
)
from protocol.security.tight import Phase as TPhase
from protocol.security.vencrypt import MAX_CREDENTIAL

LOGIN = AUTH_CAPABILITIES[AuthType.UNIX_LOGIN]
VNC = AUTH_CAPABILITIES[AuthType.VNC_AUTH]
NONE = AUTH_CAPABILITIES[AuthType.NONE]
# Golden capabilities, from rfbproto's tables: S32 code, vendor, signature.
LOGIN_WIRE = b"\x00\x00\x00\x81TGHTULGNAUTH"
VNC_WIRE = b"\x00\x00\x00\x02STDVVNCAUTH_"
NO_TUNNEL_WIRE = b"\x00\x00\x00\x00TGHTNOTUNNEL"


def exchange(sender: Tight, receiver: Tight, event: TightEvent) -> bytes:
    """Send ``event`` one byte at a time; the receiver must see exactly it, only at the end."""
    wire = sender.send(event)
    for byte in wire[:-1]:
        receiver.receive_data(bytes([byte]))
        assert receiver.next_event() is NEED_DATA
    receiver.receive_data(wire[-1:])
    assert receiver.next_event() == event
    return wire


def offered(*auths: Capability) -> tuple[Tight, Tight]:
    """Both sides after vncd's offer: no tunnels, then ``auths``."""
    server, client = Tight(Role.SERVER), Tight(Role.CLIENT)
    assert exchange(server, client, TunnelCapabilities()) == b"\0\0\0\0"
    wire = exchange(server, client, AuthCapabilities(auths))
    assert wire[:4] == len(auths).to_bytes(4, "big")
    return server, client


def test_registered_as_security_type_16() -> None:
    assert SecurityType.TIGHT == 16
    assert HANDLERS[SecurityType.TIGHT] is Tight


def test_golden_capabilities() -> None:
    assert Tight(Role.SERVER).send(TunnelCapabilities((NO_TUNNEL,))) == (
        b"\0\0\0\x01" + NO_TUNNEL_WIRE
    )
    server = Tight(Role.SERVER)
    server.send(TunnelCapabilities())
    assert server.send(AuthCapabilities((LOGIN, VNC))) == b"\0\0\0\x02" + LOGIN_WIRE + VNC_WIRE
    assert ENCODING_CAPABILITIES[7] == Capability(7, b"TGHT", b"TIGHT___")


def test_unix_login() -> None:
    server, client = offered(LOGIN, VNC)
    assert exchange(client, server, AuthChosen(AuthType.UNIX_LOGIN)) == b"\0\0\0\x81"
    wire = exchange(client, server, PlainCredentials("anne", "pässword"))
    assert wire == b"\0\0\0\x04\0\0\0\x09annep\xc3\xa4ssword"
    assert server.phase is client.phase is TPhase.DONE
    assert not server.authenticates_nothing
    assert server.auth is AuthType.UNIX_LOGIN


def test_vnc_authentication() -> None:
    server, client = offered(LOGIN, VNC)
    assert exchange(client, server, AuthChosen(AuthType.VNC_AUTH)) == b"\0\0\0\x02"
    assert exchange(server, client, VncAuthChallenge(bytes(range(16)))) == bytes(range(16))
    assert exchange(client, server, VncAuthResponse(b"r" * 16)) == b"r" * 16
    assert server.phase is client.phase is TPhase.DONE
    assert not client.authenticates_nothing


def test_none_chosen_and_empty_list_authenticate_nothing() -> None:
    server, client = offered(NONE)
    exchange(client, server, AuthChosen(AuthType.NONE))
    assert server.phase is TPhase.DONE and server.authenticates_nothing
    server, client = offered()
    assert server.phase is client.phase is TPhase.DONE
    assert server.authenticates_nothing and client.authenticates_nothing


def test_tunnel_choice_when_tunnels_are_offered() -> None:
    server, client = Tight(Role.SERVER), Tight(Role.CLIENT)
    exchange(server, client, TunnelCapabilities((NO_TUNNEL,)))
    assert client.phase is TPhase.TUNNEL_CHOICE
    assert exchange(client, server, TunnelChosen(0)) == b"\0\0\0\0"
    exchange(server, client, AuthCapabilities((VNC,)))
    assert client.phase is TPhase.AUTH_CHOICE


def test_a_tunnel_that_was_not_offered_is_a_protocol_error() -> None:
    server = Tight(Role.SERVER)
    server.send(TunnelCapabilities((NO_TUNNEL,)))
    server.receive_data(b"\0\0\0\x01")
    with pytest.raises(RemoteProtocolError, match="tunnel 1 was not offered"):
        server.next_event()
    assert server.phase is TPhase.CLOSED
    # vncd offers no tunnels: a client that asks for one anyway sends an authentication
    # choice the server did not offer.
    server, _ = offered(VNC)
    server.receive_data(b"\0\0\0\0")
    with pytest.raises(RemoteProtocolError, match="authentication 0 was not offered"):
        server.next_event()


def test_client_ignores_unknown_offers_but_cannot_choose_them() -> None:
    external = Capability(130, b"TGHT", b"XTRNAUTH")
    _, client = offered(external, VNC)
    assert client.auths == (external, VNC)
    with pytest.raises(LocalProtocolError, match="130 is not implemented"):
        client.send(AuthChosen(130))
    _, client = offered(VNC)
    with pytest.raises(LocalProtocolError, match="129 was not offered"):
        client.send(AuthChosen(AuthType.UNIX_LOGIN))


@pytest.mark.parametrize("what", ["tunnel", "authentication"])
def test_capability_lists_are_bounded(what: str) -> None:
    client = Tight(Role.CLIENT)
    if what == "authentication":
        client.receive_data(b"\0\0\0\0")
        assert client.next_event() == TunnelCapabilities()
    client.receive_data((MAX_CAPABILITIES + 1).to_bytes(4, "big"))
    with pytest.raises(RemoteProtocolError, match=f"257 Tight {what} capabilities"):
        client.next_event()
    assert client.phase is TPhase.CLOSED


def test_login_lengths_are_bounded_and_utf8() -> None:
    server, _ = offered(LOGIN)
    server.receive_data(b"\0\0\0\x81" + (MAX_CREDENTIAL + 1).to_bytes(4, "big") + bytes(4))
    assert server.next_event() == AuthChosen(AuthType.UNIX_LOGIN)
    with pytest.raises(RemoteProtocolError, match="Unix login username of 1025 bytes"):
        server.next_event()
    server, _ = offered(LOGIN)
    server.receive_data(b"\0\0\0\x81\0\0\0\x01\0\0\0\x01a\xff")
    server.next_event()
    with pytest.raises(RemoteProtocolError, match="Unix login password is not UTF-8"):
        server.next_event()


def test_out_of_turn_events_are_errors() -> None:
    with pytest.raises(LocalProtocolError, match="may not send AuthChosen during Tight TUNNELS"):
        Tight(Role.CLIENT).send(AuthChosen(2))
    server, _ = offered(VNC)
    with pytest.raises(LocalProtocolError, match="trailing data during Tight AUTH_CHOICE"):
        server.trailing_data()


def test_values_must_fit_their_fields() -> None:
    with pytest.raises(ValueError):
        AuthChosen(1 << 31)
    with pytest.raises(ValueError):
        Capability(1, b"TGH", b"NOTUNNEL")


def handshake_to_tight(version: tuple[int, int]) -> tuple[ServerConnection, ClientConnection]:
    server, client = ServerConnection(), ClientConnection()
    client.receive_data(server.send(ProtocolVersion(3, 8)))
    client.next_event()
    server.receive_data(client.send(ProtocolVersion(*version)))
    server.next_event()
    client.receive_data(server.send(SecurityTypes((SecurityType.TIGHT, SecurityType.VNC_AUTH))))
    client.next_event()
    return server, client


def run_tight(
    server_conn: ServerConnection, client_conn: ClientConnection, *auths: Capability
) -> tuple[Tight, Tight]:
    """Type 16 chosen, the client's first bytes pipelined behind its choice."""
    server_conn.receive_data(client_conn.send(SecurityTypeChosen(SecurityType.TIGHT)))
    assert server_conn.next_event() == SecurityTypeChosen(SecurityType.TIGHT)
    assert server_conn.phase is client_conn.phase is Phase.SECURITY_HANDLER
    server, client = Tight(Role.SERVER), Tight(Role.CLIENT)
    server.receive_data(server_conn.hand_over())
    client.receive_data(server.send(TunnelCapabilities()) + server.send(AuthCapabilities(auths)))
    assert client.next_event() == TunnelCapabilities()
    assert client.next_event() == AuthCapabilities(auths)
    return server, client


CAPS = InteractionCapabilities(
    server_messages=(Capability(150, b"TGHT", b"CUS_EOCU"),),
    client_messages=(Capability(150, b"TGHT", b"CUC_ENCU"),),
    encodings=(ENCODING_CAPABILITIES[7], ENCODING_CAPABILITIES[-32]),
)


def test_rfb_connection_around_tight_with_login_and_capabilities() -> None:
    server_conn, client_conn = handshake_to_tight((3, 8))
    server, client = run_tight(server_conn, client_conn, LOGIN)
    # The viewer sends its choice, credentials and ClientInit in one go.
    server.receive_data(
        client.send(AuthChosen(AuthType.UNIX_LOGIN))
        + client.send(PlainCredentials("anne", "secret"))
        + b"\x01"
    )
    assert server.next_event() == AuthChosen(AuthType.UNIX_LOGIN)
    assert server.next_event() == PlainCredentials("anne", "secret")
    server_conn.security_handled(server.trailing_data())
    client_conn.security_handled(client.trailing_data())
    client_conn.receive_data(server_conn.send(SecurityResult(ok=True)))
    assert client_conn.next_event() == SecurityResult(ok=True)
    assert server_conn.next_event() == ClientInit(shared=True)
    assert client_conn.send(ClientInit(shared=True)) == b"\x01"  # sent early, above
    init = ServerInit(640, 480, BGRX, "desk", CAPS)
    wire = server_conn.send(init)
    # After the name: three U16 counts and padding, then 16 bytes per capability.
    assert wire[24 + 4 :][:8] == b"\0\x01\0\x01\0\x02\0\0"
    assert wire[32 + 4 :] == (
        b"\0\0\0\x96TGHTCUS_EOCU\0\0\0\x96TGHTCUC_ENCU"
        b"\0\0\0\x07TGHTTIGHT___\xff\xff\xff\xe0TGHTJPEGQLVL"
    )
    for byte in wire[:-1]:
        client_conn.receive_data(bytes([byte]))
        assert client_conn.next_event() is NEED_DATA
    client_conn.receive_data(wire[-1:])
    assert client_conn.next_event() == init
    assert client_conn.phase is Phase.NORMAL


def test_empty_capabilities_still_carry_the_header_after_tight() -> None:
    server_conn, client_conn = handshake_to_tight((3, 8))
    server, client = run_tight(server_conn, client_conn)
    server_conn.security_handled(server.trailing_data(), like_none=server.authenticates_nothing)
    client_conn.security_handled(client.trailing_data(), like_none=True)
    client_conn.receive_data(server_conn.send(SecurityResult(ok=True)))
    client_conn.next_event()
    server_conn.receive_data(client_conn.send(ClientInit(shared=True)))
    server_conn.next_event()
    wire = server_conn.send(ServerInit(8, 8, BGRX, ""))
    assert wire[-8:] == bytes(8)
    client_conn.receive_data(wire)
    assert client_conn.next_event() == ServerInit(8, 8, BGRX, "")


def test_no_authentication_before_3_8_has_no_security_result() -> None:
    """rfbproto: an empty list (or "none") proceeds at security type None, which has no
    SecurityResult in 3.7 (libvncserver sends one only from 3.8 on)."""
    server_conn, client_conn = handshake_to_tight((3, 7))
    server, client = run_tight(server_conn, client_conn)
    server_conn.security_handled(server.trailing_data(), like_none=True)
    client_conn.security_handled(client.trailing_data(), like_none=True)
    assert server_conn.phase is client_conn.phase is Phase.CLIENT_INIT


def test_capability_lists_in_server_init_are_bounded() -> None:
    server_conn, client_conn = handshake_to_tight((3, 8))
    _, client = run_tight(server_conn, client_conn)
    client_conn.security_handled(client.trailing_data())
    client_conn.receive_data(b"\0\0\0\0")  # SecurityResult OK
    client_conn.next_event()
    client_conn.send(ClientInit(shared=True))
    client_conn.receive_data(b"\0\x08\0\x08" + BGRX.pack() + bytes(4))  # 8x8, no name
    client_conn.receive_data(b"\0\0\0\0\x01\x01\0\0")  # 257 encodings
    with pytest.raises(RemoteProtocolError, match="257 Tight encoding capabilities"):
        client_conn.next_event()


def test_capabilities_only_after_tight() -> None:
    server_conn, client_conn = handshake_to_tight((3, 8))
    server_conn.receive_data(client_conn.send(SecurityTypeChosen(SecurityType.VNC_AUTH)))
    server_conn.next_event()
    server_conn.send(VncAuthChallenge(bytes(16)))
    server_conn.receive_data(bytes(16) + b"\x01")
    server_conn.next_event()
    server_conn.send(SecurityResult(ok=True))
    server_conn.next_event()
    with pytest.raises(LocalProtocolError, match="only after Tight security"):
        server_conn.send(ServerInit(8, 8, BGRX, "", CAPS))


def take_turn(handler: Tight, auth: AuthType) -> bool:
    """Say what ``handler`` must say now, if anything; False when it is the peer's turn or
    the exchange is over."""
    server = handler.side is Role.SERVER
    match handler.phase:
        case TPhase.TUNNEL_CHOICE if not server and NO_TUNNEL in handler.tunnels:
            handler.send(TunnelChosen(0))
        case TPhase.AUTH_CHOICE if not server and AUTH_CAPABILITIES[auth] in handler.auths:
            handler.send(AuthChosen(auth))
        case TPhase.VNC_CHALLENGE if server:
            handler.send(VncAuthChallenge(bytes(16)))
        case TPhase.VNC_RESPONSE if not server:
            handler.send(VncAuthResponse(bytes(16)))
        case TPhase.LOGIN if not server:
            handler.send(PlainCredentials("u", "p"))
        case _:
            return False
    return True


@given(st.binary(max_size=120), st.sampled_from(list(AuthType)))
def test_any_bytes_are_events_or_a_remote_error(data: bytes, auth: AuthType) -> None:
    """Whatever a peer sends, each side (taking its turns) answers with events, NEED_DATA
    or a RemoteProtocolError: never another exception."""
    for side in Role:
        handler = Tight(side)
        if side is Role.SERVER:
            handler.send(TunnelCapabilities())
            handler.send(AuthCapabilities(tuple(AUTH_CAPABILITIES.values())))
        handler.receive_data(data)
        try:
            while take_turn(handler, auth) or handler.next_event() is not NEED_DATA:
                pass
        except RemoteProtocolError:
            assert handler.phase is TPhase.CLOSED


@given(
    st.lists(st.sampled_from(list(AUTH_CAPABILITIES.values())), max_size=3, unique=True),
    st.text(max_size=40),
    st.text(max_size=40),
)
def test_round_trip_any_offer_and_login(auths: list[Capability], user: str, password: str) -> None:
    server, client = offered(*auths)
    if LOGIN in auths:
        exchange(client, server, AuthChosen(AuthType.UNIX_LOGIN))
        exchange(client, server, PlainCredentials(user, password))
    assert server.phase is TPhase.DONE or LOGIN not in auths
