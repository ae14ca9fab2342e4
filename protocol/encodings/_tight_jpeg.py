"""JPEG for Tight, TightPNG and the JPEG encoding: the client's tuning pseudo-encodings
turned into libjpeg-turbo parameters, and bounded decoding.

simplejpeg is libjpeg-turbo behind a numpy interface: it compresses the canonical BGRX frame
as it lies in memory (no conversion to RGB first, any strides), about 5 ms for 1920x1080
where Pillow plus the BGRX -> RGB copy takes about 18 ms, and it releases the GIL.
"""

from __future__ import annotations

import attrs
import numpy as np
import simplejpeg

from .._errors import RemoteProtocolError
from .._pixelformat import PixelFormat
from ._base import EncodeSettings
from ._tight_pixels import as_seen_by

#: Quality level 0..9 (7.8.1) -> (libjpeg quality, subsampling): the table TigerVNC and
#: TurboVNC use, measured by the VirtualGL project for bandwidth against perceived quality.
QUALITY_LEVELS = (
    (15, "420"),
    (29, "420"),
    (41, "420"),
    (42, "422"),
    (62, "422"),
    (77, "422"),
    (79, "444"),
    (86, "444"),
    (92, "444"),
    (100, "444"),
)
#: Subsampling level (TurboVNC's numbering 0..5: 1X, 4X, 2X, gray, 8X, 16X) -> libjpeg-turbo
#: subsampling. libjpeg-turbo has no 4:1:0 or 4X-by-4X, so 8X and 16X become 4:2:0 (as in
#: TigerVNC).
SUBSAMPLING = ("444", "420", "422", "Gray", "420", "420")
#: What the JPEG encoding uses when the client named no quality (level 8: 92, 4:4:4).
DEFAULT_LEVEL = 8
#: libjpeg-turbo's accurate DCT only pays off at the top qualities (TigerVNC's cut).
_FAST_DCT_BELOW = 96


@attrs.frozen
class JpegParameters:
    quality: int  # libjpeg 1..100
    subsampling: str  # simplejpeg's name

    def encode(self, pixels: np.ndarray) -> bytes:
        """A complete JFIF image of canonical BGRX pixels (H, W >= 1, any strides)."""
        return simplejpeg.encode_jpeg(
            pixels,
            quality=self.quality,
            colorspace="BGRX",
            colorsubsampling=self.subsampling,
            fastdct=self.quality < _FAST_DCT_BELOW,
        )


def jpeg_parameters(settings: EncodeSettings) -> JpegParameters:
    """The client's JPEG parameters: its quality level's row (level 8 if it named none), a
    fine quality (0..100) overriding the row's quality, a subsampling level overriding the
    row's subsampling."""
    level = DEFAULT_LEVEL if settings.quality is None else settings.quality
    quality, subsampling = QUALITY_LEVELS[level]
    if settings.fine_quality is not None:
        quality = max(1, settings.fine_quality)
    if settings.subsampling is not None:
        subsampling = SUBSAMPLING[settings.subsampling]
    return JpegParameters(quality, subsampling)


def requested_jpeg(settings: EncodeSettings) -> JpegParameters | None:
    """Tight's JPEG parameters, or None unless the client asked for a quality (7.7.6: no
    JpegCompression otherwise). A fine quality level counts; a subsampling level alone does
    not (TigerVNC takes it as a request too; the spec speaks of quality only)."""
    if settings.quality is None and settings.fine_quality is None:
        return None
    return jpeg_parameters(settings)


def decode_jpeg(
    data: bytes, width: int, height: int, pf: PixelFormat, colour_map: np.ndarray
) -> np.ndarray:
    """A JFIF image that must be exactly width x height -> canonical pixels as the client
    keeps them. The size is read from the header first, so a forged header cannot make
    libjpeg allocate more than the rectangle."""
    try:
        image_height, image_width, _, _ = simplejpeg.decode_jpeg_header(data)
        if (image_width, image_height) != (width, height):
            raise RemoteProtocolError(
                f"JPEG image is {image_width}x{image_height}, its rectangle {width}x{height}"
            )
        pixels = simplejpeg.decode_jpeg(data, colorspace="BGRX")
    except ValueError as error:
        raise RemoteProtocolError(f"bad JPEG image: {error}") from error
    return as_seen_by(pixels, pf, colour_map)
