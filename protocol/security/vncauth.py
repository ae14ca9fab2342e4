"""VNC Authentication (rfbproto 7.2.2): DES-ECB of a 16-byte challenge keyed by the password.

The key is the password's first 8 bytes, zero padded, with the bits of every byte reversed:
the original VNC code fed DES a key in the opposite bit order from the standard, and every
implementation has had to copy that quirk to interoperate.
"""

from __future__ import annotations

import hmac

from Crypto.Cipher import DES

CHALLENGE_SIZE = 16

_BIT_REVERSED = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))


def password_key(password: str) -> bytes:
    """The 8-byte DES key for ``password``.

    Only the first 8 characters count (the spec's limit). They are encoded as Latin-1, the one
    encoding that maps characters to single bytes without loss; a character outside it raises
    ``UnicodeEncodeError`` (a ``ValueError``) rather than silently weakening the key.
    """
    raw = password[:8].encode("latin-1").ljust(8, b"\0")
    return raw.translate(_BIT_REVERSED)


def encrypt_challenge(challenge: bytes, password: str) -> bytes:
    """The client's response to ``challenge``: both 8-byte halves DES-encrypted (ECB)."""
    if len(challenge) != CHALLENGE_SIZE:
        raise ValueError(f"a VNC challenge is {CHALLENGE_SIZE} bytes, got {len(challenge)}")
    return DES.new(password_key(password), DES.MODE_ECB).encrypt(challenge)


def check_response(challenge: bytes, response: bytes, password: str) -> bool:
    """Whether ``response`` proves knowledge of ``password``; compared in constant time so the
    comparison does not leak how many leading bytes were right."""
    return hmac.compare_digest(encrypt_challenge(challenge, password), response)
