"""Every registered encoder on the benchmark contents: a Markdown table of milliseconds per
1920x1080 frame, throughput, bytes per pixel and a round-trip check through its decoder.

Run from the repository root: ``python -m benchmarks.encoders [--repeat N] [--only NAME...]``.
``--only`` keeps the rows whose label contains any NAME (case-insensitive).

Method: the process is pinned to one core; each row uses one encoder (as one connection
would) on BGRX, the format most viewers ask for. The first encode of a content is what a
new viewer gets for a full frame: its size is reported (bytes include the 12-byte rectangle
headers) and fresh decoders check its round trip ("exact" against what the client should see,
else the PSNR). The time is the median of N further, warm encodes of the same frame.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import pkgutil
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

import protocol.encodings
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, quantise
from protocol.encodings import (
    ENCODERS,
    Decoder,
    EncodeSettings,
    Encoding,
    make_decoder,
    make_encoder,
)

from .contents import mixed, photo, text_desktop

CONTENTS: dict[str, Callable[[], np.ndarray]] = {
    "text": text_desktop,
    "photo": photo,
    "mixed": mixed,
}
#: Rows besides each encoder's default settings: (label, encoding, settings). A row appears
#: once its encoding is registered.
VARIANTS: tuple[tuple[str, int, EncodeSettings], ...] = (
    ("ZLIB level 6", Encoding.ZLIB, EncodeSettings(compress_level=6)),
    ("ZRLE level 6", Encoding.ZRLE, EncodeSettings(compress_level=6)),
    ("TIGHT JPEG quality 8", Encoding.TIGHT, EncodeSettings(quality=8)),
    ("TIGHT JPEG quality 5", Encoding.TIGHT, EncodeSettings(quality=5)),
    ("TIGHT_PNG quality 8", Encoding.TIGHT_PNG, EncodeSettings(quality=8)),
)
_RECTANGLE_HEADER = 12  # x, y, width, height, encoding-type (7.6.1)


def register_all() -> None:
    """Import every module of protocol.encodings, so every encoder registers itself."""
    for module in pkgutil.iter_modules(protocol.encodings.__path__):
        try:
            importlib.import_module(f"{protocol.encodings.__name__}.{module.name}")
        except Exception as error:  # one half-written encoding must not stop the others
            print(f"skipped {module.name}: {error!r}", file=sys.stderr)


def rows(only: list[str]) -> list[tuple[str, int, EncodeSettings]]:
    numbers = sorted(ENCODERS, key=lambda number: (number < 0, number))
    defaults = [(_name(number), number, EncodeSettings()) for number in numbers]
    candidates = defaults + [row for row in VARIANTS if row[1] in ENCODERS]
    wanted = [name.lower() for name in only]
    return [row for row in candidates if not wanted or any(w in row[0].lower() for w in wanted)]


def _name(number: int) -> str:
    try:
        return Encoding(number).name
    except ValueError:
        return str(number)


def measure(encoding: int, settings: EncodeSettings, frame: np.ndarray, repeat: int) -> list[str]:
    """One table row's cells after the labels: ms, Mpixel/s, bytes/pixel, check."""
    encoder = make_encoder(encoding)
    rectangles = encoder.encode(frame, 0, 0, BGRX, settings)
    check = round_trip_check(rectangles, frame)
    size = sum(_RECTANGLE_HEADER + len(rectangle.payload) for rectangle in rectangles)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        encoder.encode(frame, 0, 0, BGRX, settings)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    pixels = frame.shape[0] * frame.shape[1]
    return [f"{seconds * 1000:.1f}", f"{pixels / seconds / 1e6:.0f}", f"{size / pixels:.3f}", check]


def round_trip_check(rectangles: list[Rectangle], frame: np.ndarray) -> str:
    """Decode with fresh decoders (one per encoding, as a new connection): "exact" when the
    client sees exactly the frame, else the PSNR of what it sees."""
    framebuffer = Framebuffer.blank(frame.shape[1], frame.shape[0])
    decoders: dict[int, Decoder] = {}
    try:
        for rectangle in rectangles:
            decoder = decoders.setdefault(rectangle.encoding, make_decoder(rectangle.encoding))
            decoder.decode(rectangle, BGRX, framebuffer)
    except KeyError:
        return "no decoder"
    expected = quantise(frame, BGRX)
    if np.array_equal(framebuffer.pixels, expected):
        return "exact"
    error = framebuffer.pixels[..., :3].astype(np.float64) - expected[..., :3]
    mse = float(np.mean(error * error))
    return f"PSNR {10 * math.log10(255**2 / mse):.1f} dB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed encodes per cell")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="row filter")
    arguments = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    register_all()
    height, width = text_desktop().shape[:2]
    print(f"{width}x{height} BGRX, one core, median of {arguments.repeat} warm encodes\n")
    print("| encoder | content | ms/frame | Mpixel/s | bytes/pixel | round trip |")
    print("|---|---|---:|---:|---:|---|")
    for label, encoding, settings in rows(arguments.only):
        for content, make in CONTENTS.items():
            try:
                cells = measure(encoding, settings, make(), arguments.repeat)
            except Exception as error:  # a broken encoder is a row, not the end of the table
                cells = ["", "", "", f"failed: {error!r}"]
            print(f"| {label} | {content} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
