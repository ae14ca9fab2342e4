"""RSA-AES security types (rfbproto 'RSA-AES Security Type'): RA2, RA2ne, RA2_256, RA2ne_256.

Both sides send an RSA public key, exchange randoms encrypted with the other's key
(PKCS#1 v1.5), derive one AES key per direction from the randoms, prove they saw the same
two public keys (a hash of both, inside the encrypted channel), and the client sends its
credentials inside it. RA2 and RA2_256 keep encrypting the rest of the session with
``AesEaxFraming``; the "ne" types ("no encryption") go back to plain RFB after the
SecurityResult.

Sans-IO like the connections: randomness and keys are passed in, bytes go in and out. The
four numbers are registered handlers (``security.HANDLERS``): the connection pauses in
``SECURITY_HANDLER``, its ``hand_over()`` bytes are fed to ``ServerHandshake`` or
``ClientHandshake`` first, and once ``done`` their ``trailing_data`` (a SecurityResult, a
pipelined ClientInit) goes back with ``security_handled``.
"""

from __future__ import annotations

import enum
import hmac
import struct
from collections.abc import Callable, Generator
from types import ModuleType
from typing import Any

import attrs
from Crypto.Cipher import AES, PKCS1_v1_5
from Crypto.Hash import SHA1, SHA256
from Crypto.PublicKey import RSA

from .._errors import LocalProtocolError, RemoteProtocolError
from ._registry import register_handler


class RsaAesType(enum.IntEnum):
    """The four numbers (IANA RFB security types)."""

    RA2 = 5
    RA2NE = 6
    RA2_256 = 129
    RA2NE_256 = 130


class Subtype(enum.IntEnum):
    """What the server asks for inside the encrypted channel."""

    USER_AND_PASSWORD = 1
    PASSWORD = 2


#: The client key sizes a server accepts (noVNC sends 2048 bits, TigerVNC its own choice):
#: smaller keys are breakable, larger ones cost the server seconds of work per connection.
MIN_KEY_BITS = 1024
MAX_KEY_BITS = 8192
TAG_SIZE = 16
#: A framed message's length is a U16.
MAX_MESSAGE = 0xFFFF

RandBytes = Callable[[int], bytes]


@attrs.frozen
class Credentials:
    """What the client proved it knows; username is "" in password-only mode."""

    username: str
    password: str = attrs.field(repr=False)


def encrypts_session(security_type: int) -> bool:
    """RA2 and RA2_256 encrypt everything after the handshake; the "ne" types do not."""
    return security_type in (RsaAesType.RA2, RsaAesType.RA2_256)


def _hash(security_type: int) -> ModuleType:
    """SHA-1 and 128-bit keys for RA2/RA2ne; SHA-256 and 256-bit keys for the _256 types."""
    return SHA256 if security_type in (RsaAesType.RA2_256, RsaAesType.RA2NE_256) else SHA1


def _key_size(security_type: int) -> int:
    return 32 if _hash(security_type) is SHA256 else 16


def public_key_message(key: RSA.RsaKey) -> bytes:
    """U32 key length in bits, then modulus and exponent, each in ceil(bits / 8) bytes."""
    bits = key.n.bit_length()
    size = (bits + 7) // 8
    return struct.pack(">I", bits) + key.n.to_bytes(size, "big") + key.e.to_bytes(size, "big")


