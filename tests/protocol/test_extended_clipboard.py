"""The Extended Clipboard (rfbproto 'Extended Clipboard Pseudo-Encoding'): golden bytes both
ways (some exactly as noVNC and TigerVNC send them), round trips, the negotiation that makes a
negative length legal, the bounded inflate of Provide, and malformed messages."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    NEED_DATA,
    ClientCutText,
    KeyEvent,
    LocalProtocolError,
    RemoteProtocolError,
    ServerCutText,
    SetEncodings,
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
    text_from_wire,
    text_to_wire,
)
from protocol.encodings import Encoding

from .messages import SERVER_TYPES, clipboard_messages, drain, garbage, negotiate
from .test_fuzz import check

TEXT, HTML = ClipboardFormat.TEXT, ClipboardFormat.HTML
REQUEST, PEEK = ClipboardAction.REQUEST, ClipboardAction.PEEK
NOTIFY, PROVIDE = ClipboardAction.NOTIFY, ClipboardAction.PROVIDE

#: Provide's items for the text "hi\n": U32 size 5, then "hi", CRLF and the NUL.
HI_ITEMS = b"\x00\x00\x00\x05hi\r\n\x00"
#: The same as a zlib stream written by hand: header 78 01, one final stored block (01, LEN 9,
#: NLEN ~9, little endian), the items, and their Adler-32 (a=238, b=1038) big endian.
HI_STORED = b"\x78\x01" + b"\x01\x09\x00\xf6\xff" + HI_ITEMS + b"\x04\x0e\x00\xee"


def extended(message_type: int, body: bytes) -> bytes:
    """A cut text message of the extended form: the length is minus the body's."""
    return bytes([message_type]) + b"\0\0\0" + struct.pack(">i", -len(body)) + body


@pytest.fixture
def negotiated(pair):
    """A server and a client after the client asked for the extensions."""

    def make(**limits: int):
        server, client = pair(**limits)
        negotiate(server, client)
        return server, client

    return make


# --- Golden bytes ---------------------------------------------------------------------------

GOLDEN = [
    # Caps: flags caps|request|peek|notify|provide (1F) with text and html (05), then their
    # sizes in bit order: text 0 (always Notify), html 2 MiB; length -(4 + 2 * 4) = -12.
    (
        ClipboardCaps({TEXT: 0, HTML: 2 << 20}, REQUEST | PEEK | NOTIFY | PROVIDE),
        b"\xff\xff\xff\xf4\x1f\x00\x00\x05\x00\x00\x00\x00\x00\x20\x00\x00",
    ),
    (ClipboardCaps({}, NOTIFY), b"\xff\xff\xff\xfc\x09\x00\x00\x00"),
    (ClipboardRequest(TEXT), b"\xff\xff\xff\xfc\x02\x00\x00\x01"),
    (ClipboardPeek(), b"\xff\xff\xff\xfc\x04\x00\x00\x00"),
    (ClipboardNotify(TEXT | HTML), b"\xff\xff\xff\xfc\x08\x00\x00\x05"),
    (ClipboardNotify(0), b"\xff\xff\xff\xfc\x08\x00\x00\x00"),
]


@pytest.mark.parametrize(("event", "wire"), GOLDEN)
def test_client_sends_the_extended_form(event, wire: bytes, negotiated) -> None:
    server, client = negotiated()
    assert client.send(event) == b"\x06\0\0\0" + wire
    server.receive_data(b"\x06\0\0\0" + wire)
    assert server.next_event() == event


@pytest.mark.parametrize(("event", "wire"), GOLDEN)
def test_server_sends_the_extended_form(event, wire: bytes, negotiated) -> None:
    server, client = negotiated()
    assert server.send(event) == b"\x03\0\0\0" + wire
    client.receive_data(b"\x03\0\0\0" + wire)
    assert client.next_event() == event


def test_novnc_caps_reply_is_read(negotiated) -> None:
    """core/rfb.js extendedClipboardCaps as noVNC calls it: all five actions, and its format
    table keyed by a name, which its `1 << parseInt(...)` turns into the text bit, size 0."""
    server, _ = negotiated()
    server.receive_data(b"\x06\0\0\0\xff\xff\xff\xf8\x1f\x00\x00\x01\x00\x00\x00\x00")
    assert server.next_event() == ClipboardCaps({TEXT: 0}, REQUEST | PEEK | NOTIFY | PROVIDE)


