"""Security types (rfbproto 7.1.2, 7.2): their numbers, the handlers and per-type helpers.

The connections carry the None and VNC authentication messages themselves; other types are
handlers registered in ``HANDLERS`` (see ``_registry``). The cryptography and the decision
(is this password right?) belong to the application, through the helpers here.
"""

from __future__ import annotations

from . import rsaaes, tight, vencrypt, vncauth
from ._exchange import Exchange
from ._registry import HANDLERS, SecurityType, register_handler

__all__ = [
    "HANDLERS",
    "Exchange",
    "SecurityType",
    "register_handler",
    "rsaaes",
    "tight",
    "vencrypt",
    "vncauth",
]
