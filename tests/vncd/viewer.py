"""A minimal RFB viewer built on protocol.ClientConnection, for driving vncd in tests."""

from __future__ import annotations

import functools
import os

import trio
from Crypto.PublicKey import RSA

from protocol import (
    NEED_DATA,
    ClientConnection,
    ClientInit,
    Event,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerCutText,
    ServerInit,
    SetColourMapEntries,
    SetEncodings,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol._framebuffer import Framebuffer
from protocol.security.rsaaes import ClientHandshake, Credentials, RsaAesType, encrypts_session
from protocol.security.vncauth import encrypt_challenge
from vncd.rsaaes import EncryptedStream


@functools.cache
def client_key() -> RSA.RsaKey:
    """One RSA key for every test viewer (1024 bits, the smallest servers accept: quick)."""
    return RSA.generate(1024)


class Viewer:
    """Speaks RFB over any Trio stream, keeps a decoded framebuffer and collects the
    clipboard texts (ServerCutText) the server sends."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = ClientConnection()
        self.framebuffer: Framebuffer | None = None
        self.server_init: ServerInit | None = None
        self.cut_texts: list[str] = []  # received and not yet taken by next_cut_text()

    async def next_event(self) -> Event:
        while True:
            event = self.conn.next_event()
            if event is not NEED_DATA:
                return event
            self.conn.receive_data(await self.stream.receive_some(65536))

    async def send(self, *events: Event) -> None:
        await self.stream.send_all(b"".join(self.conn.send(event) for event in events))

    async def handshake(
        self,
        password: str = "",
        version: tuple[int, int] = (3, 8),
        shared: bool = True,
        encodings: tuple[int, ...] = (0,),
        security: int | None = None,
        user: str = "",
    ) -> SecurityResult | ServerInit:
        """Run the handshake with ``security`` (default: the server's first type) and ``user``
        where the type carries a name; returns ServerInit, or the failing SecurityResult."""
        assert isinstance(await self.next_event(), ProtocolVersion)
        await self.send(ProtocolVersion(*version))
        offer = await self.next_event()
        assert isinstance(offer, SecurityTypes), offer
        chosen = offer.types[0] if security is None else security
        if version >= (3, 7):
            await self.send(SecurityTypeChosen(chosen))
        if chosen in set(RsaAesType):
            await self.rsa_aes(chosen, password, user)
        if chosen == 2:
            challenge = await self.next_event()
            assert isinstance(challenge, VncAuthChallenge)
            await self.send(VncAuthResponse(encrypt_challenge(challenge.challenge, password)))
        if chosen != 1 or version >= (3, 8):
            result = await self.next_event()
            assert isinstance(result, SecurityResult)
            if not result.ok:
                return result
        await self.send(ClientInit(shared=shared))
        server_init = await self.next_event()
        assert isinstance(server_init, ServerInit)
        self.server_init = server_init
        self.framebuffer = Framebuffer.blank(server_init.width, server_init.height)
        await self.send(SetEncodings(encodings))
        return server_init

    async def rsa_aes(self, security_type: int, password: str, user: str = "") -> None:
        """Run an RSA-AES handler over the stream while the connection waits."""
        handshake = ClientHandshake(
            security_type, client_key(), os.urandom, Credentials(user, password)
        )
        data = self.conn.hand_over()
        while True:
            if answer := handshake.receive_data(data):
                await self.stream.send_all(answer)
            if handshake.done:
                break
            data = await self.stream.receive_some(65536)
            assert data, "closed during the RSA-AES handshake"
        trailing = handshake.trailing_data
        if encrypts_session(security_type):  # RA2, RA2_256: the rest is encrypted too
            self.stream = EncryptedStream(self.stream, handshake.framing)
            self.stream.feed(trailing)
            trailing = b""
        self.conn.security_handled(trailing)

    async def request(self, incremental: bool = True) -> None:
        width, height = self.framebuffer.width, self.framebuffer.height
        await self.send(FramebufferUpdateRequest(incremental, 0, 0, width, height))

    async def full_update(self) -> FramebufferUpdate:
        """Ask for the whole screen and wait for the answer: also a round trip, after which
        everything sent before has been handled and everything queued for us has arrived."""
        await self.request(incremental=False)
        return await self.next_update()

    async def next_update(self, timeout: float = 10.0) -> FramebufferUpdate:
        """Wait for the next FramebufferUpdate, apply it, and return it."""
        with trio.fail_after(timeout):
            while not isinstance(event := await self.next_message(), FramebufferUpdate):
                pass
            return event

    async def assert_no_update(self, seconds: float, why: str) -> None:
        """Fail, saying ``why``, if an update arrives within ``seconds``."""
        with trio.move_on_after(seconds):
            update = await self.next_update()
            raise AssertionError(f"{why}: {update}")

    async def next_cut_text(self, timeout: float = 10.0) -> str:
        """The oldest clipboard text not taken yet, waiting for one if need be."""
        with trio.fail_after(timeout):
            while not self.cut_texts:
                await self.next_message()
        return self.cut_texts.pop(0)

    async def next_message(self) -> Event:
        """The next server message, after applying it (updates, palettes, cut text)."""
        event = await self.next_event()
        if isinstance(event, SetColourMapEntries):
            self.framebuffer.set_colour_map_entries(event.first_colour, event.colours)
        elif isinstance(event, FramebufferUpdate):
            self.conn.apply_update(event, self.framebuffer)
        elif isinstance(event, ServerCutText):
            self.cut_texts.append(event.text)
        return event
