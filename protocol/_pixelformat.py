"""PixelFormat (rfbproto 7.4) and vectorised conversion from the server's canonical frame.

The server's canonical frame is a numpy ``uint8`` array of shape (height, width, 4) in
B, G, R, X byte order (what X11 and mss deliver on little-endian machines). Every conversion to
or from a client's format is done on whole arrays; nothing here loops per pixel in Python.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from functools import lru_cache

import attrs
import numpy as np

_WIRE = struct.Struct(">BBBBHHHBBB3x")
WIRE_SIZE = _WIRE.size  # 16 bytes


def _check_format(instance: PixelFormat, attribute: attrs.Attribute, value: object) -> None:
    instance.validate()


@attrs.frozen(slots=True, cache_hash=True)
class PixelFormat:
    """How the client wants pixels laid out; validated on construction (ValueError)."""

    bits_per_pixel: int
    depth: int
    big_endian: bool
    true_colour: bool
    red_max: int
    green_max: int
    blue_max: int
    red_shift: int
    green_shift: int
    blue_shift: int = attrs.field(validator=_check_format)

    def validate(self) -> None:
        if self.bits_per_pixel not in (8, 16, 32):
            raise ValueError(f"bits-per-pixel {self.bits_per_pixel} is not 8, 16 or 32")
        if not 0 <= self.depth <= self.bits_per_pixel:
            # depth is advisory (many viewers send 24 with 32 bpp, some send 0); only a
            # depth larger than the pixel cannot make sense.
            raise ValueError(f"depth {self.depth} exceeds {self.bits_per_pixel} bits per pixel")
        if not self.true_colour:
            return  # colour-map clients: max and shift are unused (7.4)
        for name in ("red", "green", "blue"):
            maximum = getattr(self, f"{name}_max")
            shift = getattr(self, f"{name}_shift")
            if not 1 <= maximum <= 0xFFFF:
                raise ValueError(f"{name}-max {maximum} must be 1..65535")
            if maximum & (maximum + 1):
                raise ValueError(f"{name}-max {maximum} is not 2**n - 1")
            if not 0 <= shift < self.bits_per_pixel or (maximum << shift) >> self.bits_per_pixel:
                raise ValueError(
                    f"{name}-shift {shift} with max {maximum} does not fit in "
                    f"{self.bits_per_pixel} bits per pixel"
                )
        # Overlapping channels make a pixel value ambiguous; TigerVNC refuses them too.
        red, green, blue = (
            self.red_max << self.red_shift,
            self.green_max << self.green_shift,
            self.blue_max << self.blue_shift,
        )
        if red & green or red & blue or green & blue:
            raise ValueError("the red, green and blue bits overlap")

    @property
    def bytes_per_pixel(self) -> int:
        return self.bits_per_pixel // 8

    def pack(self) -> bytes:
        """The 16-byte wire layout (7.4)."""
        return _WIRE.pack(
            self.bits_per_pixel,
            self.depth,
            int(self.big_endian),
            int(self.true_colour),
            self.red_max,
            self.green_max,
            self.blue_max,
            self.red_shift,
            self.green_shift,
            self.blue_shift,
        )

    @classmethod
    def unpack(cls, data: bytes) -> PixelFormat:
        """Parse the 16-byte wire layout; ValueError if the format is not valid."""
        bpp, depth, big, true, rmax, gmax, bmax, rsh, gsh, bsh = _WIRE.unpack(data)
        return cls(bpp, depth, big != 0, true != 0, rmax, gmax, bmax, rsh, gsh, bsh)


#: The server's canonical layout: 32 bpp, depth 24, little endian, B G R X in memory.
BGRX = PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0)

#: The layout whose pixel values index the fixed palette colour-map clients get: BGR233,
#: 3 bits red (low), 3 bits green, 2 bits blue (high), as vncviewer's -bgr233 option.
_PALETTE_LAYOUT = PixelFormat(8, 8, False, True, 7, 7, 3, 0, 3, 6)

#: Canonical BGRX as a little-endian 32-bit word: where each channel's byte sits.
_CANONICAL_SHIFT = {"red": 16, "green": 8, "blue": 0}
_CANONICAL_BYTE = {name: shift // 8 for name, shift in _CANONICAL_SHIFT.items()}
_CHANNELS = tuple(_CANONICAL_SHIFT)
_UNSIGNED = {8: np.uint8, 16: np.uint16, 32: np.uint32}


def _rescale(values: np.ndarray, src_max: int, dst_max: int) -> np.ndarray:
    """round(v * dst_max / src_max) in integers. Every max is 2**n - 1 (odd), so the exact
    quotient is never halfway and floor((2 v dst + src) / (2 src)) rounds it exactly."""
    return (values.astype(np.int64) * (2 * dst_max) + src_max) // (2 * src_max)


def _layout(pf: PixelFormat) -> PixelFormat:
    """The channel layout that produces pixel values: a colour-map client's values are
    indices into the fixed palette, i.e. BGR233 values (7.4: the index in the low bits)."""
    return pf if pf.true_colour else _PALETTE_LAYOUT


def _wire_dtype(pf: PixelFormat) -> np.dtype:
    return np.dtype(_UNSIGNED[pf.bits_per_pixel]).newbyteorder(">" if pf.big_endian else "<")


def _channel(pf: PixelFormat, name: str) -> tuple[int, int]:
    return getattr(pf, f"{name}_max"), getattr(pf, f"{name}_shift")


def colour_map_to_bgrx(colours: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """SetColourMapEntries colours (16-bit red, green, blue; 7.6.2) as an (N, 4) BGRX array."""
    rgb = np.asarray(colours, dtype=np.int64).reshape(-1, 3)
    out = np.zeros((len(rgb), 4), np.uint8)
    out[:, :3] = _rescale(rgb[:, ::-1], 0xFFFF, 255)
    return out


def _palette() -> tuple[tuple[int, int, int], ...]:
    index = np.arange(256)
    channels = []
    for name in _CHANNELS:
        maximum, shift = _channel(_PALETTE_LAYOUT, name)
        channels.append(_rescale((index >> shift) & maximum, maximum, 0xFFFF).tolist())
    return tuple(zip(*channels, strict=True))


#: The 256 (red, green, blue) 16-bit entries the server sends with SetColourMapEntries to
#: colour-map clients: entry i is the colour of BGR233 value i.
COLOUR_MAP_332: tuple[tuple[int, int, int], ...] = _palette()
_PALETTE_BGRX = colour_map_to_bgrx(COLOUR_MAP_332)
_PALETTE_BGRX.flags.writeable = False


def colour_map_entries() -> tuple[tuple[int, int, int], ...]:
    """What to send a colour-map client (first colour 0) before any update."""
    return COLOUR_MAP_332


# --- 32-bpp formats with 8-bit channels: pure byte moves --------------------------------


@lru_cache(maxsize=64)
def _byte_moves(pairs: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """(destination byte, source byte) pairs of a little-endian 32-bit word as
    (bit shift, source mask) steps: bytes moving the same distance share one step."""
    steps: dict[int, int] = {}
    for dst, src in pairs:
        steps[8 * (dst - src)] = steps.get(8 * (dst - src), 0) | 0xFF << (8 * src)
    return tuple(steps.items())


def _or_all(parts: Iterator[np.ndarray]) -> np.ndarray:
    """OR a non-empty stream of same-shaped arrays into the first one (no temporaries)."""
    out = next(parts)
    for part in parts:
        out |= part
    return out


def _move_bytes(words: np.ndarray, moves: tuple[tuple[int, int], ...]) -> np.ndarray:
    if moves == ((0, 0xFFFFFFFF),):
        return words
    return _or_all(_move_step(words, shift, mask) for shift, mask in moves)


def _move_step(words: np.ndarray, shift: int, mask: int) -> np.ndarray:
    part = words & np.uint32(mask)
    if shift > 0:
        part <<= np.uint32(shift)
    elif shift < 0:
        part >>= np.uint32(-shift)
    return part


@lru_cache(maxsize=64)
def _wire_bytes(pf: PixelFormat) -> dict[str, int] | None:
    """Which byte of a wire pixel holds each channel, when every channel is a whole byte of
    a 32-bit pixel; None for formats that need arithmetic."""
    if not pf.true_colour or pf.bits_per_pixel != 32:
        return None
    positions = {}
    for name in _CHANNELS:
        maximum, shift = _channel(pf, name)
        if maximum != 255 or shift % 8:
            return None
        positions[name] = 3 - shift // 8 if pf.big_endian else shift // 8
    return positions


@lru_cache(maxsize=64)
def _encode_moves(pf: PixelFormat) -> tuple[tuple[int, int], ...] | None:
    positions = _wire_bytes(pf)
    if positions is None:
        return None
    pairs = [(positions[name], _CANONICAL_BYTE[name]) for name in _CHANNELS]
    # The wire's padding byte carries the X byte as is (so BGRX itself is a plain copy).
    (padding,) = set(range(4)) - set(positions.values())
    return _byte_moves((*pairs, (padding, 3)))


@lru_cache(maxsize=64)
def _decode_moves(pf: PixelFormat) -> tuple[tuple[int, int], ...] | None:
    positions = _wire_bytes(pf)
    if positions is None:
        return None
    return _byte_moves(tuple((_CANONICAL_BYTE[name], positions[name]) for name in _CHANNELS))


# --- Any other format: per-channel lookup tables ---------------------------------------


@lru_cache(maxsize=64)
def _encode_table(maximum: int, shift: int, bits: int) -> np.ndarray:
    """8-bit channel value -> its scaled, shifted contribution to a pixel value."""
    table = (_rescale(np.arange(256), 255, maximum) << shift).astype(_UNSIGNED[bits])
    table.flags.writeable = False
    return table


@lru_cache(maxsize=64)
def _decode_table(maximum: int, position: int) -> np.ndarray:
    """Channel value 0..maximum -> its 8-bit value placed at ``position`` in a BGRX word."""
    table = (_rescale(np.arange(maximum + 1), maximum, 255) << position).astype(np.uint32)
    table.flags.writeable = False
    return table


def _canonical_words(pixels: np.ndarray) -> np.ndarray:
    """The frame as (H, W) little-endian 32-bit words, without a copy when pixels are
    4-byte packed (any window of a canonical frame is)."""
    if pixels.ndim != 3 or pixels.shape[2] != 4 or pixels.dtype != np.uint8:
        raise ValueError(
            f"expected (height, width, 4) uint8 BGRX, got {pixels.dtype}{pixels.shape}"
        )
    if pixels.strides[1:] != (4, 1):
        pixels = np.ascontiguousarray(pixels)
    return pixels.view("<u4")[..., 0]


def encode_pixels(pixels: np.ndarray, pf: PixelFormat) -> bytes:
    """Canonical BGRX pixels -> the client's wire bytes, row-major (7.4 PIXEL values)."""
    words = _canonical_words(pixels)
    moves = _encode_moves(pf)
    if moves is not None:
        return _move_bytes(words, moves).tobytes()
    layout = _layout(pf)
    value = _or_all(
        np.take(
            _encode_table(*_channel(layout, name), pf.bits_per_pixel),
            pixels[..., _CANONICAL_BYTE[name]],
        )
        for name in _CHANNELS
    )
    return value.astype(_wire_dtype(pf), copy=False).tobytes()


