"""The server's connection against arbitrary client bytes, in every phase: the harness
answers as vncd does (its offer, a challenge, the result, ServerInit, confirmations of the
extensions a client lists, an update for each request in the client's encoding and pixel
format), so the fuzzer's bytes reach the normal phase and every message parser, and the
encoders meet every pixel format a client can ask for."""

from __future__ import annotations

from collections.abc import Iterator

import atheris
import numpy as np

from protocol import (
    BGRX,
    ClientCutText,
    ClientInit,
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Event,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    HandshakeFailed,
    InteractionCapabilities,
    KeyEvent,
    Phase,
    PixelFormat,
    PointerEvent,
    ProtocolVersion,
    QemuAudio,
    QemuExtendedKeyEvent,
    Screen,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerConnection,
    ServerInit,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    VncAuthChallenge,
    VncAuthResponse,
    XvpMessage,
)
from protocol.clipboard import (
    ClipboardAction,
    ClipboardCaps,
    ClipboardFormat,
    ClipboardNotify,
    ClipboardPeek,
    ClipboardProvide,
    ClipboardRequest,
    provide_text,
)
from protocol.encodings import (
    ENCODERS,
    Encoder,
    Encoding,
    extended_mouse_buttons,
    make_encoder,
    qemu_extended_key_event,
    settings_from_encodings,
)
from protocol.security import SecurityType
from protocol.security.tight import ENCODING_CAPABILITIES, MESSAGE_CAPABILITIES
from protocol.security.vncauth import check_response

from ._handlers import CHALLENGE, PASSWORD, Side
from ._harness import chunks, target, whole
from ._peer import LIMITS, Peer, converse
from ._traffic import MAP8, RGB565

