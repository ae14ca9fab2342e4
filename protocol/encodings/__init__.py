"""Every encoding's encoder and decoder, and the registry that makes them by number.

Adding an encoding: write its module (classes decorated with ``register_encoder`` /
``register_decoder``) and import it on the line below.
"""

from __future__ import annotations

from . import copyrect, h264, hextile, jpeg, pseudo, raw, rre, tight, tightpng, trle, zlib, zrle
from ._base import Decoder, Encoder, EncodeSettings, Reader
from ._registry import (
    COMPRESS_LEVELS,
    DECODERS,
    ENCODERS,
    FINE_QUALITY_LEVELS,
    QUALITY_LEVELS,
    SUBSAMPLING_LEVELS,
    Encoding,
    make_decoder,
    make_encoder,
    register_decoder,
    register_encoder,
    settings_from_encodings,
)
from .copyrect import copy_rect
from .cursor import (
    MAX_CURSOR_SIZE,
    Cursor,
    cursor_with_alpha,
    pointer_pos,
    rich_cursor,
    vmware_cursor,
    vmware_cursor_position,
    x_cursor,
)
from .leds import (
    LedState,
    extended_mouse_buttons,
    led_state,
    qemu_extended_key_event,
    qemu_led_state,
    vmware_led_state,
)
from .lossy import LOSSY_ENCODINGS, is_lossy
from .pseudo import desktop_size, last_rect

__all__ = [
    "COMPRESS_LEVELS",
    "DECODERS",
    "ENCODERS",
    "FINE_QUALITY_LEVELS",
    "LOSSY_ENCODINGS",
    "MAX_CURSOR_SIZE",
    "QUALITY_LEVELS",
    "SUBSAMPLING_LEVELS",
    "Cursor",
    "Decoder",
    "EncodeSettings",
    "Encoder",
    "Encoding",
    "LedState",
    "Reader",
    "copy_rect",
    "copyrect",
    "cursor",
    "cursor_with_alpha",
    "desktop_size",
    "extended_mouse_buttons",
    "h264",
    "hextile",
    "is_lossy",
    "jpeg",
    "last_rect",
    "led_state",
    "leds",
    "make_decoder",
    "make_encoder",
    "pointer_pos",
    "pseudo",
    "qemu_extended_key_event",
    "qemu_led_state",
    "raw",
    "register_decoder",
    "register_encoder",
    "rich_cursor",
    "rre",
    "settings_from_encodings",
    "tight",
    "tightpng",
    "trle",
    "vmware_cursor",
    "vmware_cursor_position",
    "vmware_led_state",
    "x_cursor",
    "zlib",
    "zrle",
]
