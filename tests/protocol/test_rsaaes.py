"""RSA-AES (rfbproto 'RSA-AES Security Type'): the server checked against a client written
here step by step from the spec (as noVNC's ra2.js does it), fixed keys and randoms, both
handlers together for all four types, and every bad input a clear RemoteProtocolError."""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Callable
from functools import cache

import pytest
from Crypto.Cipher import AES
from Crypto.PublicKey import RSA

from protocol import (
    ClientConnection,
    ClientInit,
    LocalProtocolError,
    Phase,
    ProtocolVersion,
    RemoteProtocolError,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerConnection,
)
from protocol.security import HANDLERS
from protocol.security.rsaaes import (
    MAX_MESSAGE,
    AesEaxFraming,
    ClientHandshake,
    Credentials,
    RsaAesHandshake,
    RsaAesType,
    ServerHandshake,
    Subtype,
    encrypts_session,
    public_key_message,
)


def seeded(seed: int) -> Callable[[int], bytes]:
    """Repeatable randomness, so every byte on the wire is fixed."""
    return random.Random(seed).randbytes


@cache
def key(bits: int, seed: int) -> RSA.RsaKey:
    return RSA.generate(bits, randfunc=seeded(seed))


def server_key() -> RSA.RsaKey:
    return key(1024, 1)


def client_key() -> RSA.RsaKey:
    return key(1024, 2)


def pkcs1_v15_decrypt(private: RSA.RsaKey, ciphertext: bytes) -> bytes:
    """RFC 8017 7.2.2 by hand: EM = 00 02 PS(nonzero, >= 8) 00 M."""
    size = (private.n.bit_length() + 7) // 8
    em = pow(int.from_bytes(ciphertext, "big"), private.d, private.n).to_bytes(size, "big")
    assert em[:2] == b"\x00\x02"
    separator = em.index(b"\x00", 2)
    assert separator >= 10
    return em[separator + 1 :]


def pkcs1_v15_encrypt(public: RSA.RsaKey, message: bytes, padding_byte: int = 0x5A) -> bytes:
    size = (public.n.bit_length() + 7) // 8
    em = b"\x00\x02" + bytes([padding_byte]) * (size - 3 - len(message)) + b"\x00" + message
    return pow(int.from_bytes(em, "big"), public.e, public.n).to_bytes(size, "big")


def eax(key_: bytes, counter: int, plaintext: bytes) -> bytes:
    """One framed message: U16 length (also the associated data), ciphertext, tag; the nonce
    is the message counter, 16 bytes little-endian (noVNC's RA2Cipher)."""
    header = struct.pack(">H", len(plaintext))
    cipher = AES.new(key_, AES.MODE_EAX, nonce=counter.to_bytes(16, "little"), mac_len=16)
    cipher.update(header)
    body, tag = cipher.encrypt_and_digest(plaintext)
    return header + body + tag


def un_eax(key_: bytes, counter: int, message: bytes) -> bytes:
    (length,) = struct.unpack(">H", message[:2])
    assert len(message) == 2 + length + 16
    cipher = AES.new(key_, AES.MODE_EAX, nonce=counter.to_bytes(16, "little"), mac_len=16)
    cipher.update(message[:2])
    return cipher.decrypt_and_verify(message[2:-16], message[-16:])


def test_public_key_message_layout() -> None:
    k = server_key()
    message = public_key_message(k)
    assert message[:4] == b"\x00\x00\x04\x00"  # 1024 bits
    assert int.from_bytes(message[4:132], "big") == k.n
    assert message[132:] == (65537).to_bytes(128, "big")  # the exponent padded to the size


@pytest.mark.parametrize(
    ("security_type", "digest", "size"),
    [(RsaAesType.RA2NE, hashlib.sha1, 16), (RsaAesType.RA2NE_256, hashlib.sha256, 32)],
)
def test_server_against_a_client_written_from_the_spec(
    security_type: RsaAesType, digest: Callable[..., hashlib._Hash], size: int
) -> None:
    server_random = bytes(range(100, 100 + size))
    server = ServerHandshake(security_type, server_key(), lambda n: server_random[:n])
    server_public = server.data_to_send()
    assert server_public == public_key_message(server_key())

    client_public = public_key_message(client_key())
    client_random = bytes(range(size))
    encrypted = pkcs1_v15_encrypt(server_key(), client_random)
    answer = server.receive_data(client_public + struct.pack(">H", 128) + encrypted)

    # The server's random, encrypted to the client's key, then its hash of both keys.
    assert answer[:2] == struct.pack(">H", 128)
    assert pkcs1_v15_decrypt(client_key(), answer[2:130]) == server_random
    client_key_ = digest(server_random + client_random).digest()[:size]
    server_key_ = digest(client_random + server_random).digest()[:size]
    server_hash = digest(server_public + client_public).digest()
    assert un_eax(server_key_, 0, answer[130:]) == server_hash
    assert not server.done

    client_hash = digest(client_public + server_public).digest()
    subtype = server.receive_data(eax(client_key_, 0, client_hash))
    assert un_eax(server_key_, 1, subtype) == b"\x02"  # password only

    credentials = b"\x00" + b"\x06" + "sécret".encode()[:6]
    assert server.receive_data(eax(client_key_, 1, credentials) + b"after") == b""
    assert server.done
    assert server.credentials == Credentials("", "sécre")
    assert server.trailing_data == b"after"


