"""Hextile encoding (rfbproto 7.7.4): RRE within 16x16 tiles, with colours carried over.

Encoder: every tile of the rectangle is analysed at once with numpy: solid tiles (background
only), two-colour tiles (background + foreground subrectangles), tiles of more colours
(coloured subrectangles), or Raw where that is smaller. Background and foreground are sent
only when they differ from what the client carries over, and the bytes of all tiles are
scattered into one buffer without a loop per tile.

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
from ._registry import Encoding, register_decoder, register_encoder
from .rre import paint_rectangles, subrectangles, value_dtype, wire_values

# subencoding-mask bits (7.7.4)
RAW = 1
BACKGROUND_SPECIFIED = 2
FOREGROUND_SPECIFIED = 4
ANY_SUBRECTS = 8
SUBRECTS_COLOURED = 16

TILE = 16
_AREA = TILE * TILE
# Tile kinds the encoder chooses between.
_SOLID, _MONO, _COLOURED, _RAW = range(4)


def _tile_sizes(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of every tile, in wire order (rows of tiles, left to right)."""
    across = np.minimum(TILE, width - np.arange(0, width, TILE))
    down = np.minimum(TILE, height - np.arange(0, height, TILE))
    return np.tile(across, len(down)), np.repeat(down, len(across))


def _to_tiles(values: np.ndarray) -> np.ndarray:
    """(H, W) values -> (tiles, 16, 16) in wire order. Partial tiles are padded by repeating
    their last column and row: padding adds no colour and no run of its own (every padded
    pixel equals its neighbour inside), so clipping runs to the tile loses nothing."""
    height, width = values.shape
    pad_h, pad_w = -height % TILE, -width % TILE
    if pad_h or pad_w:
        values = np.pad(values, ((0, pad_h), (0, pad_w)), mode="edge")
    rows, cols = values.shape[0] // TILE, values.shape[1] // TILE
    return values.reshape(rows, TILE, cols, TILE).transpose(0, 2, 1, 3).reshape(-1, TILE, TILE)


