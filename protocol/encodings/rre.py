"""RRE encoding (rfbproto 7.7.3): a background pixel and subrectangles of other colours.

The encoder takes the most common pixel value as the background and covers the rest with
subrectangles found in one batched pass (``subrectangles``): maximal horizontal runs of one
value, stacked vertically while the run below has the same position, width and value. That is
near-optimal for the flat shapes RRE suits (window chrome, text on flat backgrounds).

Size: a viewer that asks for RRE gets RRE, whatever the pixels. On photo-like pixels nearly every
pixel becomes its own subrectangle, (bpp + 8) / bpp times the Raw size at worst (3x at 32 bpp,
9x at 8 bpp), so the cost stays linear in the pixels; an update builder that knows the client
also takes Raw (every client must, 7.7.1) should prefer Raw or another encoding there.

The decoder paints subrectangles in order, so overlaps come out as a client draws them, but
it rejects subrectangles covering more than the rectangle's area: they cannot be the partition
7.7.3 describes, and would make painting cost more than linear in the bytes received.

Hextile (``hextile.py``) is RRE within 16x16 tiles and reuses the helpers here: the client's
pixel values as integers (``wire_values``), ``subrectangles`` and ``paint_rectangles``.
"""

from __future__ import annotations

import struct
from collections.abc import Generator

import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat, decode_pixels, encode_pixels
from ._base import EncodeSettings, read_bytes, require_inside
from ._registry import Encoding, register_decoder, register_encoder

_COUNT = struct.Struct(">I")  # number-of-subrectangles
_VALUE_TYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32}
#: Largest number of pixel positions one painting batch expands to (bounded memory).
_PAINT_BATCH = 1 << 21


def value_dtype(pf: PixelFormat) -> np.dtype:
    """An unsigned integer as wide as one of ``pf``'s pixels, in native byte order."""
    return np.dtype(_VALUE_TYPES[pf.bytes_per_pixel])


def wire_values(pixels: np.ndarray, pf: PixelFormat) -> np.ndarray:
    """The (H, W) pixel values the client will receive, as integers reinterpreting the wire
    bytes: equal integers are equal wire pixels (colours that quantise together compare equal)
    and ``tobytes()`` of any selection gives its wire bytes back."""
    height, width = pixels.shape[:2]
    return np.frombuffer(encode_pixels(pixels, pf), value_dtype(pf)).reshape(height, width)


def most_common(values: np.ndarray) -> int:
    """The most frequent value (the smallest on ties); 0 for no values."""
    flat = values.reshape(-1)
    if not flat.size:
        return 0
    if flat.dtype.itemsize <= 2:
        return int(np.argmax(np.bincount(flat)))
    unique, counts = np.unique(flat, return_counts=True)
    return int(unique[np.argmax(counts)])


