"""Hextile encoding (rfbproto 7.7.4): RRE within 16x16 tiles, with colours carried over.

Encoder: every tile of the rectangle is analysed at once with numpy (``_hextile_choice``):
solid tiles (background only), two-colour tiles (background + foreground subrectangles),
tiles of more colours (coloured subrectangles), or Raw where that is smaller. Background and
foreground are sent only when they differ from what the client carries over, and the bytes
of all tiles are put together without a loop per tile (but one per run of Raw tiles).

Carry-over (7.7.4): the background and foreground hold from tile to tile within a rectangle; a
Raw tile ends both, a SubrectsColoured tile ends the foreground, a tile without subrectangles
keeps it. The first non-Raw tile of a rectangle must specify its background. The decoder
enforces exactly these rules: a tile that relies on a value the spec says it cannot have is a
RemoteProtocolError (TigerVNC and noVNC silently reuse an older or zero value there; servers
following the spec, as TigerVNC's and libvncserver's do, never depend on that).
"""

from __future__ import annotations

from collections.abc import Generator

import attrs
import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat, decode_pixels
from ._base import EncodeSettings, require_inside
from ._hextile_choice import Choice, Kind, choose
from ._registry import Encoding, register_decoder, register_encoder
from .rre import paint_rectangles, value_dtype, wire_values

# subencoding-mask bits (7.7.4)
RAW = 1
BACKGROUND_SPECIFIED = 2
FOREGROUND_SPECIFIED = 4
ANY_SUBRECTS = 8
SUBRECTS_COLOURED = 16

TILE = 16
_AREA = TILE * TILE
#: The subencoding-mask bits of each Kind of tile (SOLID, MONO, COLOURED, RAW), before the
#: background and foreground bits.
_KIND_MASKS = np.array([0, ANY_SUBRECTS, ANY_SUBRECTS | SUBRECTS_COLOURED, RAW], np.uint8)


def _tile_sizes(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of every tile, in wire order (rows of tiles, left to right)."""
    across = np.minimum(TILE, width - np.arange(0, width, TILE))
    down = np.minimum(TILE, height - np.arange(0, height, TILE))
    return np.tile(across, len(down)), np.repeat(down, len(across))


def _to_tiles(values: np.ndarray) -> np.ndarray:
    """(H, W) values -> (tiles, 16, 16) in wire order. Partial tiles are padded by repeating
    their last column and row: padding adds no colour, run or subrectangle of its own (every
    padded pixel equals its neighbour inside), so clipping subrectangles to the tile loses
    nothing."""
    height, width = values.shape
    rows, cols = -(-height // TILE), -(-width // TILE)
    whole_rows, whole_cols = height // TILE, width // TILE
    tiles = np.empty((rows, cols, TILE, TILE), values.dtype)
    if whole_rows and whole_cols:
        # The 16 values of a tile's row move as one opaque item: a copy of whole lines.
        line = np.dtype((np.void, TILE * values.dtype.itemsize))
        inside = values[: whole_rows * TILE, : whole_cols * TILE].view(line)
        lines = inside.reshape(whole_rows, TILE, whole_cols).transpose(0, 2, 1)
        tiles.view(line)[:whole_rows, :whole_cols, :, 0] = lines
    pad = ((0, rows * TILE - height), (0, cols * TILE - width))
    if whole_cols < cols:
        right = np.pad(values[:, whole_cols * TILE :], pad, mode="edge")
        tiles[:, -1] = right.reshape(rows, TILE, TILE)
    if whole_rows < rows:
        bottom = np.pad(values[whole_rows * TILE :], pad, mode="edge")
        tiles[-1] = bottom.reshape(TILE, cols, TILE).transpose(1, 0, 2)
    return tiles.reshape(-1, TILE, TILE)


def _from_tiles(tiles: np.ndarray, width: int, height: int) -> np.ndarray:
    """The inverse of ``_to_tiles``: (tiles, 16, 16) -> (H, W), padding dropped."""
    rows, cols = -(-height // TILE), -(-width // TILE)
    whole = tiles.reshape(rows, cols, TILE, TILE).transpose(0, 2, 1, 3)
    return whole.reshape(rows * TILE, cols * TILE)[:height, :width]


def _previous(values: np.ndarray, first: object) -> np.ndarray:
    """``values`` shifted one tile later: what the tile before each one had."""
    return np.concatenate(([first], values[:-1])).astype(values.dtype, copy=False)


def _as_bytes(values: np.ndarray) -> np.ndarray:
    """(N,) pixel values -> (N, bytes per pixel) of their wire bytes."""
    return np.ascontiguousarray(values).view(np.uint8).reshape(len(values), values.itemsize)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The integers of every range [start, start + length), one range after another."""
    lengths = np.asarray(lengths, np.intp)
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())