def _from_tiles(tiles: np.ndarray, width: int, height: int) -> np.ndarray:
    """The inverse of ``_to_tiles``: (tiles, 16, 16) -> (H, W), padding dropped."""
    rows, cols = -(-height // TILE), -(-width // TILE)
    whole = tiles.reshape(rows, cols, TILE, TILE).transpose(0, 2, 1, 3)
    return whole.reshape(rows * TILE, cols * TILE)[:height, :width]


def _previous(values: np.ndarray, first: object) -> np.ndarray:
    """``values`` shifted one tile later: what the tile before each one had."""
    return np.concatenate(([first], values[:-1])).astype(values.dtype, copy=False)


def _put(out: np.ndarray, positions: np.ndarray, values: np.ndarray) -> None:
    """Write pixel values (their wire bytes) at byte ``positions`` of ``out``."""
    size = values.dtype.itemsize
    data = np.ascontiguousarray(values).view(np.uint8).reshape(-1, size)
    out[positions[:, None] + np.arange(size)] = data


def _most_common_in_rows(ordered: np.ndarray, changes: np.ndarray) -> np.ndarray:
    """The most common value of each row of sorted values (the smallest on ties), given
    where neighbours differ: the longest run, found for all rows in one reduction."""
    if not len(ordered):
        return ordered[:, 0]
    starts = np.ones(ordered.shape, bool)
    starts[:, 1:] = changes
    at = np.flatnonzero(starts)
    total = ordered.size
    # key: the run's length, then how early it starts, so the maximum picks the run.
    key = np.diff(at, append=total) * total + (total - 1 - at)
    first_runs = np.flatnonzero(at % ordered.shape[1] == 0)
    return ordered.reshape(-1)[total - 1 - np.maximum.reduceat(key, first_runs) % total]


def encode_tiles(values: np.ndarray) -> bytes:
    """The Hextile payload of (H, W) wire pixel values (see ``rre.wire_values``)."""
    height, width = values.shape
    if not width or not height:
        return b""
    size = values.dtype.itemsize
    tiles = _to_tiles(values)
    flat = tiles.reshape(len(tiles), _AREA)
    tile_w, tile_h = _tile_sizes(width, height)

    # Colours: solid tiles at a glance; for the others, sorted values give the number of
    # colours, the most common one (background) and, for two, the other (foreground).
    background = flat[:, 0].copy()
    foreground = background.copy()
    kind = np.full(len(tiles), _SOLID)
    busy = np.flatnonzero((flat != flat[:, :1]).any(axis=1))
    ordered = np.sort(flat[busy], axis=1)
    changes = ordered[:, 1:] != ordered[:, :-1]
    others = changes.sum(axis=1)  # colours besides the background
    kind[busy] = np.where(others == 1, _MONO, _COLOURED)

    # Raw when smaller than subrectangles (counting background and foreground as sent).
    # Each other colour needs a subrectangle at least: tiles that cannot beat Raw even so
    # (photos) skip the search for subrectangles. The background covers a pixel at least, so
    # a tile never needs more subrectangles than the U8 count can say (255).
    record = np.where(kind == _COLOURED, size + 2, 2)
    overhead = 2 * size + 1
    raw_size = tile_w * tile_h * size
    hopeful = overhead + others * record[busy] < raw_size[busy]
    search = busy[hopeful]
    ordered, changes = ordered[hopeful], changes[hopeful]
    background[search] = _most_common_in_rows(ordered, changes)
    foreground[search] = np.where(
        ordered[:, 0] == background[search], ordered[:, -1], ordered[:, 0]
    )
    block, xs, ys, ws, hs, colours = subrectangles(tiles[search], background[search])
    owner = search[block]
    ws = np.minimum(ws, tile_w[owner] - xs)
    hs = np.minimum(hs, tile_h[owner] - ys)
    count = np.bincount(owner, minlength=len(tiles))
    raw = (kind != _SOLID) & (raw_size <= overhead + count * record)
    raw[busy[~hopeful]] = True
    kind[raw] = _RAW

    # What the client carries over into each tile (7.7.4).
    after_raw = _previous(raw, True)
    send_background = ~raw & (after_raw | (background != _previous(background, 0)))
    # The foreground is set by a two-colour tile, ended by Raw and coloured tiles, and kept
    # through solid ones: look back to the last tile that was not solid.
    setter = np.maximum.accumulate(np.where(kind != _SOLID, np.arange(len(tiles)), -1))
    before = _previous(setter, -1)
    carried = (before >= 0) & (kind[before] == _MONO) & (foreground[before] == foreground)
    send_foreground = (kind == _MONO) & ~carried

    mask = np.select(
        [kind == _RAW, kind == _MONO, kind == _COLOURED],
        [RAW, ANY_SUBRECTS, ANY_SUBRECTS | SUBRECTS_COLOURED],
        0,
    )
    mask |= np.where(send_background, BACKGROUND_SPECIFIED, 0)
    mask |= np.where(send_foreground, FOREGROUND_SPECIFIED, 0)
    has_subrects = (kind == _MONO) | (kind == _COLOURED)
    tile_bytes = (
        1
        + size * (send_background.astype(np.int64) + send_foreground)
        + np.where(has_subrects, 1 + count * record, 0)
        + np.where(raw, raw_size, 0)
    )
    starts = np.cumsum(tile_bytes) - tile_bytes
    out = np.empty(int(tile_bytes.sum()), np.uint8)

    # Scatter each field of every tile: mask, background, foreground, count, subrectangles.
    out[starts] = mask
    cursor = starts + 1
    _put(out, cursor[send_background], background[send_background])
    cursor += size * send_background
    _put(out, cursor[send_foreground], foreground[send_foreground])
    cursor += size * send_foreground
    out[cursor[has_subrects]] = count[has_subrects]
    cursor += has_subrects

    rank = np.arange(len(owner)) - (np.cumsum(count) - count)[owner]  # within its tile
    keep = ~raw[owner]
    owner, rank, xs, ys, ws, hs, colours = (a[keep] for a in (owner, rank, xs, ys, ws, hs, colours))
    place = cursor[owner] + rank * record[owner]
    coloured = kind[owner] == _COLOURED
    _put(out, place[coloured], colours[coloured])
    place += np.where(coloured, size, 0)
    out[place] = (xs << 4) | ys  # x-and-y-position
    out[place + 1] = ((ws - 1) << 4) | (hs - 1)  # width-and-height, each minus one

    # Raw tiles: their pixels row by row, through a mask of the bytes they occupy.
    raw_tiles = np.flatnonzero(raw)
    if len(raw_tiles):
        inside = (np.arange(TILE)[:, None] < tile_h[raw_tiles, None, None]) & (
            np.arange(TILE) < tile_w[raw_tiles, None, None]
        )
        data = np.ascontiguousarray(tiles[raw_tiles][inside]).view(np.uint8)
        edges = np.zeros(len(out) + 1, np.int8)
        edges[cursor[raw_tiles]] = 1
        edges[starts[raw_tiles] + tile_bytes[raw_tiles]] = -1
        out[np.cumsum(edges[:-1], dtype=np.int8).view(bool)] = data
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