def test_provide_of_a_hand_written_zlib_stream(negotiated) -> None:
    _, client = negotiated()
    client.receive_data(extended(3, b"\x10\x00\x00\x01" + HI_STORED))
    event = client.next_event()
    assert event == ClipboardProvide({TEXT: b"hi\r\n\0"})
    assert provided_text(event) == "hi\n"


def test_provide_is_sync_flushed_zlib_of_the_items(negotiated) -> None:
    """Checked with an inflater of its own: the flags, then one fresh zlib stream ending in
    a sync flush (00 00 ff ff), as TigerVNC's ZlibOutStream::flush and noVNC's Deflator end."""
    _, client = negotiated()
    wire = client.send(provide_text("hi\n"))
    (length,) = struct.unpack(">i", wire[4:8])
    assert wire[:4] == b"\x06\0\0\0" and -length == len(wire) - 8
    assert wire[8:12] == b"\x10\x00\x00\x01"
    assert wire.endswith(b"\x00\x00\xff\xff")
    assert zlib.decompressobj().decompress(wire[12:]) == HI_ITEMS


def full_flush(data: bytes) -> bytes:
    """What noVNC's Deflator sends: Z_FULL_FLUSH, not finished."""
    compressor = zlib.compressobj()
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


@pytest.mark.parametrize("deflate", [zlib.compress, full_flush], ids=["finished", "noVNC"])
def test_provide_in_other_stream_forms(deflate, negotiated) -> None:
    server, _ = negotiated()
    items = HI_ITEMS + b"\x00\x00\x00\x02<p"
    server.receive_data(extended(6, b"\x10\x00\x00\x05" + deflate(items)))
    assert server.next_event() == ClipboardProvide({TEXT: b"hi\r\n\0", HTML: b"<p"})


def test_classic_cut_text_is_unchanged_after_negotiation(negotiated) -> None:
    server, client = negotiated()
    assert client.send(ClientCutText("hé")) == b"\x06\0\0\0\0\0\0\x02h\xe9"
    server.receive_data(b"\x06\0\0\0\0\0\0\x02h\xe9")
    assert server.next_event() == ClientCutText("hé")
    client.receive_data(server.send(ServerCutText("x")))
    assert client.next_event() == ServerCutText("x")


# --- Round trips ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(messages=st.lists(clipboard_messages, min_size=1, max_size=4), to_server=st.booleans())
def test_round_trip_one_byte_at_a_time(messages, to_server: bool, pair) -> None:
    server, client = pair()
    negotiate(server, client)
    sender, receiver = (client, server) if to_server else (server, client)
    wire = b"".join(sender.send(message) for message in messages)
    received: list = []
    for i in range(len(wire)):
        drain(receiver, wire[i : i + 1], received)
    assert received == messages


# --- Negotiation ----------------------------------------------------------------------------


def test_only_the_clients_advertisement_makes_the_extended_form_legal(pair) -> None:
    server, client = pair()
    assert not client.extended_clipboard and not server.extended_clipboard
    with pytest.raises(LocalProtocolError, match="has not advertised the Extended Clipboard"):
        client.send(ClipboardNotify(TEXT))
    with pytest.raises(LocalProtocolError, match="has not advertised"):
        server.send(ClipboardPeek())


def test_before_the_advertisement_a_negative_length_is_an_error(pair) -> None:
    """Before SetEncodings lists the pseudo-encoding, 7.5.6's U32 would say 4 GiB - 8 bytes:
    no text is that long, so it is refused; after it, the same bytes are a Notify."""
    server, client = pair()
    server.receive_data(extended(6, b"\x08\x00\x00\x01"))
    with pytest.raises(RemoteProtocolError, match="without the Extended Clipboard"):
        server.next_event()
    server, client = pair()
    server.receive_data(client.send(SetEncodings([Encoding.EXTENDED_CLIPBOARD])))
    server.next_event()
    server.receive_data(extended(6, b"\x08\x00\x00\x01"))
    assert server.next_event() == ClipboardNotify(TEXT)


