"""The users file: named users with salted, slow password hashes and their access.

One line per user, ``name:scrypt$N$r$p$salt$hash:access`` (salt and hash in base64, access
``full`` or ``view-only``); ``#`` starts a comment. scrypt makes each guess cost about 0.1 s
and 32 MB, so a stolen file gives up weak passwords only slowly. The security types that carry
a user name check it here: VeNCrypt Plain (and TLSPlain, X509Plain), RSA-AES with a user name,
Tight's Unix login.

The file is read again when it changes, so ``vncd passwd --user`` takes effect for the next
viewer without a restart; a file that became invalid keeps the last good users (and logs why).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import attrs
import trio

log = logging.getLogger(__name__)

#: scrypt's cost: N = 2**15, r = 8 needs 32 MB and about 0.1 s per hash here.
COST = (1 << 15, 8, 1)
SALT_BYTES = 16
HASH_BYTES = 32
#: scrypt parameters a file may ask for: enough for stronger settings, not for a file that
#: makes each check take minutes or gigabytes.
MAX_MEMORY = 256 << 20
ACCESS = ("full", "view-only")
#: What a user name may be: no separator, no control characters, not empty.
NAME = re.compile(r"[^:\s#][^:\x00-\x1f\x7f]*")
#: Hashes running at once: each takes 32 MB and a core, however many viewers try.
CONCURRENT_HASHES = 2


@attrs.frozen
class User:
    """One line of the file."""

    name: str
    hash: str = attrs.field(repr=False)
    view_only: bool = False

    def line(self) -> str:
        return f"{self.name}:{self.hash}:{ACCESS[self.view_only]}"


@attrs.frozen
class Verdict:
    """What a check found: right or not, and the user's access."""

    ok: bool
    view_only: bool = False


def hash_password(
    password: str, salt: bytes | None = None, cost: tuple[int, int, int] = COST
) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``password`` (UTF-8), with a fresh salt by default."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    n, r, p = cost
    digest = _scrypt(password, salt, n, r, p)
    encode = base64.b64encode
    return f"scrypt${n}${r}${p}${encode(salt).decode()}${encode(digest).decode()}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAX_MEMORY + (1 << 20), dklen=HASH_BYTES
    )


def _parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("the hash is not scrypt$N$r$p$salt$hash")
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, digest = (
            base64.b64decode(parts[4], validate=True),
            base64.b64decode(parts[5], validate=True),
        )
    except (ValueError, binascii.Error):
        raise ValueError("the hash's numbers or base64 are malformed") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * r * (n + p) > MAX_MEMORY:
        raise ValueError(f"scrypt N={n}, r={r}, p={p} is not a cost vncd accepts")
    if not salt or len(digest) != HASH_BYTES:
        raise ValueError("the hash's salt or digest has the wrong length")
    return n, r, p, salt, digest


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` hashes to ``stored`` (compared in constant time)."""
    n, r, p, salt, digest = _parse_hash(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


def parse_users(text: str) -> dict[str, User]:
    """The users of a file's text; ValueError names the line."""
    users: dict[str, User] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            user = _parse_line(line)
        except ValueError as error:
            raise ValueError(f"line {number}: {error}") from None
        if user.name in users:
            raise ValueError(f"line {number}: user {user.name!r} appears twice")
        users[user.name] = user
    return users


def _parse_line(line: str) -> User:
    fields = line.split(":")
    if len(fields) != 3:
        raise ValueError("expected name:hash:access")
    name, stored, access = fields
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid user name")
    if access not in ACCESS:
        raise ValueError(f"access {access!r} is not one of {', '.join(ACCESS)}")
    _parse_hash(stored)
    return User(name, stored, view_only=access == "view-only")


def read_users(path: str | os.PathLike[str]) -> dict[str, User]:
    """The users in the file at ``path``; OSError or ValueError."""
    return parse_users(Path(path).read_text(encoding="utf-8"))


def write_users(path: str | os.PathLike[str], users: Mapping[str, User]) -> None:
    """Replace the file atomically (a reader sees the old or the new, never half), mode 0600."""
    path = Path(path)
    text = "# vncd users: name:scrypt hash:access (written by `vncd passwd --user`)\n"
    text += "".join(f"{user.line()}\n" for user in users.values())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def check_name(name: str) -> str:
    """``name`` if it can be a user name, else ValueError saying why."""
    if not NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} cannot be a user name (no ':', no control characters, no leading space "
            "or '#')"
        )
    return name


class UserBook:
    """The users file as the server sees it: read at start, read again when it changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, User] = {}
        self._hashing = trio.CapacityLimiter(CONCURRENT_HASHES)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the file when its inode, size or time changed; a bad file is logged and
        the users read before are kept. The first read raises (OSError, ValueError)."""
        first = self._stamp is None
        try:
            status = self.path.stat()
            stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
            if stamp == self._stamp:
                return
            self._users = read_users(self.path)
            self._stamp = stamp
        except (OSError, ValueError) as error:
            if first:
                raise
            log.error("users file %s: %s; keeping the users read before", self.path, error)

    def get(self, name: str) -> User | None:
        self.refresh()
        return self._users.get(name)

    async def verify(self, name: str, password: str) -> Verdict:
        """Whether ``name``'s password is ``password``, and the user's access. The hash runs
        in a thread (other viewers go on) and costs the same for an unknown name."""
        user = self.get(name)
        stored = user.hash if user is not None else _decoy()
        same = await trio.to_thread.run_sync(
            password_matches, password, stored, limiter=self._hashing
        )
        if user is None or not same:
            return Verdict(ok=False)
        return Verdict(ok=True, view_only=user.view_only)


@functools.cache
def _decoy() -> str:
    """Checked when the name is unknown, so that an unknown name costs as much as a known
    one."""
    return hash_password("", salt=bytes(SALT_BYTES))


async def verify(book: UserBook | None, name: str, password: str) -> Verdict:
    """``book.verify``; with no users file nobody logs in by name."""
    if book is None:
        return Verdict(ok=False)
    return await book.verify(name, password)