def decode_pixels(
    data: bytes | memoryview,
    width: int,
    height: int,
    pf: PixelFormat,
    colour_map: np.ndarray | None = None,
) -> np.ndarray:
    """The wire bytes of width x height pixels -> canonical (H, W, 4) BGRX with X = 0.

    Colour-map formats look their values up in ``colour_map`` ((N, 4) uint8 BGRX; None: the
    palette this server sends); a value with no entry is black. ValueError if ``data`` is
    not exactly width * height pixels.
    """
    size = memoryview(data).nbytes
    if size != width * height * pf.bytes_per_pixel:
        raise ValueError(f"{size} bytes are not {width}x{height} pixels of {pf}")
    moves = _decode_moves(pf)
    if moves is not None:
        words = _move_bytes(np.frombuffer(data, "<u4"), moves)
    else:
        values = np.frombuffer(data, _wire_dtype(pf)).astype(_UNSIGNED[pf.bits_per_pixel])
        if pf.true_colour and pf.bits_per_pixel <= 16:
            words = np.take(_value_table(pf), values)
        elif pf.true_colour:
            words = _unpack_channels(values, pf)
        else:
            words = _look_up(values, _PALETTE_BGRX if colour_map is None else colour_map)
    return words.astype("<u4", copy=False).view(np.uint8).reshape(height, width, 4)


