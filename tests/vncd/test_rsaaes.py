"""RSA-AES in vncd: the persistent server key, the offer per transport, RA2ne and RA2ne_256
with the full and the view-only password over a real socket, refusals, hostile input."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
import trio
from Crypto.PublicKey import RSA

from protocol import KeyEvent, ProtocolVersion, SecurityResult, ServerInit
from protocol.security.rsaaes import RsaAesType, public_key_message
from vncd.config import ConfigError, parse_config
from vncd.rsaaes import EncryptedStream
from vncd.serverkey import default_path, load_or_create
from vncd.transports import WebSocketStream

from .harness import ArraySource, running_hub
from .netharness import GREETING, receive_exactly, running_vncd
from .test_cli import assert_clean_errors, vncd
from .test_websocket import websocket
from .viewer import Viewer

RA2NE, RA2NE_256 = RsaAesType.RA2NE, RsaAesType.RA2NE_256
RA2, RA2_256 = RsaAesType.RA2, RsaAesType.RA2_256
OFFER = (RA2_256, RA2, RA2NE_256, RA2NE)


def settings(tmp_path: Path) -> dict[str, str]:
    return {"server__password": "secret", "security__rsa_key": str(tmp_path / "key.pem")}


async def login(stream: trio.abc.Stream, password: str, security: int) -> Viewer:
    viewer = Viewer(stream)
    with trio.fail_after(10):
        result = await viewer.handshake(password=password, security=security)
    assert isinstance(result, ServerInit), result
    return viewer


async def offer(stream: trio.abc.Stream) -> tuple[int, ...]:
    viewer = Viewer(stream)
    with trio.fail_after(10):
        assert isinstance(await viewer.next_event(), ProtocolVersion)
        await viewer.send(ProtocolVersion(3, 8))
        return (await viewer.next_event()).types


async def test_key_made_on_first_use_kept_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "key.pem"
    async with running_vncd(server__password="secret", security__rsa_key=str(path)) as running:
        stream = await running.connect()
        assert await offer(stream) == (2, *OFFER)
        await stream.send_all(b"\x06")  # SecurityTypeChosen(RA2ne): the server's key comes
        shown = await receive_exactly(stream, 4 + 2 * 256)
    assert path.stat().st_mode & 0o777 == 0o600
    kept = RSA.import_key(path.read_bytes())
    assert kept.n.bit_length() == 2048
    assert shown == public_key_message(kept)
    assert load_or_create(path) == kept  # a restart keeps it


@pytest.mark.parametrize("security", OFFER)
async def test_full_password_over_tcp(tmp_path: Path, security: int) -> None:
    async with running_vncd(**settings(tmp_path)) as running:
        viewer = await login(await running.connect(), "secret", security)
        update = await viewer.full_update()
        assert update.rectangles
        assert isinstance(viewer.stream, EncryptedStream) == (security in (RA2, RA2_256))


async def test_ra2_encrypts_everything_after_the_handshake(tmp_path: Path) -> None:
    """Over RA2 the server's bytes are AES-EAX messages: U16 length, ciphertext, 16-byte
    tag; the demo desktop's name never appears in the clear."""
    async with running_vncd(**settings(tmp_path), server__name="secret-desktop") as running:
        raw = await running.connect()
        seen = bytearray()

        class Tap(trio.abc.Stream):
            async def send_all(self, data) -> None:
                await raw.send_all(data)

            async def wait_send_all_might_not_block(self) -> None:
                await raw.wait_send_all_might_not_block()

            async def receive_some(self, max_bytes=None) -> bytes:
                data = await raw.receive_some(max_bytes)
                seen.extend(data)
                return data

            async def aclose(self) -> None:
                await raw.aclose()

        viewer = await login(Tap(), "secret", RA2)
        assert viewer.server_init.name == "secret-desktop"
        await viewer.full_update()
        assert b"secret-desktop" not in seen


async def test_wrong_password_is_refused_with_a_reason(tmp_path: Path) -> None:
    async with running_vncd(**settings(tmp_path)) as running:
        viewer = Viewer(await running.connect())
        with trio.fail_after(10):
            result = await viewer.handshake(password="wrong", security=RA2NE)
        assert result == SecurityResult(ok=False, reason="authentication failed")
        # The VNC password is compared whole, not cut to VNC authentication's 8 bytes.
        viewer = Viewer(await running.connect())
        with trio.fail_after(10):
            result = await viewer.handshake(password="secret!!", security=RA2NE)
        assert not result.ok


async def test_browsers_get_rsa_aes_first(tmp_path: Path) -> None:
    """noVNC takes the first type it knows: RA2ne (6); it knows none of 129, 5, 130."""
    async with running_vncd(**settings(tmp_path)) as running:
        async with websocket(running) as connection:
            assert await offer(WebSocketStream(connection)) == (*OFFER, 2)
        async with websocket(running) as connection:
            viewer = await login(WebSocketStream(connection), "secret", RA2NE)
            await viewer.full_update()


