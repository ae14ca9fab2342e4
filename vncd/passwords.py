"""The vncpasswd file format that TigerVNC, RealVNC, TightVNC and x11vnc share.

The file holds the password zero-padded to 8 bytes and DES-encrypted with a key that every VNC
implementation knows. That hides the password from a glance, not from an attacker, so the file
is protected by its mode (0600). A 16-byte file holds a second, view-only password after the
first. Passwords map to bytes as Latin-1, which round-trips any byte a foreign tool wrote.
"""

from __future__ import annotations

import os
from pathlib import Path

from Crypto.Cipher import DES

from protocol.security.vncauth import password_key

#: VNC authentication (rfbproto 7.2.2) uses at most this many characters of a password.
MAX_LENGTH = 8

# The fixed key as VNC's d3des code spells it. d3des reads the bits of each key byte in the
# opposite order from standard DES, the quirk password_key() undoes for VNC authentication, so
# the same reversal turns it into pycryptodome's key (the well-known e8 4a d6 60 c4 72 1a e0).
_KEY = password_key(bytes([23, 82, 107, 6, 35, 78, 88, 7]).decode("latin-1"))


def password_bytes(password: str) -> bytes:
    """The bytes VNC authentication keys DES with: Latin-1, at most MAX_LENGTH (ValueError)."""
    try:
        return password.encode("latin-1")[:MAX_LENGTH]
    except UnicodeEncodeError:
        raise ValueError("must be Latin-1 text") from None


def _encrypt(password: str) -> bytes:
    return DES.new(_KEY, DES.MODE_ECB).encrypt(password_bytes(password).ljust(MAX_LENGTH, b"\0"))


def _decrypt(block: bytes) -> str:
    raw = DES.new(_KEY, DES.MODE_ECB).decrypt(block)
    return raw.split(b"\0", 1)[0].decode("latin-1")


def read_password_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Return (full-access password, view-only password or ""); OSError or ValueError."""
    data = Path(path).read_bytes()
    if len(data) not in (8, 16):
        raise ValueError(
            f"not a vncpasswd file ({len(data)} bytes; expected 8, or 16 with a view-only password)"
        )
    return _decrypt(data[:8]), (_decrypt(data[8:]) if len(data) == 16 else "")


def write_password_file(path: str | os.PathLike[str], password: str, view_only: str = "") -> None:
    """Write a file that vncpasswd-compatible servers read; readable by its owner only."""
    data = _encrypt(password) + (_encrypt(view_only) if view_only else b"")
    # A new file is created 0600, so it is never readable by others even for a moment;
    # fchmod tightens a file that existed with a looser mode.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(data)
