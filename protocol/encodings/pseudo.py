"""Pseudo-encodings without payload: DesktopSize (rfbproto 7.8.4) and LastRect (7.8.5)."""

from __future__ import annotations

from collections.abc import Generator

from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._registry import Encoding, register_decoder


def desktop_size(width: int, height: int) -> Rectangle:
    """Tell the client the framebuffer is now width x height (x and y are ignored)."""
    return Rectangle(0, 0, width, height, Encoding.DESKTOP_SIZE)


def last_rect() -> Rectangle:
    """The marker that ends an update sent with 65535 as its rectangle count."""
    return Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)


class _NoPayload:
    """Both carry nothing after the rectangle header."""

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        yield from ()
        return b""


@register_decoder
class DesktopSizeDecoder(_NoPayload):
    encoding = Encoding.DESKTOP_SIZE

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        # 7.8.4 "Client Semantics": keep what we have; the server resends what it must.
        framebuffer.resize(rectangle.width, rectangle.height)


@register_decoder
class LastRectDecoder(_NoPayload):
    encoding = Encoding.LAST_RECT

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        """Nothing to apply: the connection stops reading the update here."""