def test_user_and_password_subtype() -> None:
    server = ServerHandshake(
        RsaAesType.RA2NE, server_key(), seeded(3), subtype=Subtype.USER_AND_PASSWORD
    )
    client = ClientHandshake(
        RsaAesType.RA2NE, client_key(), seeded(4), Credentials("anna", "pässwort")
    )
    run(server, client)
    assert client.subtype is Subtype.USER_AND_PASSWORD
    assert server.credentials == Credentials("anna", "pässwort")
    assert "pässwort" not in repr(server.credentials)


def run(server: ServerHandshake, client: ClientHandshake, byte_at_a_time: bool = False) -> None:
    to_client = server.data_to_send()
    while to_client:
        to_server = b""
        chunks = (
            [to_client[i : i + 1] for i in range(len(to_client))] if byte_at_a_time else [to_client]
        )
        for chunk in chunks:
            to_server += client.receive_data(chunk)
        to_client = b""
        for i in range(len(to_server)) if byte_at_a_time else [None]:
            chunk = to_server[i : i + 1] if i is not None else to_server
            to_client += server.receive_data(chunk)
    assert server.done and client.done


@pytest.mark.parametrize("security_type", list(RsaAesType))
def test_round_trip_then_the_session_encrypted(security_type: RsaAesType) -> None:
    server = ServerHandshake(security_type, server_key(), seeded(5))
    client = ClientHandshake(security_type, client_key(), seeded(6), Credentials("x", "pw"))
    run(server, client, byte_at_a_time=security_type == RsaAesType.RA2NE)
    assert server.credentials == Credentials("", "pw")  # password only: no username sent
    assert client.server_key == server_key().public_key()
    assert encrypts_session(security_type) == (security_type in (5, 129))
    # The counters go on from the handshake's, both ways; long writes split at 65535.
    big = bytes(range(256)) * 600
    sealed = server.framing.seal(big)
    assert len(sealed) == len(big) + 3 * 18
    opened = b"".join(
        client.framing.open(sealed[i : i + 1000]) for i in range(0, len(sealed), 1000)
    )
    assert opened == big
    assert server.framing.open(client.framing.seal(b"\x03\x01")) == b"\x03\x01"


def test_same_inputs_same_bytes() -> None:
    def transcript() -> bytes:
        server = ServerHandshake(RsaAesType.RA2NE, server_key(), seeded(7))
        client = ClientHandshake(RsaAesType.RA2NE, client_key(), seeded(8), Credentials("", "p"))
        out = server.data_to_send()
        wire = out
        while out:
            sent = client.receive_data(out)
            out = server.receive_data(sent)
            wire += sent + out
        return wire

    assert transcript() == transcript()


def test_framing_layout() -> None:
    framing = AesEaxFraming(bytes(16), bytes(16))
    assert framing.seal(b"abc") == eax(bytes(16), 0, b"abc")
    assert framing.seal(b"abc") == eax(bytes(16), 1, b"abc")
    assert framing.seal(b"") == b""
    assert len(framing.seal(bytes(MAX_MESSAGE))) == 2 + MAX_MESSAGE + 16


def started(security_type: RsaAesType = RsaAesType.RA2NE) -> ServerHandshake:
    server = ServerHandshake(security_type, server_key(), seeded(9))
    server.data_to_send()
    return server


@pytest.mark.parametrize("bits", [0, 512, 1023, 8193, 1 << 31])
def test_client_key_size_limits(bits: int) -> None:
    server = started()
    with pytest.raises(RemoteProtocolError, match=rf"key has {bits} bits; allowed: 1024\.\.8192"):
        server.receive_data(struct.pack(">I", bits))
    with pytest.raises(LocalProtocolError, match="already failed: RSA-AES: the client's key"):
        server.receive_data(b"more")


def test_client_key_that_does_not_match_its_size() -> None:
    message = bytearray(public_key_message(client_key()))
    message[4] = 0  # the modulus is shorter than the 1024 bits announced
    with pytest.raises(RemoteProtocolError, match="not a valid RSA key"):
        started().receive_data(bytes(message))


def test_wrong_random_length() -> None:
    with pytest.raises(RemoteProtocolError, match="random has 64 bytes, not 128"):
        started().receive_data(public_key_message(client_key()) + struct.pack(">H", 64))


