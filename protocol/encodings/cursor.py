"""Cursor pseudo-encodings: the server sends the pointer's shape and position and the viewer
draws the pointer itself, so moving the mouse costs no framebuffer update.

Shapes: Cursor (rfbproto "Cursor Pseudo-encoding", -239, TightVNC's "rich cursor"), X Cursor
(-240), Cursor With Alpha (-314) and VMware Cursor (0x574D5664). Each puts the hotspot in the
rectangle's x/y and the size in its width/height. Positions: PointerPos (-232 = 0xFFFFFF18,
TightVNC's number, which libvncserver and libvncclient use; rfbproto's registry lists a
"PointerPos" at -225 that none of them sends) and VMware Cursor Position (0x574D5666, what
TigerVNC sends): the hotspot's position in x/y, a 0x0 size and no payload.

Decoders keep what arrives on the client's Framebuffer (``cursor``, ``pointer``) instead of
drawing it into the pixels: a viewer composites the cursor over the picture itself.
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Sequence

import attrs
import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat, decode_pixels, encode_pixels
from ._base import NoPayload, read_bytes
from ._registry import Encoding, register_decoder

#: Largest width and height sent or accepted. TigerVNC's viewer refuses bigger cursors
#: (CMsgReader::maxCursorSize), themed cursors (24 to 96 pixels) fit with room to spare,
#: and it bounds what a rectangle header can make a decoder allocate (256 KiB of RGBA).
MAX_CURSOR_SIZE = 256

#: Alpha from which a pixel is part of the shape where the wire has only a 1-bit mask.
MASK_THRESHOLD = 128

_U16 = attrs.validators.and_(
    attrs.validators.instance_of(int), attrs.validators.ge(0), attrs.validators.le(0xFFFF)
)
_ENCODING = struct.Struct(">i")  # Cursor With Alpha's inner encoding (S32)
_VMWARE_HEADER = struct.Struct(">Bx")  # cursor type, padding
_VMWARE_CLASSIC, _VMWARE_ALPHA = 0, 1
_X_COLOURS = struct.Struct(">3s3s")  # primary then secondary R, G, B
_WHITE, _BLACK = b"\xff\xff\xff", b"\x00\x00\x00"


def _canonical_image(image: np.ndarray) -> np.ndarray:
    """A read-only copy whose fully transparent pixels are (0, 0, 0, 0): their colour cannot
    be seen, and zeroing it makes cursors that look the same compare equal."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8:
        raise ValueError(
            f"cursor image must be (height, width, 4) uint8 BGRA, got {image.dtype}{image.shape}"
        )
    image = image.copy()
    image[image[..., 3] == 0] = 0
    image.flags.writeable = False
    return image


@attrs.frozen
class Cursor:
    """A pointer shape: ``image`` (height, width, 4) uint8 B, G, R, A with straight (not
    premultiplied) alpha, and the hotspot, the pixel that sits at the pointer's position.
    Hashing ignores the image (arrays are not hashable); equality compares it."""

    image: np.ndarray = attrs.field(
        converter=_canonical_image, eq=attrs.cmp_using(eq=np.array_equal), hash=False
    )
    hotspot_x: int = attrs.field(default=0, validator=_U16)
    hotspot_y: int = attrs.field(default=0, validator=_U16)

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]

    @classmethod
    def from_argb32(
        cls,
        pixels: Sequence[int] | np.ndarray,
        width: int,
        height: int,
        hotspot_x: int = 0,
        hotspot_y: int = 0,
    ) -> Cursor:
        """From what XFixes GetCursorImage returns: one 0xAARRGGBB word a pixel, row-major,
        colour premultiplied by alpha."""
        words = np.asarray(pixels, dtype=np.int64).ravel()
        if words.size != width * height:
            raise ValueError(f"{words.size} pixels are not a {width}x{height} cursor")
        if words.size and (words.min() < 0 or words.max() > 0xFFFFFFFF):
            raise ValueError("ARGB32 pixels must be 32-bit unsigned words")
        premultiplied = words.astype("<u4").view(np.uint8).reshape(height, width, 4)
        return cls(unpremultiply(premultiplied), hotspot_x, hotspot_y)

    @classmethod
    def invisible(cls) -> Cursor:
        """A cursor that shows nothing: one transparent pixel rather than 0x0, because
        libvncclient ignores a 0x0 shape (HandleCursorShape returns early) and would keep
        showing the previous one."""
        return cls(np.zeros((1, 1, 4), np.uint8))


