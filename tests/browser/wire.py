"""What noVNC really said and heard: the page's RFB conversation, recorded inside the page.

A screenshot of the canvas shows that pixels arrived, not how. noVNC talks RFB over a
WebSocket, so a TCP proxy (tests/interop/rfbtap.py) would see WebSocket frames; instead an init
script wraps the page's WebSocket: every message the page sends and receives is logged in order,
and the log is replayed through rfbtap's parser pair (a ServerConnection for the page's bytes, a
ClientConnection for vncd's), which lists every rectangle and its encoding.

The same script can narrow what noVNC asks for. noVNC picks its own encoding list (CopyRect,
H.264, Tight, TightPNG, ...): to make vncd send one encoding, its SetEncodings message (rfbproto
7.5.2: U8 type 2, padding, U16 count, count x S32) is rewritten on its way out to that encoding
followed by noVNC's pseudo-encodings, every other pixel encoding left out. noVNC flushes each
message with a send() of its own, so a message is never split or merged with another.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from protocol import Rectangle
from protocol.encodings import Encoding
from protocol.encodings._tight_wire import FILL, JPEG, PNG
from tests.interop.rfbtap import Recording, _Mirror

__all__ = [
    "FILL",
    "JPEG",
    "PNG",
    "record_rfb",
    "recording",
    "sockets_opened",
    "tight_compression",
]

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: The pixel encodings, which a narrowed list leaves out: those the spec names below 256 (the
#: pseudo-encodings are negative or vendor numbers), and TightPNG.
PIXEL_ENCODINGS = frozenset(e for e in Encoding if 0 <= e <= 255) | {Encoding.TIGHT_PNG}
#: The JPEG quality pseudo-encodings (7.8.1): without one, the Tight family stays lossless.
QUALITY_LEVELS = frozenset(range(Encoding.JPEG_QUALITY_LEVEL_0, Encoding.JPEG_QUALITY_LEVEL_9 + 1))

_SCRIPT = """
(() => {
    const narrowing = %(narrowing)s;  // null: leave noVNC's list alone
    const log = [];  // [sent?, bytes] in the order the page saw them
    window.__vncdWire = { log, sockets: 0 };

    function narrowed(bytes) {
        if (narrowing === null || bytes.length < 4 || bytes[0] !== 2) return bytes;
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const count = view.getUint16(2);
        if (bytes.length !== 4 + 4 * count) return bytes;  // not a SetEncodings
        const asked = [];
        for (let i = 0; i < count; i++) asked.push(view.getInt32(4 + 4 * i));
        const drop = new Set(narrowing.drop);
        const kept = [narrowing.first, ...asked.filter((number) => !drop.has(number))];
        const out = new Uint8Array(4 + 4 * kept.length);
        const outView = new DataView(out.buffer);
        out[0] = 2;
        outView.setUint16(2, kept.length);
        kept.forEach((number, i) => outView.setInt32(4 + 4 * i, number));
        return out;
    }

    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
        let bytes = ArrayBuffer.isView(data)
            ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
            : new Uint8Array(data);
        bytes = narrowed(bytes);
        log.push([true, bytes.slice()]);
        return send.call(this, bytes);
    };

    // A listener added at construction runs before noVNC's onmessage handler, so each
    // message is logged before anything the page sends in answer to it. The sockets stay
    // native ones: noVNC checks the properties of a socket's prototype.
    const NativeWebSocket = WebSocket;
    function RecordedWebSocket(...args) {
        const socket = new NativeWebSocket(...args);
        window.__vncdWire.sockets += 1;
        socket.addEventListener("message", (event) => {
            log.push([false, new Uint8Array(event.data).slice()]);
        });
        return socket;
    }
    RecordedWebSocket.prototype = NativeWebSocket.prototype;
    Object.setPrototypeOf(RecordedWebSocket, NativeWebSocket);  // CONNECTING, OPEN, ...
    window.WebSocket = RecordedWebSocket;
})();
"""

_READ_LOG = """() => {
    const base64 = (bytes) => {
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) {
            text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        }
        return btoa(text);
    };
    return window.__vncdWire.log.map(([sent, bytes]) => [sent, base64(bytes)]);
}"""


def record_rfb(page: Page, *, first: int | None = None, drop: Iterable[int] = ()) -> None:
    """Record the page's RFB conversation from its next load on. With ``first``, every
    SetEncodings becomes ``first`` and noVNC's pseudo-encodings, less those in ``drop``."""
    narrowing = None
    if first is not None:
        narrowing = {"first": int(first), "drop": sorted({*PIXEL_ENCODINGS, *drop})}
    page.add_init_script(_SCRIPT % {"narrowing": json.dumps(narrowing)})


def recording(page: Page) -> Recording:
    """The conversation so far, parsed; fails if the parsers cannot follow it."""
    parsed = Recording()
    mirror = _Mirror(parsed)
    for sent, data in page.evaluate(_READ_LOG):
        mirror.feed(base64.b64decode(data), from_viewer=sent)
    assert parsed.error is None, parsed.error
    return parsed


def sockets_opened(page: Page) -> int:
    """How many WebSockets the page has created: its connection attempts. Read in the page
    itself, so it is exact the moment a timer that connects has run (no event to wait for)."""
    return page.evaluate("() => window.__vncdWire.sockets")


def tight_compression(rectangle: Rectangle) -> int:
    """The compression type of a Tight or TightPNG rectangle, bits 7-4 of its
    compression-control byte (rfbproto 7.7.6): ``FILL``, ``JPEG``, ``PNG`` (TightPNG's) or
    0-7 for BasicCompression."""
    assert rectangle.encoding in (Encoding.TIGHT, Encoding.TIGHT_PNG), rectangle.encoding
    return rectangle.payload[0] >> 4
