"""Security types (rfbproto 7.1.2, 7.2): their numbers and the per-type helpers.

The connections carry the security handshake messages; the cryptography and the decision
(is this password right?) belong to the application, through the helpers here.
"""

from __future__ import annotations

import enum

from . import vncauth


class SecurityType(enum.IntEnum):
    """The security types this package can take a connection through (rfbproto 7.2)."""

    NONE = 1
    VNC_AUTH = 2


__all__ = ["SecurityType", "vncauth"]
