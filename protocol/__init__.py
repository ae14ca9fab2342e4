"""protocol: the RFB (VNC) toolkit, without I/O.

``ServerConnection`` and ``ClientConnection`` turn bytes into typed events and events into
bytes; ``encodings`` holds every encoding's encoder and decoder; ``security`` the helpers for
the security types.
"""

from __future__ import annotations

from . import encodings, security
from ._connection import (
    NEED_DATA,
    ClientConnection,
    ConnectionStatistics,
    ServerConnection,
)
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import (
    Bell,
    Capability,
    ClientCutText,
    ClientInit,
    ConnectionClosed,
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Event,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    HandshakeFailed,
    InteractionCapabilities,
    KeyEvent,
    PointerEvent,
    ProtocolVersion,
    QemuAudio,
    QemuExtendedKeyEvent,
    Rectangle,
    Screen,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerCutText,
    ServerInit,
    SetColourMapEntries,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    VncAuthChallenge,
    VncAuthResponse,
    XvpMessage,
)
from ._framebuffer import Framebuffer
from ._pixelformat import BGRX, PixelFormat
from ._state import Phase, Role

__all__ = [
    "BGRX",
    "NEED_DATA",
    "Bell",
    "Capability",
    "ClientConnection",
    "ClientCutText",
    "ClientInit",
    "ConnectionClosed",
    "ConnectionStatistics",
    "EnableContinuousUpdates",
    "EndOfContinuousUpdates",
    "Event",
    "Fence",
    "Framebuffer",
    "FramebufferUpdate",
    "FramebufferUpdateRequest",
    "HandshakeFailed",
    "InteractionCapabilities",
    "KeyEvent",
    "LocalProtocolError",
    "Phase",
    "PixelFormat",
    "PointerEvent",
    "ProtocolError",
    "ProtocolVersion",
    "QemuAudio",
    "QemuExtendedKeyEvent",
    "Rectangle",
    "RemoteProtocolError",
    "Role",
    "Screen",
    "SecurityResult",
    "SecurityTypeChosen",
    "SecurityTypes",
    "ServerConnection",
    "ServerCutText",
    "ServerInit",
    "SetColourMapEntries",
    "SetDesktopSize",
    "SetEncodings",
    "SetPixelFormat",
    "VncAuthChallenge",
    "VncAuthResponse",
    "XvpMessage",
    "encodings",
    "security",
]