# --- Alpha and masks ----------------------------------------------------------------------


def premultiply(image: np.ndarray) -> np.ndarray:
    """(..., 4) uint8 with alpha last: colour scaled by alpha, rounded to nearest."""
    alpha = image[..., 3:].astype(np.uint32)
    out = image.copy()
    out[..., :3] = (image[..., :3] * alpha + 127) // 255
    return out


def unpremultiply(image: np.ndarray) -> np.ndarray:
    """The inverse, rounded to nearest: premultiply(unpremultiply(p)) == p for every valid
    p. Colour above its alpha (invalid) saturates at 255; alpha 0 gives black."""
    alpha = image[..., 3:].astype(np.uint32)
    colour = image[..., :3].astype(np.uint32)
    straight = (colour * 510 + alpha) // np.maximum(2 * alpha, 1)
    out = image.copy()
    out[..., :3] = np.where(alpha > 0, np.minimum(straight, 255), 0)
    return out


def shape_mask(cursor: Cursor) -> np.ndarray:
    """(height, width) bool: the pixels a 1-bit mask keeps (Cursor, X Cursor).

    Alpha >= 128, the midpoint: the body and outline of themed cursors are opaque and their
    drop shadows mostly below half, so the shape stays crisp and the shadow goes. (TigerVNC
    dithers alpha instead, which speckles shadows; x11vnc cuts at 240, which thins
    anti-aliased outlines.) A faint cursor with no pixel that opaque keeps its most opaque
    pixels rather than vanishing.
    """
    alpha = cursor.image[..., 3]
    return alpha >= max(min(MASK_THRESHOLD, int(alpha.max(initial=0))), 1)


def _pack_bits(bits: np.ndarray) -> bytes:
    """Bitmap/bitmask layout (rfbproto "Cursor Pseudo-encoding"): rows padded to whole
    bytes, the most significant bit leftmost."""
    return np.packbits(bits, axis=1).tobytes()


def _unpack_bits(data: bytes, width: int, height: int) -> np.ndarray:
    rows = np.frombuffer(data, np.uint8).reshape(height, _row_bytes(width))
    return np.unpackbits(rows, axis=1, count=width).astype(bool)


def _row_bytes(width: int) -> int:
    return (width + 7) // 8


def _with_alpha(colours: np.ndarray, opaque: np.ndarray) -> np.ndarray:
    """BGRX colours made fully opaque where ``opaque``, fully transparent elsewhere."""
    image = colours.copy()
    image[..., 3] = np.where(opaque, 255, 0)
    return image


def _rgba_to_bgra(data: bytes, width: int, height: int) -> np.ndarray:
    rgba = np.frombuffer(data, np.uint8).reshape(height, width, 4)
    return rgba[..., [2, 1, 0, 3]]


def _bgra_to_rgba(image: np.ndarray) -> bytes:
    return image[..., [2, 1, 0, 3]].tobytes()


# --- Encoders -------------------------------------------------------------------------------


def _rectangle(cursor: Cursor, encoding: int, payload: bytes) -> Rectangle:
    if cursor.width > MAX_CURSOR_SIZE or cursor.height > MAX_CURSOR_SIZE:
        raise ValueError(
            f"a {cursor.width}x{cursor.height} cursor exceeds the "
            f"{MAX_CURSOR_SIZE}x{MAX_CURSOR_SIZE} viewers accept"
        )
    return Rectangle(
        cursor.hotspot_x, cursor.hotspot_y, cursor.width, cursor.height, encoding, payload
    )


