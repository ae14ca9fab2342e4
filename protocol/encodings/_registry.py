"""Encoding numbers (rfbproto 7.7, 7.8 and the registered list) and the encoder/decoder
registry.

Each encoding module registers its classes with ``@register_encoder`` / ``@register_decoder``
and ``protocol.encodings`` imports the module, so a new encoding is one import line there.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from types import MappingProxyType
from typing import TypeVar

from ._base import Decoder, Encoder, EncodeSettings


def _signed(number: int) -> int:
    """A U32 encoding number as the S32 that SetEncodings carries (7.5.2)."""
    return number - (1 << 32) if number >= 1 << 31 else number


@enum.unique
class Encoding(enum.IntEnum):
    """Every encoding and pseudo-encoding number the spec names (7.7, 7.8), plus the
    registered ones vncd may meet. Ranges are spelt out except the fine quality levels,
    whose ends are named (``FINE_QUALITY_LEVELS`` holds the whole range)."""

    # Encodings (7.7)
    RAW = 0
    COPY_RECT = 1
    RRE = 2
    CORRE = 4
    HEXTILE = 5
    ZLIB = 6
    TIGHT = 7
    ZLIBHEX = 8
    TRLE = 15
    ZRLE = 16
    ZYWRLE = 17
    JPEG = 21
    OPEN_H264 = 50
    TIGHT_PNG = -260

    # JPEG quality level (7.8.1): -32 is quality 0 (lowest), -23 quality 9.
    JPEG_QUALITY_LEVEL_0 = -32
    JPEG_QUALITY_LEVEL_1 = -31
    JPEG_QUALITY_LEVEL_2 = -30
    JPEG_QUALITY_LEVEL_3 = -29
    JPEG_QUALITY_LEVEL_4 = -28
    JPEG_QUALITY_LEVEL_5 = -27
    JPEG_QUALITY_LEVEL_6 = -26
    JPEG_QUALITY_LEVEL_7 = -25
    JPEG_QUALITY_LEVEL_8 = -24
    JPEG_QUALITY_LEVEL_9 = -23

    DESKTOP_SIZE = -223
    LAST_RECT = -224
    POINTER_POS = -232  # TightVNC's number, the one libvncserver and viewers use
    CURSOR = -239
    X_CURSOR = -240

    # Compression level: -256 is level 0 (fastest), -247 level 9.
    COMPRESS_LEVEL_0 = -256
    COMPRESS_LEVEL_1 = -255
    COMPRESS_LEVEL_2 = -254
    COMPRESS_LEVEL_3 = -253
    COMPRESS_LEVEL_4 = -252
    COMPRESS_LEVEL_5 = -251
    COMPRESS_LEVEL_6 = -250
    COMPRESS_LEVEL_7 = -249
    COMPRESS_LEVEL_8 = -248
    COMPRESS_LEVEL_9 = -247

    QEMU_POINTER_MOTION_CHANGE = -257
    QEMU_EXTENDED_KEY_EVENT = -258
    QEMU_AUDIO = -259
    QEMU_LED_STATE = -261
    GII = -305
    DESKTOP_NAME = -307
    EXTENDED_DESKTOP_SIZE = -308
    XVP = -309
    FENCE = -312
    CONTINUOUS_UPDATES = -313
    CURSOR_WITH_ALPHA = -314
    EXTENDED_MOUSE_BUTTONS = -316
    TIGHT_WITHOUT_ZLIB = -317

    # JPEG fine-grained quality: -512 is quality 0, -412 quality 100.
    FINE_QUALITY_LEVEL_0 = -512
    FINE_QUALITY_LEVEL_100 = -412

    # JPEG subsampling level (TurboVNC's numbering 0..5).
    SUBSAMP_1X = -768
    SUBSAMP_4X = -767
    SUBSAMP_2X = -766
    SUBSAMP_GRAY = -765
    SUBSAMP_8X = -764
    SUBSAMP_16X = -763

    VMWARE_CURSOR = 0x574D5664
    VMWARE_CURSOR_STATE = 0x574D5665
    VMWARE_CURSOR_POSITION = 0x574D5666
    VMWARE_KEY_REPEAT = 0x574D5667
    VMWARE_LED_STATE = 0x574D5668
    VMWARE_DISPLAY_MODE_CHANGE = 0x574D5669
    VMWARE_VIRTUAL_MACHINE_STATE = 0x574D566A
    EXTENDED_CLIPBOARD = _signed(0xC0A1E5CE)


QUALITY_LEVELS = range(Encoding.JPEG_QUALITY_LEVEL_0, Encoding.JPEG_QUALITY_LEVEL_9 + 1)
COMPRESS_LEVELS = range(Encoding.COMPRESS_LEVEL_0, Encoding.COMPRESS_LEVEL_9 + 1)
FINE_QUALITY_LEVELS = range(Encoding.FINE_QUALITY_LEVEL_0, Encoding.FINE_QUALITY_LEVEL_100 + 1)
SUBSAMPLING_LEVELS = range(Encoding.SUBSAMP_1X, Encoding.SUBSAMP_16X + 1)
_TUNING = {
    "quality": QUALITY_LEVELS,
    "fine_quality": FINE_QUALITY_LEVELS,
    "subsampling": SUBSAMPLING_LEVELS,
    "compress_level": COMPRESS_LEVELS,
}


def settings_from_encodings(encodings: Sequence[int]) -> EncodeSettings:
    """The tuning pseudo-encodings of a SetEncodings list. The spec expects one of each;
    should a client send several, the first wins, as the list is in order of preference
    (7.5.2). (TigerVNC lets the last win; clients that matter send only one.)"""
    found: dict[str, int] = {}
    for number in encodings:
        for name, numbers in _TUNING.items():
            if number in numbers and name not in found:
                found[name] = number - numbers.start
    return EncodeSettings(**found)


_EncoderClass = TypeVar("_EncoderClass", bound=type[Encoder])
_DecoderClass = TypeVar("_DecoderClass", bound=type[Decoder])
_encoders: dict[int, type[Encoder]] = {}
_decoders: dict[int, type[Decoder]] = {}

#: Encoding number -> Encoder class, for encodings built from pixels (CopyRect and the
#: pseudo-encodings are made by helper functions instead: they carry no pixels).
ENCODERS = MappingProxyType(_encoders)
#: Encoding number -> Decoder class, for every encoding and pseudo-encoding we can apply.
DECODERS = MappingProxyType(_decoders)


def _add(table: dict, cls: type) -> None:
    number = int(cls.encoding)
    if number in table:
        raise ValueError(f"encoding {number} registered twice: {table[number]} and {cls}")
    table[number] = cls


def register_encoder(cls: _EncoderClass) -> _EncoderClass:
    """Class decorator: make ``cls`` what ``make_encoder(cls.encoding)`` builds."""
    _add(_encoders, cls)
    return cls


def register_decoder(cls: _DecoderClass) -> _DecoderClass:
    """Class decorator: make ``cls`` what ``make_decoder(cls.encoding)`` builds."""
    _add(_decoders, cls)
    return cls


def make_encoder(encoding: int, *, shareable: bool = False) -> Encoder:
    """A fresh encoder (its own per-connection state); KeyError if we cannot encode it.

    ``shareable``: one whose output depends only on its arguments, so that it may go to many
    clients (the encoding's shareable variant, e.g. Tight resetting its zlib streams for each
    rectangle); ValueError if the encoding has none (Zlib and ZRLE cannot reset a stream).
    """
    cls = _encoders[encoding]
    if not shareable or getattr(cls, "shareable", False):
        return cls()
    if getattr(cls, "has_shareable_variant", False):
        return cls(shareable=True)
    raise ValueError(f"encoding {encoding} has no shareable variant")


def make_decoder(encoding: int) -> Decoder:
    """A fresh decoder (its own per-connection state); KeyError if we cannot decode it."""
    return _decoders[encoding]()
