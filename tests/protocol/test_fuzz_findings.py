"""Inputs the coverage-guided fuzzer (fuzz/cov) found that made protocol raise something
other than its documented errors, each reduced to what matters, so the fix stays fixed."""

from __future__ import annotations

import gc
import random
import struct
import weakref
from functools import cache

import pytest
from Crypto.PublicKey import RSA

from protocol import LocalProtocolError, ProtocolVersion, RemoteProtocolError, ServerConnection
from protocol.security.rsaaes import (
    ClientHandshake,
    Credentials,
    RsaAesType,
    ServerHandshake,
    public_key_message,
)


@cache
def server_key() -> RSA.RsaKey:
    return RSA.generate(1024, randfunc=random.Random(1).randbytes)


def key_message(n: int, e: int, bits: int = 1024) -> bytes:
    size = (bits + 7) // 8
    return struct.pack(">I", bits) + n.to_bytes(size, "big") + e.to_bytes(size, "big")


@pytest.mark.parametrize(
    ("n", "e"),
    [
        # An even modulus of the announced size: PyCryptodome refused it with ValueError.
        pytest.param((1 << 1023) + 2, 65537, id="even modulus"),
        # A public exponent sharing a factor with the modulus (3 divides both).
        pytest.param((1 << 1023) + 1, 3, id="exponent not coprime"),
    ],
)
def test_rsa_aes_client_key_that_is_no_key(n: int, e: int) -> None:
    assert n.bit_length() == 1024 and e % 2 == 1 and 3 <= e < n  # past the length checks
    server = ServerHandshake(RsaAesType.RA2, server_key(), random.Random(2).randbytes)
    with pytest.raises(RemoteProtocolError, match="client's key is not a valid RSA key"):
        server.receive_data(key_message(n, e))


def dies_of_garbage(conn: ServerConnection) -> None:
    conn.send(ProtocolVersion(3, 8))
    conn.receive_data(b"garbage, not RFB")
    try:
        conn.next_event()
    except RemoteProtocolError:
        pass
    else:
        raise AssertionError("garbage was accepted")


def test_a_dead_connection_is_freed_without_the_cycle_collector() -> None:
    """The fuzzer's memory grew by a KB an input: each connection killed by a protocol error
    kept that error, whose traceback's frames held the connection, the caller's objects and
    their zlib streams in a cycle only the cyclic collector frees (rarely, for big objects).
    """
    conn = ServerConnection()
    dies_of_garbage(conn)
    with pytest.raises(LocalProtocolError, match="dead after RemoteProtocolError: not an RFB"):
        conn.next_event()
    alive = weakref.ref(conn)
    gc.disable()
    try:
        del conn
        assert alive() is None
    finally:
        gc.enable()


def test_a_failed_rsa_aes_handshake_keeps_no_traceback() -> None:
    server = ServerHandshake(RsaAesType.RA2, server_key(), random.Random(2).randbytes)
    with pytest.raises(RemoteProtocolError):
        server.receive_data(struct.pack(">I", 12))  # a 12-bit key
    with pytest.raises(LocalProtocolError, match="already failed: RSA-AES: the client's key"):
        server.receive_data(b"more")
    assert isinstance(server._error, str)


def client_key() -> RSA.RsaKey:
    return server_key().public_key()  # any valid public key will do for the messages


@pytest.mark.parametrize("reader", ["server", "client"])
def test_rsa_aes_encrypted_random_not_below_the_modulus(reader: str) -> None:
    """RFC 8017 7.2.2: a ciphertext must be below the modulus; PyCryptodome raised
    ValueError("Ciphertext too large") for one that is not."""
    key = server_key()
    too_large = struct.pack(">H", 128) + b"\xff" * 128
    if reader == "server":
        side = ServerHandshake(RsaAesType.RA2, key, random.Random(2).randbytes)
        peer_key = public_key_message(client_key())
    else:
        credentials = Credentials("", "pw")
        side = ClientHandshake(RsaAesType.RA2, key, random.Random(2).randbytes, credentials)
        peer_key = public_key_message(key.public_key())
    with pytest.raises(RemoteProtocolError, match="encrypted random is not below the RSA modulus"):
        side.receive_data(peer_key + too_large)
