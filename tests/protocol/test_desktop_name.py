"""The DesktopName pseudo-encoding (rfbproto 'DesktopName Pseudo-encoding', -307): an empty
rectangle header, then a U32 length and the name in UTF-8."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import Framebuffer, FramebufferUpdate, Rectangle, RemoteProtocolError
from protocol.encodings import Encoding
from protocol.encodings.pseudo import MAX_DESKTOP_NAME, desktop_name, desktop_name_of

from .messages import drain

HEADER = b"\x00\x00\x00\x01" + b"\x00" * 8 + b"\xff\xff\xfe\xcd"  # one rectangle, -307


def test_bytes_by_hand(pair) -> None:
    server, client = pair()
    update = FramebufferUpdate([desktop_name("Büro")])
    wire = HEADER + b"\x00\x00\x00\x05" + b"B\xc3\xbcro"
    assert server.send(update) == wire
    received: list = []
    for i in range(len(wire)):  # a byte at a time: the reader resumes anywhere
        drain(client, wire[i : i + 1], received)
    assert received == [update]
    assert desktop_name_of(update.rectangles[0]) == "Büro"
    framebuffer = Framebuffer.blank(8, 8)
    client.apply_update(update, framebuffer)  # no pixels change
    assert not framebuffer.pixels.any()


@given(st.text(max_size=64))
def test_any_name_round_trips(name: str) -> None:
    assert desktop_name_of(desktop_name(name)) == name


def test_a_name_that_is_not_utf8_is_read_leniently(pair) -> None:
    """Like ServerInit's name (rfbproto 'String Encodings'): peers disagree, never fail."""
    _, client = pair()
    client.receive_data(HEADER + b"\x00\x00\x00\x03\xffok")
    (rectangle,) = client.next_event().rectangles
    assert desktop_name_of(rectangle) == "\ufffdok"


def test_a_length_over_the_limit_is_refused_before_its_body(pair) -> None:
    _, client = pair()
    client.receive_data(HEADER + (MAX_DESKTOP_NAME + 1).to_bytes(4, "big"))
    with pytest.raises(RemoteProtocolError, match="desktop name of 65537 bytes"):
        client.next_event()


@pytest.mark.parametrize("payload", [b"", b"\x00\x00", b"\x00\x00\x00\x02a", b"\x00\x00\x00\x00a"])
def test_a_payload_that_disagrees_with_its_length(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="DesktopName"):
        desktop_name_of(Rectangle(0, 0, 0, 0, Encoding.DESKTOP_NAME, payload))
