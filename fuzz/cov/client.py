"""The client's connection against arbitrary server bytes, in every phase: the harness
answers as a viewer does (its version, a security type it can do, the VNC password,
ClientInit, SetEncodings listing every encoding protocol decodes) and applies every update to
its framebuffer, so the fuzzer's rectangles reach each decoder through the connection."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import atheris

from protocol import (
    BGRX,
    Bell,
    ClientConnection,
    ClientInit,
    EndOfContinuousUpdates,
    Event,
    Fence,
    Framebuffer,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    HandshakeFailed,
    Phase,
    PixelFormat,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerCutText,
    ServerInit,
    SetColourMapEntries,
    SetEncodings,
    SetPixelFormat,
    VncAuthChallenge,
    VncAuthResponse,
    XvpMessage,
)
from protocol.clipboard import (
    ClipboardAction,
    ClipboardCaps,
    ClipboardDropped,
    ClipboardFormat,
    ClipboardNotify,
    ClipboardPeek,
    ClipboardProvide,
    ClipboardRequest,
    provide_text,
    provided_text,
)
from protocol.encodings import DECODERS, Encoding
from protocol.security.vncauth import encrypt_challenge

from ._handlers import HANDLED, PASSWORD
from ._harness import chunks, target, whole
from ._peer import LIMITS, Peer, converse
from ._traffic import MAP8, RGB565, all_encoded, pseudo_rectangles

VERSIONS = ((3, 8), (3, 7), (3, 3), (3, 889))
#: The security types the viewer can do, in its order of preference (rotated by ``choice``).
PREFERENCE = (*HANDLED, 2, 1)
#: A framebuffer larger than this is refused, as a viewer with little memory would: what a
#: server can make a client allocate this way is the application's choice, not protocol's.
MAX_PIXELS = 1 << 16
#: Every encoding protocol decodes, the Extended Clipboard and the tuning levels.
ENCODINGS = (*sorted(DECODERS), Encoding.EXTENDED_CLIPBOARD, -26, -254, -313, -312)
FENCE_REQUEST = 1 << 31
SIZES = (Encoding.DESKTOP_SIZE, Encoding.EXTENDED_DESKTOP_SIZE)


class Client(Peer):
    """A viewer's half of the conversation; ``script`` is what it sends after ServerInit."""

    def __init__(
        self, choice: int, script: Sequence[Event], version: tuple[int, int] = (3, 8)
    ) -> None:
        super().__init__(choice)
        self.conn = ClientConnection(**LIMITS)
        self.script = script
        self.version = version
        self.framebuffer: Framebuffer | None = None
        start = choice % len(PREFERENCE)
        self.preference = PREFERENCE[start:] + PREFERENCE[:start]

    def answer(self, event: Event) -> None:
        conn = self.conn
        match event:
            case ProtocolVersion():
                self.send(ProtocolVersion(*self.version))
            case SecurityTypes(types) if conn.phase is Phase.SECURITY_TYPE_CHOICE:
                usable = [t for t in self.preference if t in types]
                if not usable:
                    self.over = True  # nothing in common: the viewer hangs up
                    return
                self.security_type = usable[0]
                self.send(SecurityTypeChosen(usable[0]))
            case SecurityTypes(types):  # RFB 3.3: the server decided
                self.security_type = types[0]
            case HandshakeFailed():
                self.over = True
            case VncAuthChallenge(challenge):
                self.send(VncAuthResponse(encrypt_challenge(challenge, PASSWORD)))
            case SecurityResult(ok=False):
                self.over = True
            case ServerInit(width, height):
                if width * height > MAX_PIXELS:
                    self.over = True
                    return
                self.framebuffer = Framebuffer.blank(width, height)
                for message in self.script:
                    self.send(message)
            case FramebufferUpdate(rectangles):
                assert self.framebuffer is not None
                if any(r.width * r.height > MAX_PIXELS for r in rectangles if r.encoding in SIZES):
                    self.over = True  # each resize in turn reaches the framebuffer
                    return
                conn.apply_update(event, self.framebuffer)
            case SetColourMapEntries(first, colours):
                assert self.framebuffer is not None
                self.framebuffer.set_colour_map_entries(first, colours)
            case Fence(flags, payload) if flags & FENCE_REQUEST:
                self.send(Fence(flags & ~FENCE_REQUEST, payload))
            case ClipboardProvide():
                provided_text(event)
            case ClipboardRequest() | ClipboardPeek():
                self.send(provide_text("from the viewer"))
            case (
                SecurityResult()
                | Bell()
                | ServerCutText()
                | EndOfContinuousUpdates()
                | Fence()
                | XvpMessage()
                | ClipboardCaps()
                | ClipboardNotify()
                | ClipboardDropped()
            ):
                pass

    def speak(self) -> None:
        if self.conn.phase is Phase.CLIENT_INIT:
            self.send(ClientInit(shared=True))


