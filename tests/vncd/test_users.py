"""The users file (vncd.users): hashes, the file format, reloading, `vncd passwd --user`, and
the named logins that use it: RSA-AES with a user name and VeNCrypt Plain, with per-user
view-only sessions."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
import trio
from Crypto.PublicKey import RSA

from protocol import (
    HandshakeFailed,
    KeyEvent,
    PointerEvent,
    ProtocolVersion,
    SecurityResult,
    ServerInit,
)
from protocol.security.rsaaes import RsaAesType
from vncd.cli import main
from vncd.handshake import NO_TYPE_FOR_3_3
from vncd.users import (
    COST,
    User,
    UserBook,
    _decoy,
    hash_password,
    parse_users,
    password_matches,
    read_users,
    verify,
    write_users,
)

from .harness import ArraySource, running_hub
from .userfiles import CHEAP, users_file

A = 0x61


def test_hash_is_salted_and_checks_the_password() -> None:
    first, second = hash_password("pw", cost=CHEAP), hash_password("pw", cost=CHEAP)
    assert first != second  # a fresh salt each time
    assert first.startswith(f"scrypt${CHEAP[0]}${CHEAP[1]}${CHEAP[2]}$")
    assert password_matches("pw", first) and password_matches("pw", second)
    assert not password_matches("pw ", first)
    assert not password_matches("", first)
    assert password_matches("Grüße", hash_password("Grüße", cost=CHEAP))


def test_default_cost_and_the_decoy_cost_the_same() -> None:
    """An unknown name is checked against a decoy with vncd's own cost, so that it takes as
    long as a known one."""
    assert hash_password("pw").startswith(f"scrypt${COST[0]}${COST[1]}${COST[2]}$")
    assert _decoy().startswith(f"scrypt${COST[0]}${COST[1]}${COST[2]}$")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("anne", "line 2: expected name:hash:access"),
        ("anne:scrypt$32$8$1$AAAA$AAAA:full", "line 2: the hash's salt or digest has the wrong"),
        ("anne:md5$x:full", "line 2: the hash is not scrypt$N$r$p$salt$hash"),
        ("anne:scrypt$33$8$1$AAAA$AAAA:full", "line 2: scrypt N=33, r=8, p=1 is not a cost"),
        ("anne:scrypt$1048576$8$1$AAAA$AAAA:full", "line 2: scrypt N=1048576, r=8, p=1 is not"),
        ("anne:scrypt$32$8$1$!!$AAAA:full", "line 2: the hash's numbers or base64 are malformed"),
        ("anne:{hash}:admin", "line 2: access 'admin' is not one of full, view-only"),
        ("anne:{hash}:full\nanne:{hash}:full", "line 3: user 'anne' appears twice"),
    ],
)
def test_bad_lines_are_named(line: str, error: str) -> None:
    text = "# users\n" + line.format(hash=hash_password("pw", cost=CHEAP))
    with pytest.raises(ValueError, match="^" + error.replace("$", r"\$")):
        parse_users(text)


def test_file_round_trip_is_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "users"
    users = {
        "anne": User("anne", hash_password("a", cost=CHEAP)),
        "otto": User("otto", hash_password("o", cost=CHEAP), view_only=True),
    }
    write_users(path, users)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_users(path) == users
    assert os.listdir(tmp_path) == ["users"]  # no temporary file left behind


def test_book_reads_the_file_again_when_it_changes(tmp_path: Path, caplog) -> None:
    path = users_file(tmp_path / "users", {"anne": "a"})
    book = UserBook(path)
    assert book.get("anne") is not None and book.get("otto") is None
    users_file(path, {"otto": "o"})
    assert book.get("anne") is None and book.get("otto") is not None
    path.write_text("otto:broken:full\n")
    assert book.get("otto") is not None  # the last good users are kept...
    assert "keeping the users read before" in caplog.text  # ...and the operator is told


async def test_verify_gives_access_and_refuses_the_rest(tmp_path: Path) -> None:
    book = UserBook(users_file(tmp_path / "users", {"anne": "a", "otto": "o"}, {"otto"}))
    assert (await verify(book, "anne", "a")).ok
    assert not (await verify(book, "anne", "a")).view_only
    assert (await verify(book, "otto", "o")).view_only
    assert not (await verify(book, "anne", "o")).ok
    assert not (await verify(book, "nobody", "a")).ok
    assert not (await verify(None, "anne", "a")).ok


def passwd(*args: str, stdin: str = "") -> int:
    real = os.sys.stdin
    os.sys.stdin = io.StringIO(stdin)
    try:
        return main(["passwd", *args])
    finally:
        os.sys.stdin = real


def test_vncd_passwd_user_adds_changes_and_deletes(tmp_path: Path, capsys) -> None:
    path = tmp_path / "users"
    assert passwd("--user", "anne", "--stdin", str(path), stdin="first pw\n") == 0
    assert passwd("--user", "otto", "--view-only", "--stdin", str(path), stdin="o\n") == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = read_users(path)
    assert password_matches("first pw", users["anne"].hash) and not users["anne"].view_only
    assert users["otto"].view_only
    assert passwd("--user", "anne", "--stdin", str(path), stdin="second\n") == 0
    users = read_users(path)
    assert password_matches("second", users["anne"].hash) and "otto" in users
    assert passwd("--user", "otto", "--delete", str(path)) == 0
    assert list(read_users(path)) == ["anne"]
    capsys.readouterr()
    assert passwd("--user", "otto", "--delete", str(path)) == 2
    assert passwd("--user", "a:b", "--stdin", str(path), stdin="x\n") == 2
    assert passwd("--user", "anne", "--stdin", str(path), stdin="\n") == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        f"vncd: error: {path} has no user 'otto'",
        "vncd: error: --user: 'a:b' cannot be a user name (no ':', no control characters, "
        "no leading space or '#')",
        "vncd: error: the password is empty",
    ]


# --- named logins in the handshake --------------------------------------------------------

SERVER_KEY = RSA.generate(1024)


def named_access(tmp_path: Path) -> dict:
    path = users_file(tmp_path / "users", {"anne": "annes-pw", "otto": "ottos-pw"}, {"otto"})
    return {"rsa_key": SERVER_KEY, "users": UserBook(path)}


@pytest.mark.parametrize("security", [RsaAesType.RA2NE, RsaAesType.RA2_256])
async def test_rsa_aes_asks_for_a_name_and_keeps_each_users_access(
    tmp_path: Path, security: int
) -> None:
    source = ArraySource(64, 48)
    async with running_hub(source, **named_access(tmp_path)) as hub:
        anne = hub.connect()
        init = await anne.handshake("annes-pw", security=security, user="anne")
        assert isinstance(init, ServerInit)
        otto = hub.connect()
        init = await otto.handshake("ottos-pw", security=security, user="otto")
        assert isinstance(init, ServerInit)
        for viewer in (anne, otto):
            await viewer.send(KeyEvent(True, A), KeyEvent(False, A), PointerEvent(1, 5, 5))
            await viewer.full_update()
        # otto is view-only: only anne's input reached the desktop.
        assert source.keys == [(A, True), (A, False)]
        assert len(source.pointer) == 1
        assert sorted(session.view_only for session in hub.hub.sessions) == [False, True]


@pytest.mark.parametrize(("user", "password"), [("anne", "ottos-pw"), ("nobody", "annes-pw")])
async def test_rsa_aes_refuses_a_wrong_name_or_password(
    tmp_path: Path, user: str, password: str
) -> None:
    async with running_hub(ArraySource(64, 48), **named_access(tmp_path)) as hub:
        result = await hub.connect().handshake(password, security=RsaAesType.RA2NE, user=user)
    assert result == SecurityResult(ok=False, reason="authentication failed")


async def test_with_only_users_the_offer_has_no_open_type(tmp_path: Path) -> None:
    """No password, a users file: RSA-AES is offered, never None; an RFB 3.3 viewer, which
    cannot send a name, is turned away with the reason."""
    async with running_hub(ArraySource(64, 48), **named_access(tmp_path)) as hub:
        viewer = hub.connect()
        with trio.fail_after(5):
            await viewer.next_event()
            await viewer.send(ProtocolVersion(3, 8))
            offer = await viewer.next_event()
        assert set(offer.types) == set(RsaAesType)
        old = hub.connect()
        with trio.fail_after(5):
            await old.next_event()
            await old.send(ProtocolVersion(3, 3))
            assert await old.next_event() == HandshakeFailed(NO_TYPE_FOR_3_3)


async def test_failed_named_logins_block_the_address_at_connect(tmp_path: Path) -> None:
    """The back-off counts RSA-AES failures too, and a blocked address is refused before
    any type is offered, whatever the types are."""
    async with running_hub(ArraySource(64, 48), **named_access(tmp_path)) as hub:
        for _ in range(5):
            await hub.connect().handshake("guess", security=RsaAesType.RA2NE, user="anne")
        blocked = hub.connect()
        with trio.fail_after(5):
            await blocked.next_event()
            await blocked.send(ProtocolVersion(3, 8))
            refusal = await blocked.next_event()
    assert isinstance(refusal, HandshakeFailed)
    assert refusal.reason.startswith("too many failed authentications from test viewer")
