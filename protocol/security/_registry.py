"""Security type numbers and the registry of the types run by a handler of their own.

None and VNC authentication are phases of the RFB connection itself. Any other type is a
sans-IO handler class registered here with ``@register_handler(number)``: after the client
chooses it, the connection pauses in ``SECURITY_HANDLER`` and the caller drives the handler
(``handler_class(role)``), then gives the connection back the bytes that follow
(``security_handled``). Adding a type is its module, one import in ``security/__init__``,
and its tests.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from types import MappingProxyType
from typing import TypeVar


class SecurityType(enum.IntEnum):
    """Security type numbers (rfbproto 7.2; IANA RFB registry)."""

    NONE = 1
    VNC_AUTH = 2
    TIGHT = 16
    VENCRYPT = 19


T = TypeVar("T", bound=type)

_HANDLERS: dict[int, type] = {}
#: Security type number → its handler class, read-only.
HANDLERS = MappingProxyType(_HANDLERS)


def register_handler(number: int) -> Callable[[T], T]:
    """Class decorator: ``number`` is run by this handler (one per number)."""

    def register(cls: T) -> T:
        if number in _HANDLERS:
            raise ValueError(f"security type {number} already has a handler")
        _HANDLERS[number] = cls
        return cls

    return register