VERSIONS = ((3, 8), (3, 7), (3, 3))
#: What the server offers (RFB 3.3: the first type only).
OFFERS = (
    (1,),
    (2,),
    (2, 1),
    (19,),
    (16,),
    (16, 2, 1),
    (6, 5, 129, 130),
    (129, 130, 5, 6),
    (5, 6, 129, 130),
    (130, 129, 6, 5),
)
SIZE = (40, 30)
#: Updates cover at most this many pixels: enough for every encoder's code paths (Tight's
#: palettes and JPEG, tiles of 16 and 64), cheap enough for thousands of inputs a second.
UPDATE_SIDE = 24
#: Open H.264 is left out: starting libx264 per input would dominate the run, and its encoder
#: refuses the pixel formats it cannot serve before anything else.
ENCODINGS = sorted(set(ENCODERS) - {Encoding.OPEN_H264})
PICTURE = np.random.default_rng(7).integers(0, 4, (SIZE[1], SIZE[0], 1), np.uint8) * np.array(
    [60, 120, 180, 0], np.uint8
)
PICTURE[:, SIZE[0] // 2 :] = np.random.default_rng(8).integers(
    0, 256, (SIZE[1], SIZE[0] - SIZE[0] // 2, 4), np.uint8
)
FENCE_REQUEST = 1 << 31
#: ServerInit's lists after Tight security: continuous updates and every registered encoding.
TIGHT_CAPABILITIES = InteractionCapabilities(
    MESSAGE_CAPABILITIES["continuous_updates"][:1],
    MESSAGE_CAPABILITIES["continuous_updates"][1:],
    ENCODING_CAPABILITIES.values(),
)
NONE = InteractionCapabilities()
ALL_ACTIONS = (
    ClipboardAction.REQUEST
    | ClipboardAction.PEEK
    | ClipboardAction.NOTIFY
    | ClipboardAction.PROVIDE
)


class Server(Peer):
    """vncd's half of the conversation, in the fewest lines that reach every client message."""

    def __init__(self, version: tuple[int, int], offer: tuple[int, ...], choice: int) -> None:
        super().__init__(choice)
        self.conn = ServerConnection(**LIMITS)
        self.version = version
        self.offer = offer
        self.ok = True
        self.encoders: dict[int, Encoder] = {}
        self.encodings: tuple[int, ...] = ()

    def answer(self, event: Event) -> None:
        conn = self.conn
        match event:
            case ProtocolVersion():
                assert conn.version is not None
                offer = self.offer[:1] if conn.version == (3, 3) else self.offer
                if self.choice % 16 == 15:
                    self.send(HandshakeFailed("refused"))
                    return
                self.send(SecurityTypes(offer))
                self.security_type = offer[0]
            case SecurityTypeChosen(chosen):
                self.security_type = chosen
            case VncAuthResponse(response):
                self.ok = check_response(CHALLENGE, response, PASSWORD)
            case ClientInit():
                pass
            case SetEncodings(encodings):
                self.encodings = encodings
                confirmations = [
                    rectangle
                    for number, rectangle in (
                        (Encoding.EXTENDED_MOUSE_BUTTONS, extended_mouse_buttons()),
                        (Encoding.QEMU_EXTENDED_KEY_EVENT, qemu_extended_key_event()),
                    )
                    if number in encodings
                ]
                if confirmations:
                    self.send(FramebufferUpdate(confirmations))
                if conn.extended_clipboard and Encoding.EXTENDED_CLIPBOARD in encodings:
                    self.send(
                        ClipboardCaps(
                            {ClipboardFormat.TEXT: 1 << 20},
                            ClipboardAction.REQUEST
                            | ClipboardAction.PEEK
                            | ClipboardAction.NOTIFY
                            | ClipboardAction.PROVIDE,
                        )
                    )
            case FramebufferUpdateRequest():
                self.update(event)
            case Fence(flags, payload) if flags & FENCE_REQUEST:
                self.send(Fence(flags & ~FENCE_REQUEST, payload))
            case EnableContinuousUpdates(enable=False):
                self.send(EndOfContinuousUpdates())
            case ClipboardRequest() | ClientCutText():
                if conn.extended_clipboard:
                    self.send(provide_text("from the server"))
            case ClipboardPeek():
                self.send(ClipboardNotify(ClipboardFormat.TEXT))
            case (
                SetPixelFormat()
                | KeyEvent()
                | PointerEvent()
                | QemuExtendedKeyEvent()
                | SetDesktopSize()
                | ClipboardNotify()
                | ClipboardProvide()
            ):
                pass

    def speak(self) -> None:
        conn = self.conn
        match conn.phase:
            case Phase.SERVER_VERSION:
                self.send(ProtocolVersion(*self.version))
            case Phase.VNC_AUTH_CHALLENGE:
                self.send(VncAuthChallenge(CHALLENGE))
            case Phase.SECURITY_RESULT:
                self.send(SecurityResult(self.ok, "" if self.ok else "wrong password"))
            case Phase.SERVER_INIT:
                tight = self.security_type == SecurityType.TIGHT
                self.send(ServerInit(*SIZE, BGRX, "fuzz", TIGHT_CAPABILITIES if tight else NONE))

    def handled(self, side: Side) -> None:
        self.ok = side.ok

    def update(self, request: FramebufferUpdateRequest) -> None:
        """Encode the requested area (clipped, and cut to UPDATE_SIDE) in the first encoding
        the client listed that we have, in the client's pixel format and settings."""
        conn = self.conn
        pixel_format = conn.pixel_format
        assert pixel_format is not None and conn.framebuffer_size is not None
        width, height = conn.framebuffer_size
        x, y = min(request.x, width), min(request.y, height)
        w = min(request.width, width - x, UPDATE_SIDE)
        h = min(request.height, height - y, UPDATE_SIDE)
        encoding = next((e for e in self.encodings if e in ENCODINGS), Encoding.RAW)
        encoder = self.encoders.get(encoding)
        if encoder is None:
            encoder = self.encoders[encoding] = make_encoder(encoding)
        pixels = PICTURE[y : y + h, x : x + w]
        settings = settings_from_encodings(self.encodings)
        self.send(FramebufferUpdate(encoder.encode(pixels, x, y, pixel_format, settings)))


@target
def test_one_input(fdp: atheris.FuzzedDataProvider) -> None:
    version = VERSIONS[fdp.ConsumeIntInRange(0, len(VERSIONS) - 1)]
    offer = OFFERS[fdp.ConsumeIntInRange(0, len(OFFERS) - 1)]
    server = Server(version, offer, fdp.ConsumeIntInRange(0, 255))
    eof = fdp.ConsumeIntInRange(0, 1)
    server.pump()
    for piece in chunks(fdp):
        server.receive(piece)
    if eof:
        server.receive(b"")


# --- Seeds: what real clients send ----------------------------------------------------------

NOVNC = (7, -260, 16, 21, 5, 2, 6, 1, 0, -26, -254, -223, -224, -258, -261, -308, -309, -312,
         -313, -307, Encoding.EXTENDED_CLIPBOARD, -316, 0x574D5664, -239)  # fmt: skip


def _normal_phase(encoding: int, pixel_format: PixelFormat) -> list[Event]:
    """What a viewer sends after ServerInit: noVNC's list with ``encoding`` first, input, and
    one of each other message."""
    return [
        SetPixelFormat(pixel_format),
        SetEncodings((encoding, *NOVNC)),
        FramebufferUpdateRequest(False, 0, 0, *SIZE),
        PointerEvent(0x05, 3, 4),
        KeyEvent(True, 0x61),
        QemuExtendedKeyEvent(True, 0x61, 30),
        Fence(FENCE_REQUEST | 3, b"abc"),
        EnableContinuousUpdates(True, 0, 0, *SIZE),
        EnableContinuousUpdates(False, 0, 0, *SIZE),
        ClipboardCaps({ClipboardFormat.TEXT: 4096}, ClipboardAction.REQUEST),
        provide_text("hello\nworld"),
        ClipboardRequest(ClipboardFormat.TEXT),
        ClipboardPeek(),
        SetDesktopSize(64, 48, [Screen(1, 0, 0, 64, 48)]),
        ClientCutText("plain"),
        XvpMessage(1, 2),
        QemuAudio(2, 3, 2, 44100),
        FramebufferUpdateRequest(True, 3, 2, 17, 11),
    ]


def seeds() -> Iterator[bytes]:
    """A conversation with the client target's viewer for every version, offer and a few
    choices of subtype; then the normal phase in each encoding and three pixel formats."""
    from .client import Client

    for version in range(len(VERSIONS)):
        for offer in range(len(OFFERS)):
            for choice in (0, 8, 23):
                server = Server(VERSIONS[version], OFFERS[offer], choice)
                stream, _ = converse(server, Client(choice, ()))
                yield whole(stream, version, offer, choice, 0)
    for encoding in ENCODINGS:
        for pixel_format in (BGRX, RGB565, MAP8):
            client = Client(0, _normal_phase(encoding, pixel_format))
            stream, _ = converse(Server((3, 8), (1,), 0), client)
            yield whole(stream, 0, 0, 0, 1)