def subrectangles(
    blocks: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cover every pixel of ``blocks`` (B, rows, cols) that differs from its block's
    ``background`` (B,) with disjoint one-value rectangles, all blocks in one batch.

    Returns (block, x, y, width, height, value) arrays in the order of the rectangles' top-left
    corners (block by block, row by row). Horizontal runs are maximal; a run continues the
    rectangle above it when that rectangle's bottom row is a run with the same x, width and
    value. Every step is a pass over the pixels (a few per doubling of the reach for widths
    and heights), so whole frames of blocks cost no loop per block or per run.
    """
    count, rows, cols = blocks.shape
    flat = np.ascontiguousarray(blocks).reshape(-1)
    size = flat.size
    if not size:
        nothing = np.zeros(0, np.intp)
        return nothing, nothing, nothing, nothing, nothing, flat
    # A run starts at column 0 and wherever the value changes from the left.
    starts = np.empty(size, bool)
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    starts.reshape(-1, cols)[:, 0] = True
    foreground = np.not_equal(flat.reshape(count, -1), background[:, None]).reshape(-1)
    foreground &= starts
    # At every pixel, the width of its run from there on: at a start, the run's width.
    widths = _chain_lengths(~starts[1:], size, cols, 1)
    # A foreground run continues the run above when that one starts at the same x with the
    # same width and value (never across blocks: a block's first row continues nothing).
    continues = np.zeros(size, bool)
    np.equal(flat[cols:], flat[:-cols], out=continues[cols:])
    continues.reshape(count, rows, cols)[:, 0] = False
    continues &= foreground
    continues[cols:] &= starts[:-cols]
    continues[cols:] &= widths[cols:] == widths[:-cols]
    # Runs that continue nothing are the rectangles' top rows; the runs below continuing
    # them, one after another, give their heights.
    heights = _chain_lengths(continues[cols:], size, rows, cols)
    tops = np.flatnonzero(foreground ^ continues)  # (continues lies within foreground)
    line = tops // cols  # (floor division by a constant is much faster than divmod)
    block = line // rows
    return (
        block,
        tops - line * cols,
        line - block * rows,
        widths[tops].astype(np.intp),
        heights[tops].astype(np.intp),
        flat[tops],
    )


def _chain_lengths(links: np.ndarray, size: int, longest: int, stride: int) -> np.ndarray:
    """For every position p of a flat array, how many of p, p + stride, p + 2 stride ... are
    linked to it without a break, where ``links[p]`` says p + stride is linked to p and no
    chain is longer than ``longest``. Doubling the reach each pass takes log2(longest) passes
    over the array rather than a loop per chain."""
    lengths = np.ones(size, np.min_scalar_type(longest))
    reach = 1
    while reach < longest:
        shift = reach * stride
        # lengths[p] counted the first ``reach`` of p's chain; add the next ``reach`` when
        # p + shift is still linked to p.
        lengths[:-shift] += lengths[shift:] * links[: size - shift]
        reach *= 2
        if reach < longest:  # linked over the doubled reach: over two of the last
            links = links[: len(links) - shift] & links[shift:]
    return lengths


def paint_rectangles(
    canvas: np.ndarray,
    stride: int,
    origins: np.ndarray,
    widths: np.ndarray,
    heights: np.ndarray,
    values: np.ndarray,
) -> None:
    """Fill rectangles into the flat ``canvas`` (rows of ``stride`` values) in order, later
    over earlier as a client draws them; ``origins`` are the flat indices of their top-left
    corners. Rectangles are expanded to pixel indices in batches of bounded total area, so
    memory stays bounded however many (overlapping) rectangles a peer sends."""
    areas = np.cumsum(widths.astype(np.int64) * heights)
    start = 0
    while start < len(origins):
        done = areas[start - 1] if start else 0
        stop = max(int(np.searchsorted(areas, done + _PAINT_BATCH, "right")), start + 1)
        batch = slice(start, stop)
        _paint_batch(canvas, stride, origins[batch], widths[batch], heights[batch], values[batch])
        start = stop


def _paint_batch(
    canvas: np.ndarray,
    stride: int,
    origins: np.ndarray,
    widths: np.ndarray,
    heights: np.ndarray,
    values: np.ndarray,
) -> None:
    heights = heights.astype(np.int64)
    row_owner = np.repeat(np.arange(len(origins), dtype=np.int32), heights)
    row_starts = np.repeat(np.cumsum(heights) - heights, heights)
    row_origins = origins[row_owner] + (np.arange(len(row_owner)) - row_starts) * stride
    row_widths = widths[row_owner].astype(np.int64)
    pixel_starts = np.cumsum(row_widths) - row_widths
    positions = np.repeat(row_origins - pixel_starts, row_widths) + np.arange(row_widths.sum())
    # Where rectangles overlap the last one wins: the highest index painting each position.
    winner = np.full(canvas.size, -1, np.int32)
    np.maximum.at(winner, positions, np.repeat(row_owner, row_widths))
    painted = winner >= 0
    canvas[painted] = values[winner[painted]]


@register_encoder
class RREEncoder:
    """Stateless: one RRE rectangle per region (see the module notes on size)."""

    encoding = Encoding.RRE
    shareable = True

    def encode(
        self,
        pixels: np.ndarray,
        x: int,
        y: int,
        pixel_format: PixelFormat,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        height, width = pixels.shape[:2]
        values = wire_values(pixels, pixel_format)
        background = most_common(values)
        _, xs, ys, ws, hs, colours = subrectangles(
            values[None], np.array([background], values.dtype)
        )
        # Each subrectangle: PIXEL value, then x, y, width, height as U16 (7.7.3).
        records = np.empty(len(xs), _record_dtype(pixel_format))
        records["value"], records["x"], records["y"] = colours, xs, ys
        records["width"], records["height"] = ws, hs
        payload = b"".join(
            (
                _COUNT.pack(len(records)),
                np.array(background, values.dtype).tobytes(),
                records.tobytes(),
            )
        )
        return [Rectangle(x, y, width, height, self.encoding, payload)]


def _record_dtype(pf: PixelFormat) -> np.dtype:
    return np.dtype(
        [
            ("value", value_dtype(pf)),
            ("x", ">u2"),
            ("y", ">u2"),
            ("width", ">u2"),
            ("height", ">u2"),
        ]
    )


@register_decoder
class RREDecoder:
    encoding = Encoding.RRE

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        header = yield _COUNT.size + pixel_format.bytes_per_pixel
        (count,) = _COUNT.unpack_from(header)
        _check_count(count, rectangle)
        return header + (yield from read_bytes(count * _record_dtype(pixel_format).itemsize))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        require_inside(framebuffer, rectangle, "RRE")
        payload, dtype = rectangle.payload, value_dtype(pixel_format)
        header_size = _COUNT.size + dtype.itemsize
        record = _record_dtype(pixel_format)
        if len(payload) < header_size:
            raise RemoteProtocolError(f"RRE payload of {len(payload)} bytes has no header")
        (count,) = _COUNT.unpack_from(payload)
        _check_count(count, rectangle)
        if len(payload) != header_size + count * record.itemsize:
            raise RemoteProtocolError(
                f"RRE payload is {len(payload)} bytes, not {count} subrectangles"
            )
        canvas = np.full(width * height, np.frombuffer(payload, dtype, 1, _COUNT.size)[0])
        records = np.frombuffer(payload, record, count, header_size)
        xs, ys = records["x"].astype(np.int64), records["y"].astype(np.int64)
        ws, hs = records["width"].astype(np.int64), records["height"].astype(np.int64)
        if ((xs + ws > width) | (ys + hs > height)).any():
            raise RemoteProtocolError(f"an RRE subrectangle leaves its {width}x{height} rectangle")
        # Subrectangles partition the rectangle (7.7.3): covering more than its area means
        # overlap, and would let a few bytes cost any amount of painting.
        if int((ws * hs).sum()) > width * height:
            raise RemoteProtocolError(f"RRE subrectangles overlap in {width}x{height} pixels")
        paint_rectangles(canvas, width, ys * width + xs, ws, hs, records["value"])
        framebuffer.pixels[y : y + height, x : x + width] = decode_pixels(
            canvas.tobytes(), width, height, pixel_format, framebuffer.colour_map
        )


def _check_count(count: int, rectangle: Rectangle) -> None:
    """A partition has at most one subrectangle per pixel: more is garbage, not a size."""
    if count > rectangle.width * rectangle.height:
        raise RemoteProtocolError(
            f"RRE claims {count} subrectangles in {rectangle.width}x{rectangle.height} pixels"
        )
