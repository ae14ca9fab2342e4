"""Size pseudo-encodings: DesktopSize (rfbproto 7.8.4), ExtendedDesktopSize (rfbproto
"ExtendedDesktopSize Pseudo-encoding") and LastRect (7.8.5); and the desktop's new name
(rfbproto "DesktopName Pseudo-encoding")."""

from __future__ import annotations

import enum
import struct
from collections.abc import Generator, Sequence

import attrs

from .._errors import RemoteProtocolError
from .._events import Rectangle, Screen
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._base import NoPayload, read_bytes
from ._registry import Encoding, register_decoder


def desktop_size(width: int, height: int) -> Rectangle:
    """Tell the client the framebuffer is now width x height (x and y are ignored)."""
    return Rectangle(0, 0, width, height, Encoding.DESKTOP_SIZE)


class ResizeReason(enum.IntEnum):
    """Why the layout changed (the rectangle's x-position)."""

    SERVER = 0  # changed on the server, or the answer to a non-incremental request
    THIS_CLIENT = 1  # the receiving viewer asked (status says how it went)
    OTHER_CLIENT = 2  # another viewer asked and it was done


class ResizeStatus(enum.IntEnum):
    """The outcome of a viewer's request (the rectangle's y-position)."""

    OK = 0
    PROHIBITED = 1
    OUT_OF_RESOURCES = 2
    INVALID_LAYOUT = 3
    FORWARDED = 4  # the server passed it on and cannot tell yet


# One u8 screen count and 3 padding bytes, then 16 bytes per SCREEN.
_SCREEN_COUNT = struct.Struct(">B3x")
_SCREEN = struct.Struct(">IHHHHI")


@attrs.frozen
class ScreenLayout:
    """An ExtendedDesktopSize rectangle, decoded."""

    reason: int
    status: int
    width: int
    height: int
    screens: tuple[Screen, ...] = attrs.field(converter=tuple)


def extended_desktop_size(
    width: int,
    height: int,
    screens: Sequence[Screen],
    reason: ResizeReason = ResizeReason.SERVER,
    status: ResizeStatus = ResizeStatus.OK,
) -> Rectangle:
    """The framebuffer's size and screen layout, and why it is being sent."""
    payload = _SCREEN_COUNT.pack(len(screens)) + b"".join(
        _SCREEN.pack(s.id, s.x, s.y, s.width, s.height, s.flags) for s in screens
    )
    return Rectangle(reason, status, width, height, Encoding.EXTENDED_DESKTOP_SIZE, payload)


def screen_layout(rectangle: Rectangle) -> ScreenLayout:
    """Decode an ExtendedDesktopSize rectangle whose payload has been read."""
    payload = rectangle.payload
    if len(payload) < _SCREEN_COUNT.size:
        raise RemoteProtocolError("ExtendedDesktopSize rectangle without its screen count")
    (count,) = _SCREEN_COUNT.unpack_from(payload)
    body = payload[_SCREEN_COUNT.size :]
    if len(body) != count * _SCREEN.size:
        raise RemoteProtocolError(
            f"ExtendedDesktopSize announces {count} screens in {len(body)} bytes"
        )
    screens = [Screen(*fields) for fields in _SCREEN.iter_unpack(body)]
    return ScreenLayout(rectangle.x, rectangle.y, rectangle.width, rectangle.height, screens)


def last_rect() -> Rectangle:
    """The marker that ends an update sent with 65535 as its rectangle count."""
    return Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)


@register_decoder
class DesktopSizeDecoder(NoPayload):
    encoding = Encoding.DESKTOP_SIZE

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        # 7.8.4 "Client Semantics": keep what we have; the server resends what it must.
        framebuffer.resize(rectangle.width, rectangle.height)


@register_decoder
class LastRectDecoder(NoPayload):
    encoding = Encoding.LAST_RECT

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        """Nothing to apply: the connection stops reading the update here."""


@register_decoder
class ExtendedDesktopSizeDecoder:
    encoding = Encoding.EXTENDED_DESKTOP_SIZE

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        head = yield _SCREEN_COUNT.size
        (count,) = _SCREEN_COUNT.unpack(head)
        return head + (yield count * _SCREEN.size) if count else head

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        layout = screen_layout(rectangle)
        # A refused request (reason 1, non-zero status) leaves the other fields undefined.
        if layout.reason == ResizeReason.THIS_CLIENT and layout.status != ResizeStatus.OK:
            return
        framebuffer.resize(layout.width, layout.height)


#: The longest name a DesktopName rectangle may bring a client: the limit ServerInit's name
#: has by default (the connections' ``max_reason``).
MAX_DESKTOP_NAME = 64 << 10
_NAME_LENGTH = struct.Struct(">I")


def desktop_name(name: str) -> Rectangle:
    """The desktop's new name: a U32 length and the name in UTF-8 (rfbproto 'String
    Encodings'); the header's position and size are zero."""
    data = name.encode("utf-8")
    return Rectangle(0, 0, 0, 0, Encoding.DESKTOP_NAME, _NAME_LENGTH.pack(len(data)) + data)


def desktop_name_of(rectangle: Rectangle) -> str:
    """The name a received DesktopName rectangle brings. Like ServerInit's, it is decoded
    leniently: peers disagree on the encoding, so bytes that are not UTF-8 are replaced."""
    payload = rectangle.payload
    if len(payload) < _NAME_LENGTH.size:
        raise RemoteProtocolError("DesktopName rectangle without its name length")
    (length,) = _NAME_LENGTH.unpack_from(payload)
    if len(payload) != _NAME_LENGTH.size + length:
        raise RemoteProtocolError(
            f"DesktopName announces {length} bytes of name in {len(payload) - 4}"
        )
    return payload[_NAME_LENGTH.size :].decode("utf-8", errors="replace")


@register_decoder
class DesktopNameDecoder:
    encoding = Encoding.DESKTOP_NAME

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        head = yield _NAME_LENGTH.size
        (length,) = _NAME_LENGTH.unpack(head)
        if length > MAX_DESKTOP_NAME:
            raise RemoteProtocolError(
                f"desktop name of {length} bytes exceeds the limit of {MAX_DESKTOP_NAME}"
            )
        return head + (yield from read_bytes(length))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        desktop_name_of(rectangle)  # the name is no pixels: only refuse a malformed payload