def cursor_with_alpha(cursor: Cursor) -> Rectangle:
    """Cursor With Alpha (-314): S32 inner encoding Raw (0), then R, G, B, A bytes a pixel
    with alpha premultiplied (rfbproto; TigerVNC's SMsgWriter::writeSetCursorWithAlphaRect
    sends the same). Raw because a zlib-based inner encoding would share the rectangle
    streams' state, which a shape sent to many viewers must not touch."""
    payload = _ENCODING.pack(Encoding.RAW) + _bgra_to_rgba(premultiply(cursor.image))
    return _rectangle(cursor, Encoding.CURSOR_WITH_ALPHA, payload)


def vmware_cursor(cursor: Cursor) -> Rectangle:
    """VMware Cursor (0x574D5664), alpha type: 1, a padding byte, then R, G, B, A bytes a
    pixel with straight alpha (what TigerVNC's writeSetVMwareCursorRect sends and noVNC's
    _handleVMwareCursor reads)."""
    payload = _VMWARE_HEADER.pack(_VMWARE_ALPHA) + _bgra_to_rgba(cursor.image)
    return _rectangle(cursor, Encoding.VMWARE_CURSOR, payload)


def rich_cursor(cursor: Cursor, pixel_format: PixelFormat) -> Rectangle:
    """Cursor (-239): width * height PIXELs in the client's format, then the bitmask of
    ``shape_mask``. Partly transparent pixels that the mask keeps go with their straight
    colour, as TigerVNC sends them. (noVNC reads these pixels as B, G, R, X whatever format
    it set, and its own is R, G, B, X: it sees red and blue swapped. It asks for VMware
    Cursor first, which is the one to send it.)"""
    colours = cursor.image.copy()
    colours[..., 3] = 0  # the X byte would reach the padding bits of 32-bit formats
    payload = encode_pixels(colours, pixel_format) + _pack_bits(shape_mask(cursor))
    return _rectangle(cursor, Encoding.CURSOR, payload)


def x_cursor(cursor: Cursor) -> Rectangle:
    """X Cursor (-240): primary (white) and secondary (black) R, G, B, the bitmap (1 picks
    the primary: pixels whose Rec. 601 luma is at least half), then the bitmask of
    ``shape_mask``; nothing at all for a 0-pixel cursor. White on black, as TigerVNC, suits
    the black-and-white shapes this two-colour form is for."""
    if not cursor.width * cursor.height:
        return _rectangle(cursor, Encoding.X_CURSOR, b"")
    blue, green, red = (cursor.image[..., i].astype(np.uint32) for i in range(3))
    light = 299 * red + 587 * green + 114 * blue >= 128 * 1000
    payload = _X_COLOURS.pack(_WHITE, _BLACK) + _pack_bits(light) + _pack_bits(shape_mask(cursor))
    return _rectangle(cursor, Encoding.X_CURSOR, payload)


def pointer_pos(x: int, y: int) -> Rectangle:
    """PointerPos (-232): the pointer's hotspot is now at (x, y)."""
    return Rectangle(x, y, 0, 0, Encoding.POINTER_POS)


def vmware_cursor_position(x: int, y: int) -> Rectangle:
    """VMware Cursor Position (0x574D5666): the same news for viewers that ask for this one
    (TigerVNC's SMsgWriter::writeSetVMwareCursorPositionRect)."""
    return Rectangle(x, y, 0, 0, Encoding.VMWARE_CURSOR_POSITION)


# --- Decoders -------------------------------------------------------------------------------


