"""What every encoding module provides: an Encoder, a Decoder and its number.

Parsing is done by *readers*: generators that yield how many bytes they need next and are sent
exactly that many bytes back (``data = yield n``), returning their result at the end. The
connection drives them as bytes arrive, so a message split anywhere resumes where it stopped,
without re-parsing and without a rewind. A reader checks every length against its limit before
it yields for the body, and raises ``RemoteProtocolError`` for anything malformed.

Pixels are numpy ``uint8`` arrays of shape (height, width, 4) in the canonical B, G, R, X
layout (see ``protocol._pixelformat``); encoders convert to the client's PixelFormat, decoders
convert back.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Protocol

import attrs
import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat

#: A resumable parser: yields byte counts, is sent that many bytes, returns T.
Reader = Generator[int, bytes, "object"]

#: Largest single read: a header claiming a huge body gets memory only as fast as the bytes
#: actually arrive.
CHUNK = 1 << 20


def read_bytes(count: int) -> Generator[int, bytes, bytes]:
    """A reader for ``count`` bytes, asked for in chunks so memory follows the bytes that
    arrived."""
    chunks = []
    while count:
        size = min(count, CHUNK)
        chunks.append((yield size))
        count -= size
    return b"".join(chunks)


class NoPayload:
    """For pseudo-encodings that carry nothing after the rectangle header."""

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        yield from ()
        return b""


def require_inside(framebuffer: Framebuffer, rectangle: Rectangle, name: str) -> None:
    """RemoteProtocolError unless a pixel rectangle lies inside the framebuffer."""
    x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
    if not framebuffer.contains(x, y, width, height):
        raise RemoteProtocolError(
            f"{name} {width}x{height} at ({x}, {y}) leaves the "
            f"{framebuffer.width}x{framebuffer.height} framebuffer"
        )


@attrs.frozen(slots=True, cache_hash=True)
class EncodeSettings:
    """The client's tuning pseudo-encodings as they stand now (None: the client said nothing).

    quality 0..9 (Tight JPEG quality pseudo-encodings), fine_quality 0..100, subsampling
    0..5 (TurboVNC's numbering) and compress_level 0..9.
    """

    quality: int | None = None
    fine_quality: int | None = None
    subsampling: int | None = None
    compress_level: int | None = None


class Encoder(Protocol):
    """Per-connection encoder state (zlib streams live here), one instance per client."""

    encoding: int
    #: True when ``encode`` keeps no state between calls (no zlib stream, no video context):
    #: its output for a region may then go to every client with the same pixel format and
    #: settings. Encoders without the attribute count as False.
    shareable: bool

    def encode(
        self,
        pixels: np.ndarray,
        x: int,
        y: int,
        pixel_format: PixelFormat,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        """Encode ``pixels`` (the frame region whose top-left is (x, y)) into rectangles.
        Usually one; an encoding may split (Tight's width limit) or merge as it needs."""
        ...


class Decoder(Protocol):
    """Per-connection decoder state (zlib streams live here), one instance per connection."""

    encoding: int

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        """A reader that consumes exactly this rectangle's payload from the wire and returns
        it (``rectangle.payload`` is still empty; its header fields are set)."""
        ...

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        """Apply a complete rectangle (payload filled in) to ``framebuffer`` (the client's
        canonical BGRX pixels plus its colour map). Raises RemoteProtocolError on bad data."""
        ...
