"""VeNCrypt against a running vncd on 127.0.0.1: our protocol client over real TLS for each
subtype, `[security] types` deciding the offer, and the refusals (wrong password, wrong
user, a certificate the client does not trust, an old VeNCrypt version)."""

from __future__ import annotations

import datetime
import ssl
import stat
from pathlib import Path

import pytest
import trio
import trio_websocket
from cryptography import x509

from protocol import (
    NEED_DATA,
    ClientInit,
    Framebuffer,
    HandshakeFailed,
    ProtocolVersion,
    Role,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import Exchange, SecurityType
from protocol.security.vencrypt import (
    X509_TLS,
    PlainCredentials,
    StartTLS,
    Subtype,
    SubtypeChosen,
    Subtypes,
    VeNCrypt,
    VeNCryptVersion,
)
from protocol.security.vencrypt import Phase as VPhase
from protocol.security.vncauth import encrypt_challenge
from vncd.cli import main
from vncd.offer import TYPE_NAMES, needs_of, offer
from vncd.transports import WebSocketStream, server_context
from vncd.transports.prefixed import PrefixedStream
from vncd.vencrypt import ANONYMOUS_CIPHERS

from .certificates import make_certificate, tls_config
from .netharness import receive_all, receive_exactly, running_vncd
from .userfiles import users_file
from .viewer import Viewer

PASSWORD = "s3cret"
USERS = {"anne": "annes-pw", "otto": "ottos-pw"}
VIEWERS = frozenset({"otto"})  # view-only users


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path / "tls")


def vencrypt_config(certificate: tuple[Path, Path], *types: str) -> str:
    names = ", ".join(f'"{name}"' for name in types)
    return (
        tls_config(certificate)
        + f'[server]\npassword = "{PASSWORD}"\n[security]\ntypes = [{names}]\n'
        + f'users_file = "{users_file(certificate[0].parent / "users", USERS, VIEWERS)}"\n'
    )


def client_context(subtype: int, cafile: Path) -> ssl.SSLContext:
    if subtype in X509_TLS:
        return ssl.create_default_context(cafile=str(cafile))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ANONYMOUS_CIPHERS)
    return context


async def receive_event(handler: Exchange, stream: trio.abc.Stream) -> object:
    """The handler's next event, reading the stream as needed."""
    while (event := handler.next_event()) is NEED_DATA:
        data = await stream.receive_some(65536)
        assert data, f"closed during {handler.NAME} {handler.phase.name}"
        handler.receive_data(data)
    return event


async def connect(
    port: int,
    subtype: int,
    cafile: Path,
    *,
    password: str = PASSWORD,
    user: str = "anne",
) -> tuple[Viewer, SecurityResult]:
    """Up to the SecurityResult through VeNCrypt ``subtype``; the viewer reads on from the
    TLS stream."""
    viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", port))
    assert isinstance(await viewer.next_event(), ProtocolVersion)
    await viewer.send(ProtocolVersion(3, 8))
    offer = await viewer.next_event()
    assert isinstance(offer, SecurityTypes) and SecurityType.VENCRYPT in offer.types, offer
    await viewer.send(SecurityTypeChosen(SecurityType.VENCRYPT))
    handler = VeNCrypt(Role.CLIENT)
    handler.receive_data(viewer.conn.hand_over())
    assert await receive_event(handler, viewer.stream) == VeNCryptVersion(0, 2)
    await viewer.stream.send_all(handler.send(VeNCryptVersion(0, 2)))
    subtypes = await receive_event(handler, viewer.stream)
    assert isinstance(subtypes, Subtypes) and subtype in subtypes.subtypes, subtypes
    await viewer.stream.send_all(handler.send(SubtypeChosen(subtype)))
    if handler.phase is VPhase.START_TLS:
        assert await receive_event(handler, viewer.stream) == StartTLS()
        raw = PrefixedStream(viewer.stream, handler.trailing_data())
        tls = trio.SSLStream(raw, client_context(subtype, cafile), server_hostname="localhost")
        await tls.do_handshake()
        viewer.stream = tls
        handler.tls_started()
    if handler.phase is VPhase.VNC_CHALLENGE:
        challenge = await receive_event(handler, viewer.stream)
        assert isinstance(challenge, VncAuthChallenge)
        response = encrypt_challenge(challenge.challenge, password)
        await viewer.stream.send_all(handler.send(VncAuthResponse(response)))
    elif handler.phase is VPhase.PLAIN_CREDENTIALS:
        await viewer.stream.send_all(handler.send(PlainCredentials(user, password)))
    assert handler.phase is VPhase.DONE
    viewer.conn.security_handled(handler.trailing_data())
    result = await viewer.next_event()
    assert isinstance(result, SecurityResult)
    return viewer, result


