"""Keyboard and mouse pseudo-encodings: the lock-key LEDs a server sets (rfbproto 'QEMU LED
State Pseudo-encoding', 'VMware LED State Pseudo-encoding') and the empty rectangles by which
it confirms QEMU Extended Key Events and ExtendedMouseButtons (rfbproto sections of those
names).

A client decodes the LED state with ``led_state(rectangle)`` from the update it received: the
state belongs to the viewer's keyboard, not to the framebuffer, so the decoders only check the
payload. The confirmations change what the connection reads and writes; it learns them from
the update itself (``protocol._state``).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Generator

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._base import NoPayload
from ._registry import Encoding, register_decoder

_VMWARE_FLAGS = struct.Struct(">I")
#: The payload size of each LED state encoding: QEMU a U8, VMware a U32.
_LED_PAYLOADS = {Encoding.QEMU_LED_STATE: 1, Encoding.VMWARE_LED_STATE: _VMWARE_FLAGS.size}


class LedState(enum.IntFlag):
    """The lock keys that are on; both encodings use these bits (TigerVNC reads them alike)."""

    SCROLL_LOCK = 1 << 0
    NUM_LOCK = 1 << 1
    CAPS_LOCK = 1 << 2


_KNOWN = LedState.SCROLL_LOCK | LedState.NUM_LOCK | LedState.CAPS_LOCK


def qemu_led_state(state: LedState) -> Rectangle:
    """The QEMU LED State rectangle (-261): one U8 of flags; the header fields are unused."""
    return Rectangle(0, 0, 0, 0, Encoding.QEMU_LED_STATE, bytes([state & _KNOWN]))


def vmware_led_state(state: LedState) -> Rectangle:
    """The VMware LED State rectangle (0x574D5668): one U32 of flags, for a client that asked
    for it but not for QEMU's (TigerVNC's server prefers QEMU's)."""
    return Rectangle(0, 0, 0, 0, Encoding.VMWARE_LED_STATE, _VMWARE_FLAGS.pack(state & _KNOWN))


def led_state(rectangle: Rectangle) -> LedState:
    """The lock keys a received LED State rectangle (either encoding) says are on. Reserved
    bits are ignored, as rfbproto says."""
    size = _LED_PAYLOADS[rectangle.encoding]
    if len(rectangle.payload) != size:
        raise RemoteProtocolError(
            f"LED state rectangle of {len(rectangle.payload)} bytes, not {size}"
        )
    return LedState(int.from_bytes(rectangle.payload, "big") & _KNOWN)


def qemu_extended_key_event() -> Rectangle:
    """The server's confirmation that it wants QemuExtendedKeyEvent messages (-258)."""
    return Rectangle(0, 0, 0, 0, Encoding.QEMU_EXTENDED_KEY_EVENT)


def extended_mouse_buttons() -> Rectangle:
    """The server's confirmation that it reads extended PointerEvents (-316)."""
    return Rectangle(0, 0, 0, 0, Encoding.EXTENDED_MOUSE_BUTTONS)


class _LedStateDecoder:
    """Reads the fixed-size flags; the client takes them with ``led_state``."""

    encoding: int

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        return (yield _LED_PAYLOADS[self.encoding])

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        led_state(rectangle)  # no pixels: only refuse a malformed payload


@register_decoder
class QemuLedStateDecoder(_LedStateDecoder):
    encoding = Encoding.QEMU_LED_STATE


@register_decoder
class VMwareLedStateDecoder(_LedStateDecoder):
    encoding = Encoding.VMWARE_LED_STATE


class _Confirmation(NoPayload):
    """An empty rectangle: nothing to read, nothing to draw."""

    encoding: int

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        """Nothing to apply: the connection learnt the confirmation from the update."""


@register_decoder
class QemuExtendedKeyEventDecoder(_Confirmation):
    encoding = Encoding.QEMU_EXTENDED_KEY_EVENT


@register_decoder
class ExtendedMouseButtonsDecoder(_Confirmation):
    encoding = Encoding.EXTENDED_MOUSE_BUTTONS
