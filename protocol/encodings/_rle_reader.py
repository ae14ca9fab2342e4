"""The tile parser TRLE and ZRLE share (RFC 6143 7.7.5, rfbproto 7.7.8; layout summarised in
``_rle_tiles``).

``TileReader`` parses the tiles of one rectangle from bytes that may arrive in pieces: after
each piece it knows a lower bound of the bytes still to come, so TRLE, which has no length
prefix, can read exactly its payload off the wire (``need`` never asks past the end of a valid
rectangle). ZRLE feeds it the whole inflated payload at once. Parsing records, for every run
of equal pixels, the offset of its CPIXEL in the data and its length; ``apply()`` turns those
into pixels with a few whole-array operations.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from .._errors import RemoteProtocolError
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat, decode_pixels
from ._rle_cpixel import CPixel
from ._rle_tiles import (
    INDEX_BITS,
    MAX_PACKED,
    MAX_PALETTE,
    PALETTE_RLE,
    PLAIN_RLE,
    RAW,
    REUSE_PACKED,
    REUSE_RLE,
    SOLID,
)

#: No tile is shorter than 2 bytes (subencoding + at least one byte), so a reader can ask for
#: 2 bytes per tile still to come without reading past the rectangle.
_MIN_TILE = 2


class TileReader:
    """One rectangle's tiles; ``feed`` bytes until ``need`` is 0."""

    def __init__(
        self,
        name: str,
        width: int,
        height: int,
        size: int,
        cpixel: CPixel,
        *,
        reuse_palettes: bool,
        keep: bool,
    ) -> None:
        """``keep``: remember the runs for ``apply()`` (False only walks, to find the end)."""
        self.data = bytearray()
        self._name = name
        self._width, self._height, self._size = width, height, size
        self._cpixel = cpixel
        self._reuse = reuse_palettes
        self._keep = keep
        # Runs as (CPIXEL offset, length): the latest as Python ints, the rest as arrays.
        self._offsets: list[int] = []
        self._lengths: list[int] = []
        self._pieces: list[tuple[np.ndarray, np.ndarray]] = []
        self._parser = self._parse()
        self.need = 0
        self.end = 0  # where the last tile ends, once need is 0
        self._resume()

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Take more bytes; returns how many more are needed at least (0: all tiles read)."""
        self.data += data
        if self.need:
            self._resume()
        return self.need

    def _resume(self) -> None:
        try:
            self.need = next(self._parser)
        except StopIteration:
            self.need = 0

    def _error(self, what: str) -> RemoteProtocolError:
        return RemoteProtocolError(f"{self._name} {self._width}x{self._height}: {what}")

    # --- parsing -----------------------------------------------------------------------

    def _parse(self) -> Generator[int, None, None]:
        data, size = self.data, self._cpixel.size
        across = -(-self._width // self._size)
        down = -(-self._height // self._size)
        palette: tuple[int, int] | None = None  # (offset, colours) for TRLE's 127 and 129
        pos = 0
        for tile in range(across * down):
            top, left = divmod(tile, across)
            th = min(self._size, self._height - top * self._size)
            tw = min(self._size, self._width - left * self._size)
            pixels = th * tw
            after = _MIN_TILE * (across * down - tile - 1)
            yield from self._wait(pos, 1, after)
            subencoding = data[pos]
            pos += 1
            if subencoding == RAW:
                yield from self._wait(pos, pixels * size, after)
                if self._keep:
                    self._add(pos + size * np.arange(pixels), np.ones(pixels, np.int64))
                pos += pixels * size
            elif subencoding == SOLID:
                yield from self._wait(pos, size, after)
                if self._keep:
                    self._offsets.append(pos)
                    self._lengths.append(pixels)
                pos += size
            elif subencoding <= MAX_PACKED or (self._reuse and subencoding == REUSE_PACKED):
                if subencoding == REUSE_PACKED:
                    palette = self._previous(palette, MAX_PACKED)
                else:
                    yield from self._wait(pos, subencoding * size, after)
                    palette = (pos, subencoding)
                    pos += subencoding * size
                row_bytes = (tw * INDEX_BITS[palette[1]] + 7) // 8
                yield from self._wait(pos, th * row_bytes, after)
                if self._keep:
                    self._packed(pos, th, tw, palette)
                pos += th * row_bytes
            elif subencoding == PLAIN_RLE:
                pos = yield from self._runs(pos, pixels, None, after)
            elif subencoding >= PALETTE_RLE + 2 or (self._reuse and subencoding == REUSE_RLE):
                if subencoding == REUSE_RLE:
                    palette = self._previous(palette, MAX_PALETTE)
                else:
                    colours = subencoding - PALETTE_RLE
                    yield from self._wait(pos, colours * size, after)
                    palette = (pos, colours)
                    pos += colours * size
                pos = yield from self._runs(pos, pixels, palette, after)
            else:
                raise self._error(f"tile subencoding {subencoding} is not defined")
        self.end = pos

    def _wait(self, pos: int, count: int, after: int) -> Generator[int, None, None]:
        while (missing := count - (len(self.data) - pos)) > 0:
            yield missing + after

    def _previous(self, palette: tuple[int, int] | None, largest: int) -> tuple[int, int]:
        if palette is None:
            raise self._error("a tile reuses a palette before any tile sent one")
        if palette[1] > largest:
            raise self._error(f"a packed tile reuses a palette of {palette[1]} colours")
        return palette

    def _runs(
        self, pos: int, pixels: int, palette: tuple[int, int] | None, after: int
    ) -> Generator[int, None, int]:
        """Runs until ``pixels`` are covered; returns where the tile ends. Asks for the fewest
        bytes the rest of the tile could take: one run covering it all."""
        offsets, lengths = (self._offsets, self._lengths) if self._keep else ([], [])
        head = 1 if palette else self._cpixel.size
        remaining = pixels
        while True:
            if palette:
                pos, remaining = self._palette_runs(pos, remaining, palette, offsets, lengths)
            else:
                pos, remaining = self._plain_runs(pos, remaining, offsets, lengths)
            if not remaining:
                return pos
            if not self._keep:
                offsets.clear()
                lengths.clear()
            shortest = 1 if palette and remaining == 1 else head + -(-remaining // 255)
            yield max(1, shortest - (len(self.data) - pos)) + after

    def _palette_runs(
        self,
        pos: int,
        remaining: int,
        palette: tuple[int, int],
        offsets: list[int],
        lengths: list[int],
    ) -> tuple[int, int]:
        """Palette RLE: an index, or an index + 128 and a run length (7.7.8)."""
        data, end, size = self.data, len(self.data), self._cpixel.size
        base, colours = palette
        while remaining and pos < end:
            byte = data[pos]
            index = byte & 0x7F
            if index >= colours:
                raise self._error(f"palette index {index} of a {colours}-colour palette")
            if byte < 0x80:
                run, pos = 1, pos + 1
            else:
                found = self._run_length(pos + 1, remaining)
                if found is None:
                    break
                run, pos = found
            offsets.append(base + index * size)
            lengths.append(run)
            remaining -= run
        return pos, remaining

    def _plain_runs(
        self, pos: int, remaining: int, offsets: list[int], lengths: list[int]
    ) -> tuple[int, int]:
        """Plain RLE: a CPIXEL and a run length (7.7.8)."""
        end, size = len(self.data), self._cpixel.size
        while remaining and pos + size < end:
            found = self._run_length(pos + size, remaining)
            if found is None:
                break
            offsets.append(pos)
            lengths.append(found[0])
            remaining -= found[0]
            pos = found[1]
        return pos, remaining

    def _run_length(self, pos: int, remaining: int) -> tuple[int, int] | None:
        """(length, end) of the run length at ``pos``: 1 + the sum of its bytes, every byte
        but the last 255; None if its last byte has not arrived yet."""
        data, end = self.data, len(self.data)
        run = 1
        while pos < end and data[pos] == 255:
            run += 255
            pos += 1
            if run > remaining:
                break
        else:
            if pos == end:
                return None
            run += data[pos]
        if run > remaining:
            raise self._error(f"a run of {run} pixels where {remaining} are left in the tile")
        return run, pos + 1

    def _packed(self, pos: int, th: int, tw: int, palette: tuple[int, int]) -> None:
        base, colours = palette
        bits = INDEX_BITS[colours]
        per_byte = 8 // bits
        row_bytes = -(-tw // per_byte)
        packed = np.frombuffer(self.data, np.uint8, th * row_bytes, pos).reshape(th, row_bytes)
        shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
        indices = (packed[:, :, None] >> shifts) & ((1 << bits) - 1)
        indices = indices.reshape(th, row_bytes * per_byte)[:, :tw].ravel()
        if indices.max() >= colours:
            raise self._error(f"palette index {indices.max()} of a {colours}-colour palette")
        self._add(base + self._cpixel.size * indices.astype(np.int64), np.ones(th * tw, np.int64))

    def _add(self, offsets: np.ndarray, lengths: np.ndarray) -> None:
        """Runs as arrays, after the ones collected as Python ints so far."""
        self._flush()
        self._pieces.append((offsets, lengths))

    def _flush(self) -> None:
        if self._offsets:
            self._pieces.append((np.array(self._offsets), np.array(self._lengths)))
            self._offsets, self._lengths = [], []

    # --- results -----------------------------------------------------------------------

    def apply(self, x: int, y: int, pixel_format: PixelFormat, framebuffer: Framebuffer) -> None:
        """Draw the tiles, all read with ``keep``, at (x, y); the data must end with them."""
        if self.need:
            raise self._error(f"the data ends {len(self.data)} bytes into the tiles")
        if self.end != len(self.data):
            raise self._error(f"{len(self.data) - self.end} bytes follow the last tile")
        wire = self._pixels().tobytes()
        framebuffer.pixels[y : y + self._height, x : x + self._width] = decode_pixels(
            wire, self._width, self._height, pixel_format, framebuffer.colour_map
        )

    def _pixels(self) -> np.ndarray:
        """The rectangle's wire PIXELs, (height, width) in ``cpixel.dtype`` containers."""
        self._flush()
        if not self._pieces:
            return np.zeros((self._height, self._width), self._cpixel.dtype)
        offsets = np.concatenate([piece[0] for piece in self._pieces])
        lengths = np.concatenate([piece[1] for piece in self._pieces])
        data = np.frombuffer(self.data, np.uint8)
        cpixels = data[offsets[:, None] + np.arange(self._cpixel.size)]
        in_tiles = np.repeat(self._cpixel.to_pixels(cpixels), lengths)
        return _untile(in_tiles, self._width, self._height, self._size)


def _untile(values: np.ndarray, width: int, height: int, size: int) -> np.ndarray:
    """Pixels in wire order (tile after tile, each row-major) -> (height, width)."""
    out = np.empty((height, width), values.dtype)
    whole, narrow = divmod(width, size)
    pos = 0
    for top in range(0, height, size):
        th = min(size, height - top)
        count = th * size * whole
        band = values[pos : pos + count].reshape(whole, th, size).swapaxes(0, 1)
        out[top : top + th, : whole * size] = band.reshape(th, whole * size)
        pos += count
        if narrow:
            out[top : top + th, whole * size :] = values[pos : pos + th * narrow].reshape(
                th, narrow
            )
            pos += th * narrow
    return out
