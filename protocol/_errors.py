"""The two ways an RFB conversation can go wrong (h11's split).

``LocalProtocolError``: our own caller misused the connection (sent an event that is not
legal in the current phase).  ``RemoteProtocolError``: the peer sent bytes that are not RFB.
After either, the connection is dead and refuses further use.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class of every error this package raises about the conversation."""


class LocalProtocolError(ProtocolError):
    """Our side tried something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""