@lru_cache(maxsize=16)
def _value_table(pf: PixelFormat) -> np.ndarray:
    """Every 8- or 16-bit pixel value -> its BGRX word: one lookup decodes a pixel."""
    table = _unpack_channels(np.arange(1 << pf.bits_per_pixel, dtype=np.uint32), pf)
    table.flags.writeable = False
    return table


def _unpack_channels(values: np.ndarray, pf: PixelFormat) -> np.ndarray:
    parts = []
    for name in _CHANNELS:
        maximum, shift = _channel(pf, name)
        table = _decode_table(maximum, _CANONICAL_SHIFT[name])
        parts.append(np.take(table, (values >> shift) & maximum))
    return _or_all(iter(parts))


def _look_up(indices: np.ndarray, colour_map: np.ndarray) -> np.ndarray:
    if colour_map.ndim != 2 or colour_map.shape[1:] != (4,) or colour_map.dtype != np.uint8:
        raise ValueError(f"colour map must be (N, 4) uint8 BGRX, got {colour_map.shape}")
    if not len(colour_map):
        return np.zeros(indices.shape, np.uint32)
    table = np.ascontiguousarray(colour_map).view("<u4")[:, 0] & np.uint32(0x00FFFFFF)
    words = np.take(table, indices, mode="clip")
    words[indices >= len(table)] = 0
    return words


def pixel_value(bgrx: bytes | Sequence[int], pf: PixelFormat) -> bytes:
    """One canonical colour (B, G, R, X) as the client's PIXEL bytes (solid fills)."""
    return encode_pixels(np.array(tuple(bgrx), np.uint8).reshape(1, 1, 4), pf)


def quantise(pixels: np.ndarray, pf: PixelFormat) -> np.ndarray:
    """What a client of format ``pf`` sees of ``pixels`` (colour-map clients: with the
    palette this server sends): each channel reduced to the format's precision and scaled
    back, X = 0. The round trip decode_pixels(encode_pixels(p)) must equal this."""
    layout = _layout(pf)
    out = np.zeros(pixels.shape, np.uint8)
    for name in _CHANNELS:
        maximum, _ = _channel(layout, name)
        index = _CANONICAL_BYTE[name]
        out[..., index] = _rescale(_rescale(pixels[..., index], 255, maximum), maximum, 255)
    return out