@pytest.mark.parametrize(
    ("security_type", "plaintext"),
    [
        (RsaAesType.RA2NE, None),  # not PKCS#1 v1.5 at all
        (RsaAesType.RA2NE, bytes(15)),  # a random of the wrong size
        (RsaAesType.RA2NE_256, bytes(16)),  # RA2ne's size where RA2ne_256 takes 32 bytes
    ],
)
def test_a_bad_random_fails_only_at_the_key_hash(
    security_type: RsaAesType, plaintext: bytes | None
) -> None:
    """No padding oracle: the server answers as for a good random (with a stand-in), and the
    client's hash then fails authentication, as with any wrong random."""
    server = started(security_type)
    digest_size = 32 if security_type == RsaAesType.RA2NE_256 else 20
    encrypted = (
        bytes(range(128)) if plaintext is None else pkcs1_v15_encrypt(server_key(), plaintext)
    )
    answer = server.receive_data(
        public_key_message(client_key()) + struct.pack(">H", 128) + encrypted
    )
    assert len(answer) == 2 + 128 + 2 + digest_size + 16
    with pytest.raises(RemoteProtocolError, match="failed authentication"):
        server.receive_data(eax(bytes(16), 0, bytes(digest_size)))


class Tamper(ClientHandshake):
    """A client whose n-th framed message is altered (0: the hash, 1: the credentials)."""

    def __init__(self, which: int, change: Callable[[bytes], bytes]) -> None:
        super().__init__(RsaAesType.RA2NE, client_key(), seeded(10), Credentials("", "pw"))
        self.which, self.change, self.sent = which, change, 0

    def _send_message(self, plaintext: bytes) -> None:
        if self.sent == self.which:
            plaintext = self.change(plaintext)
        self.sent += 1
        super()._send_message(plaintext)


@pytest.mark.parametrize(
    ("which", "change", "message"),
    [
        (0, lambda hashed: bytes(20), "hash of the two public keys does not match"),
        (1, lambda creds: b"\x00\x05pw", "wrong length"),
        (1, lambda creds: b"\x00", "cut short"),
        (1, lambda creds: b"\x01u\x02pw", "username was sent in password-only mode"),
        (1, lambda creds: b"\x00\x02\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_client_messages(which: int, change: Callable[[bytes], bytes], message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        run(ServerHandshake(RsaAesType.RA2NE, server_key(), seeded(11)), Tamper(which, change))


def test_altered_ciphertext_fails_authentication() -> None:
    framing = AesEaxFraming(bytes(16), bytes(16))
    sealed = bytearray(framing.seal(b"hello"))
    sealed[3] ^= 1
    with pytest.raises(RemoteProtocolError, match="failed authentication"):
        AesEaxFraming(bytes(16), bytes(16)).open(bytes(sealed))


def test_client_refuses_a_small_server_key() -> None:
    client = ClientHandshake(RsaAesType.RA2NE, client_key(), seeded(12), Credentials("", "p"))
    with pytest.raises(RemoteProtocolError, match="server's key has 512 bits"):
        client.receive_data(struct.pack(">I", 512))


def test_connections_hand_the_handshake_to_the_handler() -> None:
    """The registered handler: after SecurityTypeChosen(6) both connections pause in
    SECURITY_HANDLER, the handlers run, and the bytes after them (the SecurityResult, a
    pipelined ClientInit) go back to the connections."""
    assert HANDLERS[RsaAesType.RA2NE] is RsaAesHandshake
    server, client = ServerConnection(), ClientConnection()
    client.receive_data(server.send(ProtocolVersion(3, 8)))
    client.next_event()
    server.receive_data(client.send(ProtocolVersion(3, 8)))
    server.next_event()
    client.receive_data(server.send(SecurityTypes((RsaAesType.RA2NE, 2))))
    client.next_event()
    server.receive_data(client.send(SecurityTypeChosen(RsaAesType.RA2NE)))
    assert server.next_event() == SecurityTypeChosen(6)
    assert server.phase is Phase.SECURITY_HANDLER and client.phase is Phase.SECURITY_HANDLER
    server_side = ServerHandshake(RsaAesType.RA2NE, server_key(), seeded(13))
    client_side = ClientHandshake(RsaAesType.RA2NE, client_key(), seeded(14), Credentials("", "p"))
    assert server.hand_over() == b""  # nothing pipelined: the client waits for the key
    run(server_side, client_side)
    server.security_handled(server_side.trailing_data)
    client.security_handled(client_side.trailing_data + server.send(SecurityResult(ok=True)))
    assert client.next_event() == SecurityResult(ok=True)
    server.receive_data(client.send(ClientInit(shared=True)))
    assert server.next_event() == ClientInit(shared=True)
