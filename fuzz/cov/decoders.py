"""Every registered decoder on its own, in several pixel formats: rectangles whose headers
and payloads come from the fuzzer, read by the decoder's reader as from a stream and then
decoded into a framebuffer (one decoder per input, so zlib streams carry across its
rectangles); or, now and then, handed to ``decode`` as they are, without the reader."""

from __future__ import annotations

from collections.abc import Iterator

import atheris
import attrs

from protocol import BGRX, Framebuffer, PixelFormat, Rectangle
from protocol.encodings import DECODERS, make_decoder

from ._harness import options, target
from ._traffic import MAP8, RGB565, all_encoded, pseudo_rectangles

ENCODINGS = sorted(DECODERS)
FORMATS = (
    BGRX,
    RGB565,
    MAP8,
    PixelFormat(32, 24, True, True, 255, 255, 255, 16, 8, 0),  # XRGB, big endian
    PixelFormat(16, 15, False, True, 31, 31, 31, 10, 5, 0),
    PixelFormat(8, 8, False, True, 7, 7, 3, 0, 3, 6),  # BGR233
)
#: The framebuffer; rectangle headers range a little past it, so the bounds checks are met.
WIDTH, HEIGHT = 48, 40
MAX_RECTANGLES = 8


def _header(fdp: atheris.FuzzedDataProvider, encoding: int) -> Rectangle:
    x, y = fdp.ConsumeIntInRange(0, 63), fdp.ConsumeIntInRange(0, 63)
    width, height = fdp.ConsumeIntInRange(0, 63), fdp.ConsumeIntInRange(0, 63)
    return Rectangle(x, y, width, height, encoding)


def _payload(fdp: atheris.FuzzedDataProvider, reader) -> bytes | None:
    """Drive ``reader`` over the stream; None if the stream ends first."""
    try:
        need = next(reader)
        while True:
            data = fdp.ConsumeBytes(need)
            if len(data) < need:
                return None
            need = reader.send(data)
    except StopIteration as done:
        return done.value


@target
def test_one_input(fdp: atheris.FuzzedDataProvider) -> None:
    encoding = ENCODINGS[fdp.ConsumeIntInRange(0, len(ENCODINGS) - 1)]
    pixel_format = FORMATS[fdp.ConsumeIntInRange(0, len(FORMATS) - 1)]
    unread = fdp.ConsumeIntInRange(0, 15) == 0  # 1 in 16: the payload skips the reader
    framebuffer = Framebuffer.blank(WIDTH, HEIGHT)
    framebuffer.set_colour_map_entries(0, [(i * 257, 0xFFFF - i * 257, i * 64) for i in range(256)])
    decoder = make_decoder(encoding)
    for _ in range(MAX_RECTANGLES):
        if not fdp.remaining_bytes():
            return
        header = _header(fdp, encoding)
        if unread:
            payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 255) * 16)
        else:
            payload = _payload(fdp, decoder.read_payload(header, pixel_format))
            if payload is None:
                return
        decoder.decode(attrs.evolve(header, payload=payload), pixel_format, framebuffer)


def seeds() -> Iterator[bytes]:
    """Each encoder's rectangles and every pseudo-encoding's, in every format."""
    for index, pixel_format in enumerate(FORMATS):
        groups = [*all_encoded(pixel_format), *([r] for r in pseudo_rectangles(pixel_format))]
        for group in groups:
            encoding = ENCODINGS.index(group[0].encoding)
            heads = [v for r in group[:MAX_RECTANGLES] for v in (r.x, r.y, r.width, r.height)]
            payloads = b"".join(r.payload for r in group[:MAX_RECTANGLES])
            yield payloads + options(encoding, index, 1, *heads)
