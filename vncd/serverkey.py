"""The server's RSA key for the RSA-AES security types: made once, then kept.

Viewers may pin the key they saw first (noVNC reports it; TigerVNC asks the user), so it
must survive restarts: it is generated on first use and written with mode 0600 (it is the
server's identity), in PEM (PKCS#8), readable by openssl.
"""

from __future__ import annotations

import os
from pathlib import Path

from Crypto.PublicKey import RSA

from protocol.security.rsaaes import MAX_KEY_BITS, MIN_KEY_BITS

#: 2048 bits, as noVNC's own key: generated in about a second here, and each handshake
#: costs the server one private-key decryption (a few ms).
KEY_BITS = 2048


def default_path() -> Path:
    """$XDG_STATE_HOME/vncd/rsa_key.pem (~/.local/state/vncd/rsa_key.pem)."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state, "vncd", "rsa_key.pem")


def read_key(path: Path) -> RSA.RsaKey:
    """The private key in ``path``; ValueError (saying why) if it is not a usable one."""
    try:
        key = RSA.import_key(path.read_bytes())
    except (ValueError, IndexError, TypeError):
        raise ValueError("not an RSA private key in PEM") from None
    if not key.has_private():
        raise ValueError("holds a public key only; the server needs the private key")
    if not MIN_KEY_BITS <= key.n.bit_length() <= MAX_KEY_BITS:
        raise ValueError(
            f"the key has {key.n.bit_length()} bits; viewers accept {MIN_KEY_BITS}..{MAX_KEY_BITS}"
        )
    return key


def load_or_create(path: Path) -> RSA.RsaKey:
    """The key in ``path``, generated and written there (mode 0600) when there is none.

    O_EXCL: two servers starting at once never overwrite each other's key.
    """
    if path.exists():
        return read_key(path)
    key = RSA.generate(KEY_BITS)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key.export_key(format="PEM", pkcs=8))
    return key