def _check_size(rectangle: Rectangle, name: str) -> None:
    """Before any byte of the payload is read: the size alone fixes how much follows."""
    if rectangle.width > MAX_CURSOR_SIZE or rectangle.height > MAX_CURSOR_SIZE:
        raise RemoteProtocolError(
            f"{name} {rectangle.width}x{rectangle.height} is larger than "
            f"{MAX_CURSOR_SIZE}x{MAX_CURSOR_SIZE}"
        )


def _check_length(rectangle: Rectangle, expected: int, name: str) -> None:
    if len(rectangle.payload) != expected:
        raise RemoteProtocolError(
            f"{name} {rectangle.width}x{rectangle.height} needs {expected} bytes, "
            f"got {len(rectangle.payload)}"
        )


def _store(framebuffer: Framebuffer, rectangle: Rectangle, image: np.ndarray) -> None:
    framebuffer.cursor = Cursor(image, rectangle.x, rectangle.y)


@register_decoder
class RichCursorDecoder:
    encoding = Encoding.CURSOR
    name = "Cursor"

    @staticmethod
    def _sizes(rectangle: Rectangle, pixel_format: PixelFormat) -> tuple[int, int]:
        """Bytes of pixels, bytes of bitmask."""
        width, height = rectangle.width, rectangle.height
        return width * height * pixel_format.bytes_per_pixel, _row_bytes(width) * height

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        _check_size(rectangle, self.name)
        return (yield from read_bytes(sum(self._sizes(rectangle, pixel_format))))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        _check_size(rectangle, self.name)
        pixels, mask = self._sizes(rectangle, pixel_format)
        _check_length(rectangle, pixels + mask, self.name)
        width, height, payload = rectangle.width, rectangle.height, rectangle.payload
        colours = decode_pixels(
            payload[:pixels], width, height, pixel_format, framebuffer.colour_map
        )
        opaque = _unpack_bits(payload[pixels:], width, height)
        _store(framebuffer, rectangle, _with_alpha(colours, opaque))


@register_decoder
class XCursorDecoder:
    encoding = Encoding.X_CURSOR
    name = "X Cursor"

    @staticmethod
    def _size(rectangle: Rectangle) -> int:
        """Colours and two bit planes; nothing at all when there is no pixel (rfbproto)."""
        width, height = rectangle.width, rectangle.height
        return _X_COLOURS.size + 2 * _row_bytes(width) * height if width * height else 0

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        _check_size(rectangle, self.name)
        return (yield from read_bytes(self._size(rectangle)))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        _check_size(rectangle, self.name)
        _check_length(rectangle, self._size(rectangle), self.name)
        width, height, payload = rectangle.width, rectangle.height, rectangle.payload
        if not payload:  # no pixel, so no colours either
            _store(framebuffer, rectangle, np.zeros((height, width, 4), np.uint8))
            return
        primary, secondary = _X_COLOURS.unpack_from(payload)
        plane = _row_bytes(width) * height
        bitmap, mask = (
            _unpack_bits(payload[start : start + plane], width, height)
            for start in (_X_COLOURS.size, _X_COLOURS.size + plane)
        )
        colours = np.where(bitmap[..., None], _bgrx(primary), _bgrx(secondary))
        _store(framebuffer, rectangle, _with_alpha(colours, mask))


def _bgrx(rgb: bytes) -> np.ndarray:
    return np.array([rgb[2], rgb[1], rgb[0], 0], np.uint8)