async def test_no_rsa_aes_without_a_password_or_before_3_8(tmp_path: Path) -> None:
    async with running_vncd(security__rsa_key=str(tmp_path / "key.pem")) as running:
        assert await offer(await running.connect()) == (1,)
    assert not (tmp_path / "key.pem").exists()
    async with running_vncd(**settings(tmp_path)) as running:
        stream = await running.connect()
        assert await receive_exactly(stream, 12) == GREETING
        await stream.send_all(b"RFB 003.007\n")
        assert await receive_exactly(stream, 2) == b"\x01\x02"


async def test_hostile_client_key_drops_only_that_viewer(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="vncd")
    async with running_vncd(**settings(tmp_path)) as running:
        stream = await running.connect()
        await offer(stream)
        await stream.send_all(b"\x06")
        await receive_exactly(stream, 4 + 2 * 256)
        await stream.send_all(struct.pack(">I", 100_000))  # 100000 bits: over the limit
        with trio.fail_after(5):
            assert await stream.receive_some(100) == b""
        assert "key has 100000 bits; allowed: 1024..8192" in caplog.text
        viewer = await login(await running.connect(), "secret", RA2NE)
        await viewer.full_update()


async def test_view_only_password(autojump_clock) -> None:
    source = ArraySource()
    key = RSA.generate(1024)
    access = {"password": "secret", "view_only_password": "look", "rsa_key": key}
    async with running_hub(source, **access) as harness:
        watcher = harness.connect()
        assert isinstance(await watcher.handshake(password="look", security=RA2NE), ServerInit)
        driver = harness.connect()
        assert isinstance(await driver.handshake(password="secret", security=RA2NE), ServerInit)
        await watcher.send(KeyEvent(True, 0x61))
        await watcher.full_update()
        assert source.keys == []
        await driver.send(KeyEvent(True, 0x62))
        await driver.full_update()
        assert source.keys == [(0x62, True)]


def test_a_broken_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("not a key")
    with pytest.raises(ConfigError, match=r"security.rsa_key = .*key.pem.*not an RSA private key"):
        parse_config(f'[server]\npassword = "p"\n[security]\nrsa_key = "{path}"\n', "test.toml")
    path.write_bytes(RSA.generate(1024).public_key().export_key())
    with pytest.raises(ConfigError, match="holds a public key only"):
        parse_config(
            "[server]\npassword = 'p'\n[security]\nrsa_key = 'key.pem'\n",
            "test.toml",
            base_dir=tmp_path,
        )


async def test_an_unwritable_key_path_leaves_rsa_aes_unoffered(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="vncd")
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "key.pem"  # under a file: no directory can be made there
    async with running_vncd(server__password="secret", security__rsa_key=str(path)) as running:
        assert await offer(await running.connect()) == (2,)
    assert f"RSA-AES not offered: cannot write its key {path}" in caplog.text


def test_default_key_path(monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/var/state")
    assert default_path() == Path("/var/state/vncd/rsa_key.pem")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", "/home/anna")
    assert default_path() == Path("/home/anna/.local/state/vncd/rsa_key.pem")


def test_vncd_run_with_a_broken_key_exits_2(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("not a key")
    config = tmp_path / "vncd.toml"
    config.write_text('[server]\npassword = "p"\nport = 0\n[security]\nrsa_key = "key.pem"\n')
    [line] = assert_clean_errors(vncd("run", str(config)), 1)
    assert f'security.rsa_key = "{tmp_path / "key.pem"}": not an RSA private key' in line


async def test_wrong_passwords_count_towards_the_back_off(tmp_path: Path) -> None:
    async with running_vncd(**settings(tmp_path), limits__auth_failures=2) as running:
        reasons = []
        for _ in range(2):
            viewer = Viewer(await running.connect())
            with trio.fail_after(10):
                reasons.append((await viewer.handshake(password="nope", security=RA2NE)).reason)
        assert reasons[0] == "authentication failed"
        assert "too many failures: this address must wait" in reasons[1]


async def test_security_types_can_name_rsa_aes(tmp_path: Path) -> None:
    """``[security] types`` offers RSA-AES by name, in the order given."""
    types = ["RA2ne", "VncAuth", "RA2_256"]
    async with running_vncd(**settings(tmp_path), security__types=types) as running:
        assert await offer(await running.connect()) == (RA2NE, 2, RA2_256)
        viewer = await login(await running.connect(), "secret", RA2NE)
        await viewer.full_update()


async def test_named_rsa_aes_is_left_out_without_a_server_key(tmp_path: Path) -> None:
    unwritable = tmp_path / "file"
    unwritable.write_text("")
    path = unwritable / "key.pem"  # below a file: cannot be written
    async with running_vncd(
        server__password="secret", security__rsa_key=str(path), security__types=["RA2ne", "VncAuth"]
    ) as running:
        assert await offer(await running.connect()) == (2,)