#: The pixel formats the viewer may ask for: the server's, 16-bit and an 8-bit colour map.
FORMATS = (BGRX, RGB565, MAP8)


def script(pixel_format: PixelFormat) -> tuple[Event, ...]:
    """What the viewer sends after ServerInit."""
    return (
        SetPixelFormat(pixel_format),
        SetEncodings(ENCODINGS),
        FramebufferUpdateRequest(False, 0, 0, 40, 30),
    )


@target
def test_one_input(fdp: atheris.FuzzedDataProvider) -> None:
    version = VERSIONS[fdp.ConsumeIntInRange(0, len(VERSIONS) - 1)]
    choice = fdp.ConsumeIntInRange(0, 255)
    pixel_format = FORMATS[fdp.ConsumeIntInRange(0, len(FORMATS) - 1)]
    client = Client(choice, script(pixel_format), version)
    eof = fdp.ConsumeIntInRange(0, 1)
    client.pump()
    for piece in chunks(fdp):
        client.receive(piece)
    if eof:
        client.receive(b"")


# --- Seeds: what a server sends ---------------------------------------------------------------


def _server_messages() -> list[Event]:
    return [
        SetColourMapEntries(0, [(0, 0, 0), (0xFFFF, 0x8000, 0x10)]),
        Bell(),
        ServerCutText("cut text"),
        EndOfContinuousUpdates(),
        Fence(FENCE_REQUEST | 1, b"xyz"),
        XvpMessage(1, 1),
        ClipboardCaps({ClipboardFormat.TEXT: 1 << 20}, ClipboardAction.REQUEST),
        provide_text("hello\r\nworld"),
        ClipboardRequest(ClipboardFormat.TEXT),
        ClipboardPeek(),
        ClipboardNotify(ClipboardFormat.TEXT | ClipboardFormat.HTML),
    ]


def seeds() -> Iterator[bytes]:
    """The server's side of a conversation with every version, offer and a few subtype
    choices; then, after a normal handshake, every encoder's rectangles in three pixel
    formats, every pseudo-encoding and every other server message."""
    from .server import OFFERS, Server
    from .server import VERSIONS as SERVER_VERSIONS

    for version in range(len(VERSIONS)):
        for offer in OFFERS:
            for choice in (0, 1, 2, 8, 23):
                client = Client(choice, script(BGRX), VERSIONS[version])
                _, stream = converse(Server(SERVER_VERSIONS[0], offer, choice), client)
                yield whole(stream, version, choice, 0, 0)
    for index, pixel_format in enumerate(FORMATS):
        messages = [FramebufferUpdate(group) for group in all_encoded(pixel_format)]
        messages += [FramebufferUpdate([r]) for r in pseudo_rectangles(pixel_format)]
        messages += _server_messages()
        for message in messages:
            client = Client(0, script(pixel_format))
            server = Server((3, 8), (1,), 0)
            _, stream = converse(server, client)
            server.send(message)
            yield whole(stream + bytes(server.outbox), 0, 0, index, 0)