class AesEaxFraming:
    """AES-EAX messages: U16 length (also the associated data), ciphertext, 16-byte tag.

    The nonce is a 16-byte little-endian counter per direction, starting at zero and counting
    every message; the handshake's messages count too, and for RA2 the session goes on with
    the same counters.
    """

    def __init__(self, send_key: bytes, receive_key: bytes) -> None:
        self._send_key = send_key
        self._receive_key = receive_key
        self._send_counter = 0
        self._receive_counter = 0
        self._buffer = bytearray()

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext``, as several messages when it is longer than one may be."""
        out = bytearray()
        for start in range(0, len(plaintext), MAX_MESSAGE):
            chunk = plaintext[start : start + MAX_MESSAGE]
            header = struct.pack(">H", len(chunk))
            cipher = self._cipher(self._send_key, self._send_counter)
            self._send_counter += 1
            cipher.update(header)
            body, tag = cipher.encrypt_and_digest(chunk)
            out += header + body + tag
        return bytes(out)

    def open_message(self, header: bytes, body: bytes) -> bytes:
        """The plaintext of one message (``body`` holds ciphertext and tag)."""
        cipher = self._cipher(self._receive_key, self._receive_counter)
        self._receive_counter += 1
        cipher.update(header)
        try:
            return cipher.decrypt_and_verify(body[:-TAG_SIZE], body[-TAG_SIZE:])
        except ValueError:
            raise RemoteProtocolError(
                "RSA-AES: a message failed authentication (wrong key or altered bytes)"
            ) from None

    def open(self, data: bytes) -> bytes:
        """Feed received bytes; returns the plaintext of every message now complete."""
        self._buffer += data
        out = bytearray()
        while len(self._buffer) >= 2:
            (length,) = struct.unpack_from(">H", self._buffer)
            end = 2 + length + TAG_SIZE
            if len(self._buffer) < end:
                break
            out += self.open_message(bytes(self._buffer[:2]), bytes(self._buffer[2:end]))
            del self._buffer[:end]
        return bytes(out)

    @staticmethod
    def _cipher(key: bytes, counter: int) -> Any:
        nonce = (counter % (1 << 128)).to_bytes(16, "little")
        return AES.new(key, AES.MODE_EAX, nonce=nonce, mac_len=TAG_SIZE)


#: A handshake step: yields how many bytes it needs next, is sent exactly that many.
_Steps = Generator[int, bytes, Credentials]


class RsaAesHandshake:
    """Either role's handshake (the registered handler): drives ``_steps`` over received
    bytes and collects what it writes."""

    def __init__(self, security_type: int, random: RandBytes) -> None:
        self.security_type = RsaAesType(security_type)
        self._random = random
        self._hash = _hash(security_type)
        self._key_size = _key_size(security_type)
        self._buffer = bytearray()
        self._out = bytearray()
        self._framing: AesEaxFraming | None = None
        self._result: Credentials | None = None
        #: Why the handshake failed, as text (the error would keep its frames alive).
        self._error: str | None = None
        self._steps = self._run()
        self._need = next(self._steps)

    def receive_data(self, data: bytes) -> bytes:
        """Feed bytes from the peer; returns the bytes to send in answer. Raises
        RemoteProtocolError for anything a correct peer would not send."""
        if self._error is not None:
            raise LocalProtocolError(f"the RSA-AES handshake already failed: {self._error}")
        self._buffer += data
        try:
            while self._result is None and len(self._buffer) >= self._need:
                chunk = bytes(self._buffer[: self._need])
                del self._buffer[: self._need]
                self._need = self._steps.send(chunk)
        except StopIteration as done:
            self._result = done.value
        except RemoteProtocolError as error:
            self._error = str(error)
            raise
        return self.data_to_send()

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def credentials(self) -> Credentials | None:
        """The credentials sent, once the handshake is done (the server checks them)."""
        return self._result

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after the handshake's last message."""
        return bytes(self._buffer) if self.done else b""

    @property
    def framing(self) -> AesEaxFraming:
        """The session's encryption after the handshake (RA2, RA2_256)."""
        assert self._framing is not None and self.done, "the handshake is not done"
        return self._framing

    def _run(self) -> _Steps:
        raise NotImplementedError

    def _read_public_key(self, whose: str) -> Generator[int, bytes, tuple[RSA.RsaKey, bytes]]:
        header = yield 4
        (bits,) = struct.unpack(">I", header)
        if not MIN_KEY_BITS <= bits <= MAX_KEY_BITS:
            raise RemoteProtocolError(
                f"RSA-AES: the {whose}'s key has {bits} bits; allowed: "
                f"{MIN_KEY_BITS}..{MAX_KEY_BITS}"
            )
        size = (bits + 7) // 8
        modulus = yield size
        exponent = yield size
        n, e = int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big")
        invalid = f"RSA-AES: the {whose}'s key is not a valid RSA key"
        if n.bit_length() != bits or e < 3 or e % 2 == 0 or e >= n:
            raise RemoteProtocolError(invalid)
        try:  # PyCryptodome's own checks: an odd modulus, e coprime to it
            key = RSA.construct((n, e))
        except ValueError:
            raise RemoteProtocolError(invalid) from None
        return key, header + modulus + exponent

    def _read_random(self, own_key: RSA.RsaKey, whose: str) -> Generator[int, bytes, bytes]:
        size = (own_key.n.bit_length() + 7) // 8
        (length,) = struct.unpack(">H", (yield 2))
        if length != size:
            raise RemoteProtocolError(
                f"RSA-AES: the {whose}'s encrypted random has {length} bytes, not {size}"
            )
        ciphertext = yield length
        # RFC 8017 7.2.2 step 2: a ciphertext is below the modulus (public knowledge, unlike
        # the padding; PyCryptodome raises ValueError for it).
        if int.from_bytes(ciphertext, "big") >= own_key.n:
            raise RemoteProtocolError(
                f"RSA-AES: the {whose}'s encrypted random is not below the RSA modulus"
            )
        # Bad padding yields a random stand-in, not an error (RFC 8017 7.2.2's advice): the
        # peer learns nothing until the key hash fails, as it would with a wrong random.
        stand_in = self._random(self._key_size)
        return PKCS1_v1_5.new(own_key).decrypt(ciphertext, stand_in, expected_pt_len=self._key_size)

    def _random_message(self, peer_key: RSA.RsaKey, random: bytes) -> bytes:
        encrypted = PKCS1_v1_5.new(peer_key, randfunc=self._random).encrypt(random)
        return struct.pack(">H", len(encrypted)) + encrypted

    def _digest(self, *parts: bytes) -> bytes:
        return self._hash.new(b"".join(parts)).digest()

    def _read_message(self) -> Generator[int, bytes, bytes]:
        assert self._framing is not None
        header = yield 2
        (length,) = struct.unpack(">H", header)
        return self._framing.open_message(header, (yield length + TAG_SIZE))

    def _send_message(self, plaintext: bytes) -> None:
        assert self._framing is not None
        self._out += self._framing.seal(plaintext)

    def _check_hash(self, expected: bytes, whose: str) -> Generator[int, bytes, None]:
        received = yield from self._read_message()
        if not hmac.compare_digest(received, expected):
            raise RemoteProtocolError(
                f"RSA-AES: the {whose}'s hash of the two public keys does not match "
                "(a man in the middle, or a broken peer)"
            )