def encode_tiles(values: np.ndarray) -> bytes:
    """The Hextile payload of (H, W) wire pixel values (see ``rre.wire_values``)."""
    height, width = values.shape
    if not width or not height:
        return b""
    tiles = _to_tiles(values)
    tile_w, tile_h = _tile_sizes(width, height)
    choice = choose(tiles, tile_w, tile_h)
    headers, header_lengths = _headers(choice, values.dtype.itemsize)
    compact, offsets = _compact(choice, headers, header_lengths)
    raw = choice.kind == Kind.RAW
    if not raw.any():
        return compact.tobytes()
    return _with_raw_pixels(compact, offsets, tiles, raw, tile_w, tile_h)


def _headers(choice: Choice, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every tile's header bytes, one after another, and how many each has: subencoding
    mask, background and foreground where the client does not carry them over, number of
    subrectangles (7.7.4)."""
    kind, background, foreground = choice.kind, choice.background, choice.foreground
    raw, mono = kind == Kind.RAW, kind == Kind.MONO
    # What the client carries over into each tile (7.7.4): the background until a Raw tile.
    send_background = ~raw & (_previous(raw, True) | (background != _previous(background, 0)))
    # The foreground is set by a two-colour tile, ended by Raw and coloured tiles, and kept
    # through solid ones: look back to the last tile that was not solid.
    setter = np.maximum.accumulate(np.where(kind != Kind.SOLID, np.arange(len(kind)), -1))
    before = _previous(setter, -1)
    carried = (before >= 0) & (kind[before] == Kind.MONO) & (foreground[before] == foreground)
    send_foreground = mono & ~carried
    has_subrects = mono | (kind == Kind.COLOURED)

    # The fields side by side for all tiles; each tile sends those it needs.
    fields = np.empty((len(kind), 2 * size + 2), np.uint8)
    fields[:, 0] = (
        _KIND_MASKS[kind]
        | np.where(send_background, BACKGROUND_SPECIFIED, 0)
        | np.where(send_foreground, FOREGROUND_SPECIFIED, 0)
    )
    fields[:, 1 : size + 1] = _as_bytes(background)
    fields[:, size + 1 : -1] = _as_bytes(foreground)
    fields[:, -1] = choice.count
    sent = np.ones(fields.shape, bool)
    sent[:, 1 : size + 1] = send_background[:, None]
    sent[:, size + 1 : -1] = send_foreground[:, None]
    sent[:, -1] = has_subrects
    lengths = 1 + size * (send_background.astype(np.intp) + send_foreground) + has_subrects
    return fields[sent], lengths


def _compact(
    choice: Choice, headers: np.ndarray, header_lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every tile's bytes but the pixels of Raw tiles, and where each tile starts: its
    header, then its subrectangles (7.7.4). Headers and the subrectangles of two-colour
    tiles are few bytes and go in by index; the coloured subrectangles, most of the bytes,
    fill the rest in order."""
    kind, count = choice.kind, choice.count
    size = choice.colours.itemsize
    record_lengths = count * np.where(kind == Kind.COLOURED, size + 2, 2)
    lengths = header_lengths + record_lengths
    offsets = np.cumsum(lengths) - lengths
    # Each subrectangle: its colour (sent in coloured tiles only), x-and-y-position and
    # width-and-height, each less one.
    records = np.empty(
        len(choice.owner), [("colour", choice.colours.dtype), ("xy", np.uint8), ("wh", np.uint8)]
    )
    records["colour"] = choice.colours
    records["xy"] = (choice.xs << 4) | choice.ys
    records["wh"] = ((choice.ws - 1) << 4) | (choice.hs - 1)

    mono = np.flatnonzero(kind == Kind.MONO)
    mono_subrects = _ranges((np.cumsum(count) - count)[mono], count[mono])
    pairs = np.empty((len(mono_subrects), 2), np.uint8)
    pairs[:, 0], pairs[:, 1] = records["xy"][mono_subrects], records["wh"][mono_subrects]
    at = np.concatenate(
        (
            _ranges(offsets, header_lengths),
            _ranges(offsets[mono] + header_lengths[mono], record_lengths[mono]),
        )
    )
    compact = np.empty(int(lengths.sum()), np.uint8)
    compact[at] = np.concatenate((headers, pairs.reshape(-1)))
    rest = np.ones(len(compact), bool)
    rest[at] = False
    if len(mono_subrects):  # keep the others, as opaque items (far faster than as records)
        coloured = np.ones(len(records), bool)
        coloured[mono_subrects] = False
        records = records.view(np.dtype((np.void, records.itemsize)))[coloured]
    compact[rest] = records.view(np.uint8)
    return compact, offsets


def _with_raw_pixels(
    compact: np.ndarray,
    offsets: np.ndarray,
    tiles: np.ndarray,
    raw: np.ndarray,
    tile_w: np.ndarray,
    tile_h: np.ndarray,
) -> bytes:
    """The payload: ``compact`` (every tile's bytes but the pixels of Raw tiles, each from
    its offset) with the pixels inserted after each Raw tile's mask. A run of Raw tiles of
    one size is one reshaped copy, so photo-like rectangles cost a few copies, not a loop
    per tile."""
    size = tiles.dtype.itemsize
    pixel_bytes = np.where(raw, tile_w * tile_h * size, 0)
    inserted = np.cumsum(pixel_bytes) - pixel_bytes  # Raw pixel bytes before each tile
    out = np.empty(len(compact) + int(pixel_bytes.sum()), np.uint8)
    raw_tiles = np.flatnonzero(raw)
    # Runs: Raw tiles one after another, of one width and height.
    joined = (
        (np.diff(raw_tiles) == 1)
        & (np.diff(tile_w[raw_tiles]) == 0)
        & (np.diff(tile_h[raw_tiles]) == 0)
    )
    firsts = raw_tiles[np.flatnonzero(np.concatenate(([True], ~joined)))]
    stops = raw_tiles[np.flatnonzero(np.concatenate((~joined, [True])))] + 1
    copied = written = 0
    for first, stop in zip(firsts.tolist(), stops.tolist(), strict=True):
        at = int(offsets[first])
        to = at + int(inserted[first])
        out[written:to] = compact[copied:at]
        w, h = int(tile_w[first]), int(tile_h[first])
        run = out[to : to + (stop - first) * (1 + w * h * size)].reshape(stop - first, -1)
        run[:, 0] = compact[at : at + stop - first]  # their masks
        data = np.ascontiguousarray(tiles[first:stop, :h, :w]).reshape(stop - first, -1)
        run[:, 1:] = data.view(np.uint8)
        copied, written = at + stop - first, to + run.size
    out[written:] = compact[copied:]
    return out.tobytes()


@register_encoder
class HextileEncoder:
    """Stateless: carry-over does not cross rectangles, so nothing persists between calls."""

    encoding = Encoding.HEXTILE
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
        payload = encode_tiles(wire_values(pixels, pixel_format))
        return [Rectangle(x, y, width, height, self.encoding, payload)]


@attrs.define
class _Tiles:
    """What a Hextile payload says, gathered while reading it: the bytes, then per group of
    tiles the pieces that decoding applies all at once."""

    chunks: list[bytes] = attrs.Factory(list)
    filled: list[int] = attrs.Factory(list)  # non-Raw tiles ...
    fills: list[bytes] = attrs.Factory(list)  # ... and their backgrounds
    raw: list[int] = attrs.Factory(list)  # Raw tiles ...
    raw_data: list[bytes] = attrs.Factory(list)  # ... and their pixels
    coloured: list[int] = attrs.Factory(list)  # tiles with coloured subrectangles ...
    coloured_counts: list[int] = attrs.Factory(list)
    coloured_data: list[bytes] = attrs.Factory(list)  # ... PIXEL, xy, wh records
    mono: list[int] = attrs.Factory(list)  # tiles with foreground subrectangles ...
    mono_counts: list[int] = attrs.Factory(list)
    mono_colours: list[bytes] = attrs.Factory(list)
    mono_data: list[bytes] = attrs.Factory(list)  # ... xy, wh records


def _read_tiles(width: int, height: int, size: int) -> Generator[int, bytes, _Tiles]:
    """A reader of one Hextile payload (7.7.4), enforcing the carry-over rules as it goes."""
    tiles = _Tiles()
    background: bytes | None = None
    foreground: bytes | None = None
    # Tile sizes one by one: a header alone must not cost memory (65535 x 65535 is 16M tiles).
    sizes = (
        (min(TILE, width - left), min(TILE, height - top))
        for top in range(0, height, TILE)
        for left in range(0, width, TILE)
    )
    for index, (w, h) in enumerate(sizes):
        mask = yield 1
        tiles.chunks.append(mask)
        mask = mask[0]
        if mask & RAW:  # the other bits are irrelevant (7.7.4)
            data = yield w * h * size
            tiles.chunks.append(data)
            tiles.raw.append(index)
            tiles.raw_data.append(data)
            background = foreground = None
            continue
        if mask > 0x1F:
            raise RemoteProtocolError(f"Hextile subencoding mask {mask:#x} has unknown bits")
        if mask & FOREGROUND_SPECIFIED and mask & SUBRECTS_COLOURED:
            raise RemoteProtocolError("Hextile tile specifies a foreground and coloured subrects")
        header_size = size * (bool(mask & BACKGROUND_SPECIFIED) + bool(mask & FOREGROUND_SPECIFIED))
        header_size += bool(mask & ANY_SUBRECTS)
        header = (yield header_size) if header_size else b""
        tiles.chunks.append(header)
        if mask & BACKGROUND_SPECIFIED:
            background, header = header[:size], header[size:]
        if background is None:
            raise RemoteProtocolError(f"Hextile tile {index} has no background to carry over")
        tiles.filled.append(index)
        tiles.fills.append(background)
        if mask & FOREGROUND_SPECIFIED:
            foreground, header = header[:size], header[size:]
        count = header[0] if mask & ANY_SUBRECTS else 0
        if mask & SUBRECTS_COLOURED:
            foreground = None
            if count:
                data = yield count * (size + 2)
                tiles.chunks.append(data)
                tiles.coloured.append(index)
                tiles.coloured_counts.append(count)
                tiles.coloured_data.append(data)
        elif count:
            if foreground is None:
                raise RemoteProtocolError(f"Hextile tile {index} has no foreground to carry over")
            data = yield count * 2
            tiles.chunks.append(data)
            tiles.mono.append(index)
            tiles.mono_counts.append(count)
            tiles.mono_colours.append(foreground)
            tiles.mono_data.append(data)
    return tiles


@register_decoder
class HextileDecoder:
    """Stateless between rectangles: carry-over starts afresh in each (7.7.4)."""

    encoding = Encoding.HEXTILE

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        size = pixel_format.bytes_per_pixel
        tiles = yield from _read_tiles(rectangle.width, rectangle.height, size)
        return b"".join(tiles.chunks)

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        require_inside(framebuffer, rectangle, "Hextile")
        if not width or not height:
            if rectangle.payload:
                raise RemoteProtocolError("an empty Hextile rectangle carries bytes")
            return
        tiles = _parse(rectangle.payload, width, height, pixel_format.bytes_per_pixel)
        dtype = value_dtype(pixel_format)
        tile_w, tile_h = _tile_sizes(width, height)
        canvas = np.empty((len(tile_w), _AREA), dtype)
        canvas[tiles.filled] = np.frombuffer(b"".join(tiles.fills), dtype)[:, None]

        coloured = np.frombuffer(
            b"".join(tiles.coloured_data), [("value", dtype), ("xy", "u1"), ("wh", "u1")]
        )
        mono = np.frombuffer(b"".join(tiles.mono_data), [("xy", "u1"), ("wh", "u1")])
        owner = np.repeat(
            np.array(tiles.coloured + tiles.mono, np.int64),
            tiles.coloured_counts + tiles.mono_counts,
        )
        mono_values = np.repeat(
            np.frombuffer(b"".join(tiles.mono_colours), dtype), tiles.mono_counts
        )
        values = np.concatenate((coloured["value"], mono_values))
        xy = np.concatenate((coloured["xy"], mono["xy"])).astype(np.int64)
        wh = np.concatenate((coloured["wh"], mono["wh"])).astype(np.int64)
        xs, ys, ws, hs = xy >> 4, xy & 15, (wh >> 4) + 1, (wh & 15) + 1
        if ((xs + ws > tile_w[owner]) | (ys + hs > tile_h[owner])).any():
            raise RemoteProtocolError("a Hextile subrectangle leaves its tile")
        paint_rectangles(canvas.reshape(-1), TILE, owner * _AREA + ys * TILE + xs, ws, hs, values)

        if tiles.raw:
            raw = np.array(tiles.raw)
            inside = (np.arange(TILE)[:, None] < tile_h[raw, None, None]) & (
                np.arange(TILE) < tile_w[raw, None, None]
            )
            block = canvas[raw].reshape(-1, TILE, TILE)
            block[inside] = np.frombuffer(b"".join(tiles.raw_data), dtype)
            canvas[raw] = block.reshape(-1, _AREA)
        pixels = _from_tiles(canvas, width, height)
        framebuffer.pixels[y : y + height, x : x + width] = decode_pixels(
            pixels.tobytes(), width, height, pixel_format, framebuffer.colour_map
        )


def _parse(payload: bytes, width: int, height: int, size: int) -> _Tiles:
    """Run the reader over a complete payload, which must hold exactly the tiles."""
    view = memoryview(payload)
    reader = _read_tiles(width, height, size)
    offset = 0
    try:
        need = next(reader)
        while True:
            if offset + need > len(view):
                raise RemoteProtocolError(f"Hextile payload ends after {len(view)} bytes")
            offset += need
            need = reader.send(view[offset - need : offset])
    except StopIteration as done:
        tiles = done.value
    if offset != len(view):
        raise RemoteProtocolError(f"Hextile payload has {len(view) - offset} bytes too many")
    return tiles
