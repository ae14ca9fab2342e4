"""Tight encoding (rfbproto 7.7.6): fills, JPEG, and zlib-compressed data behind a filter.

Encoder: each block of the plan (``_tight_plan``) becomes a fill; a JPEG image when the
client asked for a quality; or BasicCompression: the palette filter for blocks with a small
palette (1 bit per pixel for 2 colours), the copy filter otherwise. The encoder never uses
the gradient filter: it makes photographs 20-25% smaller, but a viewer undoes it pixel by
pixel (our decoder took 10x the time of inflating the same frame without it), and TigerVNC
does without it too. Zlib streams: 0 full colour, 1 two-colour, 2 palette (as in TigerVNC
and libvncserver), 3 photo blocks, which take zlib's run-length strategy at the default
compression level (``_runs_will_do``), so neither stream restarts when blocks alternate.
Decoder: every method, the "without zlib" variant, every filter (the gradient too), and the
four streams with their reset bits.
"""

from __future__ import annotations

import zlib

import numpy as np

from .._errors import RemoteProtocolError
from .._pixelformat import PixelFormat, decode_pixels
from ._base import EncodeSettings
from ._registry import Encoding, register_decoder, register_encoder
from ._tight_decode import TightFamilyDecoder
from ._tight_encode import DEFAULT_COMPRESS_LEVEL, TightFamilyEncoder, fill_payload, zlib_levels
from ._tight_gradient import gradient_unfilter
from ._tight_pixels import TPixels, as_bytes, tpixels_for
from ._tight_plan import Block, Kind
from ._tight_wire import (
    EXPLICIT_FILTER,
    GRADIENT_FILTER,
    MIN_TO_COMPRESS,
    PALETTE_FILTER,
    Flavour,
    TightRect,
    compact_length,
)
from ._tight_zlib import DeflateStreams

_FULL_COLOUR, _MONO, _INDEXED, _PHOTO = 0, 1, 2, 3  # stream numbers


@register_encoder
class TightEncoder(TightFamilyEncoder):
    encoding = Encoding.TIGHT
    shareable = False
    #: ``TightEncoder(shareable=True)`` resets its zlib streams for every rectangle (the
    #: compression-control byte's reset bits), so its output depends on nothing before it.
    has_shareable_variant = True

    def __init__(self, shareable: bool = False) -> None:
        self.shareable = shareable
        self._streams = DeflateStreams(independent=shareable)

    def forget_client(self) -> None:
        """Another encoder wrote to this client's zlib streams (e.g. the shareable variant,
        serving it with others for a while): reset each stream on its next use."""
        self._streams.forget_client()

    def _lossless(
        self,
        block: Block,
        pixels: np.ndarray,
        values: np.ndarray,
        found: tuple[np.ndarray, np.ndarray] | None,
        tpixels: TPixels,
        settings: EncodeSettings,
    ) -> bytes:
        indexed_level, mono_level, full_level = zlib_levels(settings)
        strategy = zlib.Z_DEFAULT_STRATEGY
        if found is not None and len(found[0]) > 2 and tpixels.size == 1:
            found = None  # an index is no smaller than a 1-byte TPIXEL (TigerVNC does so too)
        if found is not None:
            colours, indices = found
            if len(colours) == 1:
                return fill_payload(tpixels, int(colours[0]))
            if len(colours) == 2:
                stream, zlib_level = _MONO, mono_level
                data = as_bytes(np.packbits(indices, axis=1))  # MSB = leftmost, rows padded
            else:
                stream, zlib_level = _INDEXED, indexed_level
                data = as_bytes(indices)
            header = bytes((PALETTE_FILTER, len(colours) - 1)) + tpixels.from_values(colours)
        else:
            stream, zlib_level, header = _FULL_COLOUR, full_level, b""
            data = tpixels.from_pixels(pixels, values)
            if block.kind is Kind.PHOTO and _runs_will_do(settings):
                stream, strategy = _PHOTO, zlib.Z_RLE
        control = (stream | (EXPLICIT_FILTER if header else 0)) << 4
        if len(data) < MIN_TO_COMPRESS:
            return bytes((control,)) + header + data
        compressed, resets = self._streams.compress(stream, data, zlib_level, strategy)
        return bytes((control | resets,)) + header + compact_length(len(compressed)) + compressed