def test_the_advertisement_is_kept_by_later_set_encodings(negotiated) -> None:
    """A message the server sent before it read the new list must still be understood."""
    server, client = negotiated()
    server.receive_data(client.send(SetEncodings([0])))
    server.next_event()
    assert client.extended_clipboard and server.extended_clipboard
    client.receive_data(server.send(ClipboardPeek()))
    assert client.next_event() == ClipboardPeek()


def test_dropped_has_no_wire_form(negotiated) -> None:
    server, _ = negotiated()
    with pytest.raises(LocalProtocolError, match="no wire form"):
        server.send(ClipboardDropped(TEXT, 10))


# --- Limits ---------------------------------------------------------------------------------


def _items_of(sizes_and_data: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack(">I", size) + data for size, data in sizes_and_data)


def zlib_bomb(size: int) -> bytes:
    """Provide's zlib data whose one item claims, and inflates to, ``size`` zero bytes,
    compressed a MiB at a time so the test itself never holds them."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(struct.pack(">I", size))]
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        parts.append(compressor.compress(zeros))
    return b"".join(parts) + compressor.flush()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = zlib_bomb(100 << 20)
    assert len(data) < 200 << 10  # 100 MiB of zeros in about 100 KiB
    return data


def test_a_zlib_bomb_is_dropped_quickly_in_bounded_memory(bomb: bytes, negotiated) -> None:
    server, client = negotiated()
    message = extended(6, b"\x10\x00\x00\x01" + bomb)
    start = time.perf_counter()
    tracemalloc.start()
    try:
        server.receive_data(message)
        event = server.next_event()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert event == ClipboardDropped(TEXT, len(bomb))
    assert time.perf_counter() - start < 1
    assert peak < 1 << 20  # a few copies of the message's 100 KiB, never the 100 MiB
    assert server.statistics().cut_text_skipped == 1
    server.receive_data(client.send(KeyEvent(True, 0x61)))
    assert server.next_event() == KeyEvent(True, 0x61)


def test_a_bomb_that_understates_its_size_inflates_only_that(negotiated) -> None:
    """The size says 1000: only 1000 bytes are inflated, the rest of the stream is left."""
    server, _ = negotiated()
    lie = zlib.compressobj()
    head = lie.compress(struct.pack(">I", 1000) + bytes(10 << 20)) + lie.flush()
    server.receive_data(extended(6, b"\x10\x00\x00\x01" + head))
    assert server.next_event() == ClipboardProvide({TEXT: bytes(1000)})


@pytest.mark.parametrize(("size", "kept"), [(96, True), (97, False)])
def test_the_inflate_cap_counts_every_item(size: int, kept: bool, negotiated) -> None:
    """max_clipboard=200: two items of 4 + 96 bytes fit exactly, 4 + 97 more do not."""
    server, _ = negotiated(max_clipboard=200)
    items = _items_of([(96, bytes(96)), (size, bytes(size))])
    server.receive_data(extended(6, b"\x10\x00\x00\x05" + zlib.compress(items)))
    expected = (
        ClipboardProvide({TEXT: bytes(96), HTML: bytes(size)})
        if kept
        else ClipboardDropped(TEXT | HTML, len(zlib.compress(items)))
    )
    assert server.next_event() == expected


def test_a_provide_over_max_cut_text_is_skipped_unread(negotiated) -> None:
    server, _ = negotiated(max_cut_text=1000)
    data = bytes(range(256)) * 8  # 2048 bytes, not even zlib: never looked at
    server.receive_data(extended(6, b"\x10\x00\x00\x01" + data)[:500])
    assert server.next_event() is NEED_DATA
    server.receive_data(extended(6, b"\x10\x00\x00\x01" + data)[500:])
    assert server.next_event() == ClipboardDropped(TEXT, 2048)
    assert server.statistics().cut_text_skipped == 1


# --- Malformed messages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x08", "1 bytes has no flags"),  # 0 would be an empty classic text
        (b"\x08\x00\x00", "3 bytes has no flags"),
        (b"\x00\x00\x00\x01", "name no single action"),
        (b"\x0a\x00\x00\x01", "name no single action"),  # request and notify
        (b"\x20\x00\x00\x00", "name no single action"),  # a reserved action alone
        (b"\x02\x00\x00\x01\x00", "need 0 more bytes, not 1"),
        (b"\x01\x00\x00\x03\x00\x00\x00\x00", "need 8 more bytes, not 4"),
        (b"\x10\x00\x00\x01not zlib", "bad extended clipboard zlib data"),
        (b"\x10\x00\x00\x01" + zlib.compress(b"\x00\x00\x00\x09hi"), "ends inside its items"),
        (b"\x10\x00\x00\x03" + zlib.compress(HI_ITEMS), "ends inside its items"),
    ],
)
def test_malformed_extended_messages(body: bytes, message: str, negotiated) -> None:
    _, client = negotiated()
    client.receive_data(extended(3, body))
    with pytest.raises(RemoteProtocolError, match=message):
        client.next_event()


def test_compressed_bytes_after_the_items_are_ignored(negotiated) -> None:
    """TigerVNC and noVNC stop after the last item too."""
    server, _ = negotiated()
    server.receive_data(extended(6, b"\x10\x00\x00\x01" + zlib.compress(HI_ITEMS + b"more")))
    assert server.next_event() == ClipboardProvide({TEXT: b"hi\r\n\0"})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ClipboardCaps({}, ClipboardAction.CAPS), "caps bit is implied"),
        (lambda: ClipboardCaps({}, 1), "not a set of action bits"),
        (lambda: ClipboardCaps({3: 0}, NOTIFY), "names more than one format"),
        (lambda: ClipboardCaps({1 << 16: 0}, NOTIFY), "is not a format bit"),
        (lambda: ClipboardCaps({TEXT: -1}, NOTIFY), "is not a U32"),
        (lambda: ClipboardRequest(1 << 16), "not a set of format bits"),
        (lambda: ClipboardProvide({TEXT: "text"}), "must be bytes"),
    ],
)
def test_events_are_validated(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


# --- The text format ------------------------------------------------------------------------


def test_text_to_wire_ends_lines_in_crlf_and_adds_the_nul() -> None:
    assert text_to_wire("a\nb\r\nc\rd é") == b"a\r\nb\r\nc\r\nd \xc3\xa9\0"


def test_text_from_wire_stops_at_the_nul_and_ends_lines_in_lf() -> None:
    assert text_from_wire(b"a\r\nb\xc3\xa9\0after") == "a\nbé"
    assert text_from_wire(b"no nul\r\n") == "no nul\n"
    assert text_from_wire(b"\xff") == "\ufffd"


def test_provided_text_is_none_without_the_text_format() -> None:
    assert provided_text(ClipboardProvide({HTML: b"<b>"})) is None
    assert provided_text(provide_text("x\ny")) == "x\ny"


# --- Garbage --------------------------------------------------------------------------------

#: Cut text headers with a negative length, so the extended readers get the garbage.
extended_headers = st.builds(
    lambda message_type, size: bytes([message_type]) + b"\0\0\0" + struct.pack(">i", -size),
    st.sampled_from([3, 6]),
    st.integers(0, 60),
)


@settings(max_examples=200, deadline=None)
@given(data=garbage([6], extended_headers), eof=st.booleans())
def test_server_survives_extended_garbage(data: bytes, eof: bool, pair) -> None:
    def make():
        server, client = pair()
        negotiate(server, client)
        return server

    check(make, data, eof)


@settings(max_examples=200, deadline=None)
@given(data=garbage(SERVER_TYPES, extended_headers), eof=st.booleans())
def test_client_survives_extended_garbage(data: bytes, eof: bool, pair) -> None:
    def make():
        server, client = pair()
        negotiate(server, client)
        return client

    check(make, data, eof)


def test_reserved_format_bits_are_left_out_and_cost_nothing(negotiated) -> None:
    """Notify with TEXT and reserved bits 5-15: only TEXT is reported, and thousands of
    distinct reserved combinations add no enum members (which would be kept for good)."""
    server, _ = negotiated()
    members = len(ClipboardFormat._value2member_map_)
    for reserved in range(1, 2048):
        server.receive_data(extended(6, struct.pack(">I", 0x08000001 | reserved << 5)))
        assert server.next_event() == ClipboardNotify(TEXT)
    assert len(ClipboardFormat._value2member_map_) <= members + 32