async def finish(viewer: Viewer) -> ServerInit:
    """ClientInit, ServerInit and a whole update (inside TLS, if the handler started it)."""
    await viewer.send(ClientInit(shared=True))
    init = await viewer.next_event()
    assert isinstance(init, ServerInit) and (init.width, init.height) == (160, 120)
    viewer.framebuffer = Framebuffer.blank(160, 120)
    await viewer.full_update()
    return init


@pytest.mark.parametrize(
    ("subtype", "password"),
    [
        (Subtype.X509_VNC, PASSWORD),
        (Subtype.X509_PLAIN, "annes-pw"),
        (Subtype.X509_NONE, ""),
        (Subtype.TLS_VNC, PASSWORD),
        (Subtype.TLS_PLAIN, "annes-pw"),
        (Subtype.TLS_NONE, ""),
        (Subtype.PLAIN, "annes-pw"),
    ],
)
async def test_each_subtype_admits(
    certificate: tuple[Path, Path], subtype: Subtype, password: str
) -> None:
    names = {value: name for name, value in TYPE_NAMES.items()}
    async with running_vncd(vencrypt_config(certificate, names[subtype])) as running:
        with trio.fail_after(10):
            viewer, result = await connect(running.port, subtype, certificate[0], password=password)
            assert result == SecurityResult(ok=True)
            if subtype != Subtype.PLAIN:
                assert isinstance(viewer.stream, trio.SSLStream)
                assert viewer.stream.version() in ("TLSv1.2", "TLSv1.3")
            await finish(viewer)


async def test_types_decide_the_offer_and_its_order(certificate: tuple[Path, Path]) -> None:
    text = vencrypt_config(certificate, "X509Vnc", "VncAuth", "TLSVnc", "X509Plain")
    async with running_vncd(text) as running:
        stream = await trio.open_tcp_stream("127.0.0.1", running.port)
        viewer = Viewer(stream)
        await viewer.next_event()
        await viewer.send(ProtocolVersion(3, 8))
        assert await viewer.next_event() == SecurityTypes((19, 2))
        await viewer.send(SecurityTypeChosen(19))
        await stream.send_all(b"\x00\x02")
        # Version 0.2, status OK, three subtypes in the configured order: 261, 258, 262.
        with trio.fail_after(5):
            wire = await receive_exactly(stream, 16)
        assert wire == b"\x00\x02\x00\x03" + b"".join(n.to_bytes(4, "big") for n in (261, 258, 262))


async def test_vnc_auth_is_still_offered_beside(certificate: tuple[Path, Path]) -> None:
    async with running_vncd(vencrypt_config(certificate, "X509Vnc", "VncAuth")) as running:
        viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", running.port))
        with trio.fail_after(10):
            init = await viewer.handshake(PASSWORD, security=SecurityType.VNC_AUTH)
        assert isinstance(init, ServerInit)


@pytest.mark.parametrize(
    ("subtype", "password", "user"),
    [
        (Subtype.X509_VNC, "wrong", ""),
        (Subtype.X509_PLAIN, "wrong", "anne"),
        (Subtype.X509_PLAIN, "annes-pw", "bob"),
    ],
)
async def test_wrong_credentials_are_refused_with_a_reason(
    certificate: tuple[Path, Path], subtype: Subtype, password: str, user: str
) -> None:
    async with running_vncd(vencrypt_config(certificate, "X509Vnc", "X509Plain")) as running:
        with trio.fail_after(10):
            _, result = await connect(
                running.port, subtype, certificate[0], password=password, user=user
            )
        assert result == SecurityResult(ok=False, reason="authentication failed")


