"""Tight security (type 16) against a running vncd on 127.0.0.1, with our protocol client:
what vncd offers inside it (Unix login with a users file, VNC authentication with a
password, nothing only when there is neither), the interaction capabilities after
ServerInit, the refusals, and a client that breaks the exchange."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from protocol import (
    Capability,
    ClientInit,
    Framebuffer,
    HandshakeFailed,
    KeyEvent,
    ProtocolVersion,
    Role,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import SecurityType
from protocol.security.tight import (
    AUTH_CAPABILITIES,
    ENCODING_CAPABILITIES,
    AuthCapabilities,
    AuthChosen,
    AuthType,
    PlainCredentials,
    Tight,
    TunnelCapabilities,
)
from protocol.security.tight import Phase as TPhase
from protocol.security.vncauth import encrypt_challenge
from vncd.cursor import POSITION_ENCODINGS, SHAPE_ENCODINGS
from vncd.offer import needs_of, offer
from vncd.tight import HONOURED_PSEUDO_ENCODINGS, interaction_capabilities
from vncd.updates import offered_encodings
from vncd.users import UserBook

from .harness import ArraySource, running_hub
from .netharness import receive_all, running_vncd
from .test_vencrypt import finish, receive_event
from .userfiles import users_file
from .viewer import Viewer

PASSWORD = "s3cret"
USERS = {"anne": "annes-pw", "otto": "ottos-pw"}
LOGIN = AUTH_CAPABILITIES[AuthType.UNIX_LOGIN]
A = 0x61  # keysym "a"
VNC = AUTH_CAPABILITIES[AuthType.VNC_AUTH]


def tight_config(tmp_path: Path, *, password: bool = True, users: bool = True) -> str:
    text = '[security]\ntypes = ["Tight"]\n'
    if users:
        text += f'users_file = "{users_file(tmp_path / "users", USERS)}"\n'
    if password:
        text += f'[server]\npassword = "{PASSWORD}"\n'
    return text


async def offered(port: int | Viewer, version: tuple[int, int] = (3, 8)) -> tuple[Viewer, Tight]:
    """A viewer (new, to ``port``) that chose Tight and read vncd's tunnels and
    authentications."""
    if isinstance(port, int):
        viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", port))
    else:
        viewer = port
    assert isinstance(await viewer.next_event(), ProtocolVersion)
    await viewer.send(ProtocolVersion(*version))
    assert await viewer.next_event() == SecurityTypes((SecurityType.TIGHT,))
    await viewer.send(SecurityTypeChosen(SecurityType.TIGHT))
    handler = Tight(Role.CLIENT)
    handler.receive_data(viewer.conn.hand_over())
    assert await receive_event(handler, viewer.stream) == TunnelCapabilities()
    assert isinstance(await receive_event(handler, viewer.stream), AuthCapabilities)
    return viewer, handler


async def authenticate(
    port: int | Viewer, auth: AuthType, password: str, user: str = ""
) -> tuple[Viewer, SecurityResult]:
    """Through Tight with ``auth``, up to the SecurityResult."""
    viewer, handler = await offered(port)
    await viewer.stream.send_all(handler.send(AuthChosen(auth)))
    if auth == AuthType.VNC_AUTH:
        challenge = await receive_event(handler, viewer.stream)
        assert isinstance(challenge, VncAuthChallenge)
        response = encrypt_challenge(challenge.challenge, password)
        await viewer.stream.send_all(handler.send(VncAuthResponse(response)))
    else:
        await viewer.stream.send_all(handler.send(PlainCredentials(user, password)))
    viewer.conn.security_handled(handler.trailing_data())
    result = await viewer.next_event()
    assert isinstance(result, SecurityResult)
    return viewer, result


def test_tight_is_a_type_name_that_needs_nothing() -> None:
    assert offer(["Tight", "VncAuth"]) == ((16, 2), ())
    assert needs_of("Tight") == ()


@pytest.mark.parametrize(
    ("auth", "user", "password"),
    [(AuthType.UNIX_LOGIN, "anne", "annes-pw"), (AuthType.VNC_AUTH, "", PASSWORD)],
)
async def test_login_and_vnc_auth_admit(
    tmp_path: Path, auth: AuthType, user: str, password: str
) -> None:
    async with running_vncd(tight_config(tmp_path)) as running:
        with trio.fail_after(10):
            viewer, handler = await offered(running.port)
            assert handler.auths == (LOGIN, VNC)  # login first
            viewer, result = await authenticate(running.port, auth, password, user)
            assert result == SecurityResult(ok=True)
            init = await finish(viewer)
    assert init.capabilities == interaction_capabilities(offered_encodings(h264=False))


def test_capabilities_list_only_what_vncd_does() -> None:
    caps = interaction_capabilities(offered_encodings(h264=False))
    codes = [capability.code for capability in caps.encodings]
    # Pixel encodings it offers, CopyRect, and honoured pseudo-encodings: never CoRRE,
    # ZlibHex or LastRect, which vncd does not send.
    assert codes == [1, 2, 5, 6, 7, -32, -223, -232, -239, -240, -256, -512, -768]
    assert {code for code in codes if code < 0} <= HONOURED_PSEUDO_ENCODINGS
    assert {-232, -239, -240} <= {*SHAPE_ENCODINGS, *POSITION_ENCODINGS}
    assert caps.encodings[4] == ENCODING_CAPABILITIES[7] == Capability(7, b"TGHT", b"TIGHT___")
    assert [c.signature for c in (*caps.server_messages, *caps.client_messages)] == [
        b"CUS_EOCU",
        b"CUC_ENCU",
    ]


@pytest.mark.parametrize(("password", "users"), [(True, False), (False, True)])
async def test_offer_follows_what_is_configured(
    tmp_path: Path, password: bool, users: bool
) -> None:
    text = tight_config(tmp_path, password=password, users=users)
    async with running_vncd(text) as running:
        with trio.fail_after(10):
            _, handler = await offered(running.port)
    assert handler.auths == ((VNC,) if password else (LOGIN,))


@pytest.mark.parametrize("version", [(3, 8), (3, 7)])
async def test_nothing_configured_means_no_authentication(
    tmp_path: Path, version: tuple[int, int]
) -> None:
    """An empty list: as security type None, with a SecurityResult from 3.8 on only."""
    async with running_vncd(tight_config(tmp_path, password=False, users=False)) as running:
        with trio.fail_after(10):
            viewer, handler = await offered(running.port, version)
            assert handler.auths == () and handler.phase is TPhase.DONE
            viewer.conn.security_handled(handler.trailing_data(), like_none=True)
            if version == (3, 8):
                assert await viewer.next_event() == SecurityResult(ok=True)
            init = await finish(viewer)
    assert init.capabilities.encodings


@pytest.mark.parametrize(
    ("auth", "user", "password"),
    [
        (AuthType.VNC_AUTH, "", "wrong"),
        (AuthType.UNIX_LOGIN, "anne", "wrong"),
        (AuthType.UNIX_LOGIN, "bob", "annes-pw"),
    ],
)
async def test_wrong_password_or_user_is_refused_with_a_reason(
    tmp_path: Path, auth: AuthType, user: str, password: str
) -> None:
    async with running_vncd(tight_config(tmp_path)) as running:
        with trio.fail_after(10):
            viewer, result = await authenticate(running.port, auth, password, user)
            assert result == SecurityResult(ok=False, reason="authentication failed")
            assert await receive_all(viewer.stream) == b""


async def test_an_unoffered_choice_closes_that_viewer_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vncd")
    async with running_vncd(tight_config(tmp_path, users=False)) as running:
        with trio.fail_after(10):
            viewer, _ = await offered(running.port)
            await viewer.stream.send_all(b"\0\0\0\x81")  # Unix login: not offered
            assert await receive_all(viewer.stream) == b""
            other, result = await authenticate(running.port, AuthType.VNC_AUTH, PASSWORD)
            assert result.ok
            await finish(other)
    assert "protocol error: Tight authentication 129 was not offered [2]" in caplog.text


async def test_wrong_logins_count_towards_the_back_off(tmp_path: Path) -> None:
    text = tight_config(tmp_path) + "[limits]\nauth_failures = 1\n"
    async with running_vncd(text) as running:
        with trio.fail_after(10):
            _, result = await authenticate(running.port, AuthType.UNIX_LOGIN, "x", "anne")
            assert not result.ok and "too many failures" in result.reason
            viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", running.port))
            await viewer.next_event()
            await viewer.send(ProtocolVersion(3, 8))
            refusal = await viewer.next_event()
        # Blocked before the offer, whatever it would bring.
        assert isinstance(refusal, HandshakeFailed)
        assert "too many failed authentications" in refusal.reason


async def test_each_user_keeps_their_access(tmp_path: Path) -> None:
    """otto is view-only in the users file: logged in through Tight, his input is dropped."""
    path = users_file(tmp_path / "users", USERS, frozenset({"otto"}))
    source = ArraySource(64, 48)
    access = {"users": UserBook(path), "security_types": (SecurityType.TIGHT,)}
    async with running_hub(source, **access) as hub:
        viewers = []
        for user in ("anne", "otto"):
            viewer, result = await authenticate(
                hub.connect(), AuthType.UNIX_LOGIN, USERS[user], user
            )
            assert result.ok
            await viewer.send(ClientInit(shared=True))
            assert isinstance(await viewer.next_event(), ServerInit)
            viewer.framebuffer = Framebuffer.blank(64, 48)
            viewers.append(viewer)
        for viewer in viewers:
            await viewer.send(KeyEvent(True, A), KeyEvent(False, A))
            await viewer.full_update()
        assert source.keys == [(A, True), (A, False)]  # anne's only
        assert sorted(session.view_only for session in hub.hub.sessions) == [False, True]