@register_decoder
class CursorWithAlphaDecoder:
    encoding = Encoding.CURSOR_WITH_ALPHA
    name = "Cursor With Alpha"

    def _check_inner(self, inner: int) -> None:
        """Only Raw: other inner encodings would share state with this connection's
        decoders of that encoding (rfbproto), and no server we know sends them (TigerVNC
        sends Raw)."""
        if inner != Encoding.RAW:
            raise RemoteProtocolError(f"{self.name} in encoding {inner}: only Raw (0) is supported")

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        _check_size(rectangle, self.name)
        head = yield _ENCODING.size
        self._check_inner(_ENCODING.unpack(head)[0])
        return head + (yield from read_bytes(rectangle.width * rectangle.height * 4))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        _check_size(rectangle, self.name)
        width, height, payload = rectangle.width, rectangle.height, rectangle.payload
        _check_length(rectangle, _ENCODING.size + width * height * 4, self.name)
        self._check_inner(_ENCODING.unpack_from(payload)[0])
        premultiplied = _rgba_to_bgra(payload[_ENCODING.size :], width, height)
        _store(framebuffer, rectangle, unpremultiply(premultiplied))


@register_decoder
class VMwareCursorDecoder:
    encoding = Encoding.VMWARE_CURSOR
    name = "VMware Cursor"

    def _body_size(self, rectangle: Rectangle, pixel_format: PixelFormat, kind: int) -> int:
        """Classic: AND then XOR mask, a PIXEL each; alpha: R, G, B, A bytes."""
        area = rectangle.width * rectangle.height
        if kind == _VMWARE_CLASSIC:
            return 2 * area * pixel_format.bytes_per_pixel
        if kind == _VMWARE_ALPHA:
            return 4 * area
        raise RemoteProtocolError(f"{self.name} type {kind} is neither 0 (classic) nor 1 (alpha)")

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        _check_size(rectangle, self.name)
        head = yield _VMWARE_HEADER.size
        (kind,) = _VMWARE_HEADER.unpack(head)
        return head + (yield from read_bytes(self._body_size(rectangle, pixel_format, kind)))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        _check_size(rectangle, self.name)
        if len(rectangle.payload) < _VMWARE_HEADER.size:
            raise RemoteProtocolError(f"{self.name} without its cursor type")
        (kind,) = _VMWARE_HEADER.unpack_from(rectangle.payload)
        size = self._body_size(rectangle, pixel_format, kind)
        _check_length(rectangle, _VMWARE_HEADER.size + size, self.name)
        body = rectangle.payload[_VMWARE_HEADER.size :]
        width, height = rectangle.width, rectangle.height
        if kind == _VMWARE_ALPHA:
            image = _rgba_to_bgra(body, width, height)
        else:
            image = _classic(body, width, height, pixel_format, framebuffer.colour_map)
        _store(framebuffer, rectangle, image)


def _classic(
    body: bytes, width: int, height: int, pixel_format: PixelFormat, colour_map: np.ndarray
) -> np.ndarray:
    """A classic cursor, drawn as dst = (dst AND and-mask) XOR xor-mask (rfbproto), as an
    image: AND 0 is an opaque pixel of the XOR colour; otherwise XOR 0 leaves the screen as
    it is (transparent); anything else inverts the screen, which an image cannot do, so it
    is opaque black. TigerVNC's readSetVMwareCursor reads it so; noVNC nearly so (it
    ignores the padding bits and wants every colour bit of AND set for transparency)."""
    half = len(body) // 2
    bpp = pixel_format.bytes_per_pixel
    and_zero, xor_zero = (
        ~np.frombuffer(mask, np.uint8).reshape(height, width, bpp).any(axis=2)
        for mask in (body[:half], body[half:])
    )
    colours = decode_pixels(body[half:], width, height, pixel_format, colour_map)
    colours[~and_zero] = 0  # inverted pixels are black; transparent ones lose their colour
    return _with_alpha(colours, and_zero | ~xor_zero)


class _PositionDecoder(NoPayload):
    """PointerPos and VMware Cursor Position carry nothing after the header."""

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        framebuffer.pointer = (rectangle.x, rectangle.y)


@register_decoder
class PointerPosDecoder(_PositionDecoder):
    encoding = Encoding.POINTER_POS


@register_decoder
class VMwareCursorPositionDecoder(_PositionDecoder):
    encoding = Encoding.VMWARE_CURSOR_POSITION