class ServerHandshake(RsaAesHandshake):
    """The server's half: sends its key at once (``data_to_send()`` after construction)."""

    def __init__(
        self,
        security_type: int,
        server_key: RSA.RsaKey,
        random: RandBytes,
        subtype: Subtype = Subtype.PASSWORD,
    ) -> None:
        if not server_key.has_private():
            raise ValueError("the server key must include its private half")
        self._key = server_key
        self.subtype = subtype
        super().__init__(security_type, random)

    def _run(self) -> _Steps:
        server_public = public_key_message(self._key)
        self._out += server_public
        client_key, client_public = yield from self._read_public_key("client")
        client_random = yield from self._read_random(self._key, "client")
        server_random = self._random(self._key_size)
        self._out += self._random_message(client_key, server_random)
        size = self._key_size
        self._framing = AesEaxFraming(
            send_key=self._digest(client_random, server_random)[:size],
            receive_key=self._digest(server_random, client_random)[:size],
        )
        self._send_message(self._digest(server_public, client_public))
        yield from self._check_hash(self._digest(client_public, server_public), "client")
        self._send_message(bytes([self.subtype]))
        return _parse_credentials((yield from self._read_message()), self.subtype)


class ClientHandshake(RsaAesHandshake):
    """The viewer's half, for our own client and tests; ``server_key`` is known once read, for
    a caller that pins it."""

    def __init__(
        self,
        security_type: int,
        client_key: RSA.RsaKey,
        random: RandBytes,
        credentials: Credentials,
    ) -> None:
        self._key = client_key
        self._credentials = credentials
        self.server_key: RSA.RsaKey | None = None
        self.subtype: Subtype | None = None
        super().__init__(security_type, random)

    def _run(self) -> _Steps:
        self.server_key, server_public = yield from self._read_public_key("server")
        client_public = public_key_message(self._key)
        client_random = self._random(self._key_size)
        self._out += client_public + self._random_message(self.server_key, client_random)
        server_random = yield from self._read_random(self._key, "server")
        size = self._key_size
        self._framing = AesEaxFraming(
            send_key=self._digest(server_random, client_random)[:size],
            receive_key=self._digest(client_random, server_random)[:size],
        )
        self._send_message(self._digest(client_public, server_public))
        yield from self._check_hash(self._digest(server_public, client_public), "server")
        subtype = yield from self._read_message()
        if subtype not in (b"\x01", b"\x02"):
            raise RemoteProtocolError(f"RSA-AES: unknown subtype {subtype.hex()}")
        self.subtype = Subtype(subtype[0])
        self._send_message(_credentials_message(self._credentials, self.subtype))
        return self._credentials


for _number in RsaAesType:
    register_handler(_number)(RsaAesHandshake)


def _credentials_message(credentials: Credentials, subtype: Subtype) -> bytes:
    """U8 length + UTF-8 username (empty in password-only mode), U8 length + password."""
    username = credentials.username if subtype is Subtype.USER_AND_PASSWORD else ""
    fields = (username.encode(), credentials.password.encode())
    if any(len(field) > 255 for field in fields):
        raise ValueError("RSA-AES carries at most 255 bytes of username and of password")
    return b"".join(bytes([len(field)]) + field for field in fields)


def _parse_credentials(message: bytes, subtype: Subtype) -> Credentials:
    try:
        user_end = 1 + message[0]
        username = message[1:user_end]
        password_end = user_end + 1 + message[user_end]
        password = message[user_end + 1 : password_end]
    except IndexError:
        raise RemoteProtocolError("RSA-AES: the credentials message is cut short") from None
    if password_end != len(message):
        raise RemoteProtocolError("RSA-AES: the credentials message has the wrong length")
    if subtype is Subtype.PASSWORD and username:
        raise RemoteProtocolError("RSA-AES: a username was sent in password-only mode")
    try:
        return Credentials(username.decode(), password.decode())
    except UnicodeDecodeError:
        raise RemoteProtocolError("RSA-AES: the credentials are not UTF-8") from None
