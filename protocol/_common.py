"""Names the connections and the security handlers share: the two roles and NEED_DATA."""

from __future__ import annotations

import enum
from typing import Literal


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value

    __str__ = __repr__


#: ``next_event()`` has nothing complete to return: feed more bytes (or act: it may be our
#: turn to send).
NEED_DATA = _Sentinel.NEED_DATA
NeedData = Literal[_Sentinel.NEED_DATA]