async def test_untrusted_certificate_is_refused_by_the_client(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    other, _ = make_certificate(tmp_path / "other")
    async with running_vncd(vencrypt_config(certificate, "X509Vnc")) as running:
        with trio.fail_after(10), pytest.raises(trio.BrokenResourceError) as caught:
            await connect(running.port, Subtype.X509_VNC, other)
        assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
        assert "self-signed certificate" in str(caught.value.__cause__)


async def test_old_vencrypt_version_is_refused(certificate: tuple[Path, Path]) -> None:
    async with running_vncd(vencrypt_config(certificate, "X509Vnc")) as running:
        stream = await trio.open_tcp_stream("127.0.0.1", running.port)
        viewer = Viewer(stream)
        await viewer.next_event()
        await viewer.send(ProtocolVersion(3, 8))
        await viewer.next_event()
        await viewer.send(SecurityTypeChosen(19))
        await stream.send_all(b"\x00\x01")  # VeNCrypt 0.1
        # The server's 0.2, then 0xFF (not supported), then it closes.
        assert await receive_all(stream, timeout=5) == b"\x00\x02\xff"


async def test_anonymous_tls_has_no_certificate(certificate: tuple[Path, Path]) -> None:
    async with running_vncd(vencrypt_config(certificate, "TLSVnc")) as running:
        with trio.fail_after(10):
            viewer, result = await connect(running.port, Subtype.TLS_VNC, certificate[0])
        assert result.ok
        assert isinstance(viewer.stream, trio.SSLStream)
        assert viewer.stream.getpeercert(binary_form=True) is None
        assert viewer.stream.cipher()[0].startswith(("AECDH", "ADH"))


async def test_websocket_viewers_are_not_offered_vencrypt() -> None:
    """noVNC takes the first type it knows: VeNCrypt would be chosen and then fail."""
    text = '[server]\npassword = "s3cret"\n[security]\ntypes = ["TLSVnc", "VncAuth"]\n'
    async with (
        running_vncd(text) as running,
        trio_websocket.open_websocket(
            "127.0.0.1", running.port, "/websockify", use_ssl=False, subprotocols=["binary"]
        ) as connection,
    ):
        viewer = Viewer(WebSocketStream(connection))
        with trio.fail_after(10):
            assert isinstance(await viewer.next_event(), ProtocolVersion)
            await viewer.send(ProtocolVersion(3, 8))
            offer = await viewer.next_event()
        assert isinstance(offer, SecurityTypes)
        assert SecurityType.VENCRYPT not in offer.types
        assert offer.types[-1] == SecurityType.VNC_AUTH


def test_offer_puts_vencrypt_where_its_first_subtype_is_named() -> None:
    assert offer(["VncAuth", "X509Vnc", "None", "TLSPlain"]) == ((2, 19, 1), (261, 259))
    assert offer(["None"]) == ((1,), ())
    assert needs_of("X509Plain") == ("certificate", "users")
    assert needs_of("TLSVnc") == ("password",)
    assert needs_of("TLSNone") == ()
    assert needs_of("RA2ne") == ("secret",)
    assert offer(["RA2ne", "X509Vnc", "VncAuth"]) == ((6, 19, 2), (261,))


def test_vncd_cert_writes_a_pair_that_loads(tmp_path: Path) -> None:
    directory = tmp_path / "first-run"
    assert main(["cert", str(directory), "--name", "localhost", "--name", "127.0.0.1"]) == 0
    certificate, key = directory / "cert.pem", directory / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    assert loaded.not_valid_after_utc - loaded.not_valid_before_utc > datetime.timedelta(days=364)
    server_context(certificate, key)  # loads as [tls] would
    client = ssl.create_default_context(cafile=str(certificate))
    assert client.cert_store_stats()["x509_ca"] == 1
    # Never overwrites: a second run fails and leaves the pair alone.
    before = key.read_bytes()
    assert main(["cert", str(directory)]) == 1
    assert key.read_bytes() == before


async def test_wrong_passwords_count_towards_the_back_off(certificate: tuple[Path, Path]) -> None:
    text = vencrypt_config(certificate, "X509Vnc") + "[limits]\nauth_failures = 1\n"
    async with running_vncd(text) as running:
        with trio.fail_after(10):
            _, result = await connect(running.port, Subtype.X509_VNC, certificate[0], password="x")
            assert not result.ok and "too many failures" in result.reason
            viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", running.port))
            await viewer.next_event()
            await viewer.send(ProtocolVersion(3, 8))
            refusal = await viewer.next_event()
        # Blocked before the offer, whatever password it would bring.
        assert isinstance(refusal, HandshakeFailed)
        assert "too many failed authentications" in refusal.reason