def _runs_will_do(settings: EncodeSettings) -> bool:
    """Whether photo blocks take zlib's run-length strategy: at the compression levels up
    to the default. Matching strings in a photograph costs about twice the time of run
    matching for 13% fewer bytes; a client asking for more compression gets matching."""
    level = settings.compress_level
    return level is None or level <= DEFAULT_COMPRESS_LEVEL


@register_decoder
class TightDecoder(TightFamilyDecoder):
    encoding = Encoding.TIGHT
    flavour = Flavour.TIGHT

    def _pixels(
        self,
        fields: TightRect,
        width: int,
        height: int,
        pixel_format: PixelFormat,
        colour_map: np.ndarray,
    ) -> np.ndarray:
        """BasicCompression: inflate (bounded by the size the filter implies), unfilter."""
        data = fields.data
        if fields.compressed:
            data = self._streams.inflate(fields.stream, data, fields.raw_size)
        tpixels = tpixels_for(pixel_format)
        try:
            if fields.filter == PALETTE_FILTER:
                return _unpalette(fields, data, width, height, tpixels, colour_map)
            if fields.filter == GRADIENT_FILTER:
                return _ungradient(data, width, height, tpixels, colour_map)
            return tpixels.to_bgrx(data, width * height, colour_map).reshape(height, width, 4)
        except ValueError as error:
            raise RemoteProtocolError(f"Tight data: {error}") from error


def _unpalette(
    fields: TightRect,
    data: bytes,
    width: int,
    height: int,
    tpixels: TPixels,
    colour_map: np.ndarray,
) -> np.ndarray:
    colours = tpixels.to_bgrx(fields.palette, fields.palette_size, colour_map)
    if fields.palette_size <= 2:
        rows = np.frombuffer(data, np.uint8).reshape(height, (width + 7) // 8)
        indices = np.unpackbits(rows, axis=1, count=width)
    else:
        indices = np.frombuffer(data, np.uint8).reshape(height, width)
    if indices.size and indices.max() >= fields.palette_size:
        raise RemoteProtocolError(
            f"Tight palette index {indices.max()} with {fields.palette_size} colours"
        )
    return colours[indices]


def _ungradient(
    data: bytes, width: int, height: int, tpixels: TPixels, colour_map: np.ndarray
) -> np.ndarray:
    """The gradient filter works on each colour component of the TPIXEL, modulo its MAX + 1
    (7.7.6): bytes for 3-byte TPIXELs, the format's channel fields otherwise."""
    pf = tpixels.pf
    if tpixels.rgb888:
        rgb = gradient_unfilter(np.frombuffer(data, np.uint8).reshape(height, width, 3), (255,) * 3)
        out = np.zeros((height, width, 4), np.uint8)
        out[..., :3] = rgb[..., ::-1]
        return out
    values = np.frombuffer(data, tpixels.wire_dtype).astype(np.uint32).reshape(height, width)
    channels = [
        (pf.red_max, pf.red_shift),
        (pf.green_max, pf.green_shift),
        (pf.blue_max, pf.blue_shift),
    ]
    differences = np.stack([values >> shift & maximum for maximum, shift in channels], axis=-1)
    intensities = gradient_unfilter(differences, tuple(m for m, _ in channels)).astype(np.uint32)
    pixel_values = np.zeros((height, width), np.uint32)
    for index, (_, shift) in enumerate(channels):
        pixel_values |= intensities[..., index] << np.uint32(shift)
    wire = pixel_values.astype(tpixels.wire_dtype).tobytes()
    return decode_pixels(wire, width, height, pf, colour_map)
