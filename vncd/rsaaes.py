"""RSA-AES on the server: one run of the handshake over a viewer's channel and, for RA2 and
RA2_256, the stream that encrypts the rest of the session.

The decision that follows (SecurityResult, the back-off after failures) is the handshake's:
``run`` only returns the credentials the viewer sent.
"""

from __future__ import annotations

import os

import trio
from Crypto.PublicKey import RSA

from protocol import RemoteProtocolError
from protocol.security.rsaaes import (
    AesEaxFraming,
    Credentials,
    RsaAesType,
    ServerHandshake,
    Subtype,
    encrypts_session,
)

from .channel import RECEIVE_CHUNK, Channel

#: What vncd offers, strongest first: the whole session encrypted, with 256-bit keys first.
OFFER = (RsaAesType.RA2_256, RsaAesType.RA2, RsaAesType.RA2NE_256, RsaAesType.RA2NE)


class EncryptedStream(trio.abc.Stream):
    """RA2 and RA2_256: every byte after the handshake, the SecurityResult included, in
    AES-EAX messages that go on counting from the handshake's. It does not own ``inner``:
    whoever made that stream closes it."""

    def __init__(self, inner: trio.abc.Stream, framing: AesEaxFraming) -> None:
        self.inner = inner
        self.framing = framing
        self._plain = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(self.framing.seal(bytes(data)))

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        while not self._plain:
            data = await self.inner.receive_some(RECEIVE_CHUNK)
            if not data:
                return b""
            self._plain += self.framing.open(data)
        size = len(self._plain) if max_bytes is None else max_bytes
        out = bytes(self._plain[:size])
        del self._plain[:size]
        return out

    def feed(self, data: bytes) -> None:
        """Ciphertext the handshake received after its last message."""
        self._plain += self.framing.open(data)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def run(
    channel: Channel, key: RSA.RsaKey, security_type: int, *, by_name: bool = False
) -> Credentials:
    """The handshake, asking for a user name and password when ``by_name``, else the
    password alone; its bytes bypass the connection, which waits in SECURITY_HANDLER and
    then gets what follows (decrypted, for RA2/RA2_256, whose stream replaces
    ``channel.stream``)."""
    subtype = Subtype.USER_AND_PASSWORD if by_name else Subtype.PASSWORD
    handshake = ServerHandshake(security_type, key, os.urandom, subtype)
    data = channel.conn.hand_over()
    await channel.write(handshake.data_to_send())
    while True:
        if answer := handshake.receive_data(data):
            await channel.write(answer)
        if handshake.done:
            break
        data = await channel.stream.receive_some(RECEIVE_CHUNK)
        if not data:
            raise RemoteProtocolError("connection closed during the RSA-AES handshake")
    trailing = handshake.trailing_data
    if encrypts_session(security_type):
        stream = EncryptedStream(channel.stream, handshake.framing)
        stream.feed(trailing)
        channel.stream, trailing = stream, b""
    channel.conn.security_handled(trailing)
    assert handshake.credentials is not None
    return handshake.credentials
