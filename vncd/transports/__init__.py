"""Transports on the RFB port: detection, HTTP (the web client), WebSocket and TLS.

Every transport ends in a ``trio.abc.Stream`` for the RFB session, so a session is the same
over TCP, TLS and WebSocket.
"""

from .dispatch import MODES, Transports, serve_connection
from .http import DEFAULT_WEB_ROOT, StatusPage, StatusPages, WebRoot, serve_status_pages
from .prefixed import PrefixedStream
from .sniff import Kind, Sniffed, classify, sniff
from .tls import server_context
from .websocket import (
    WebSocketSettings,
    WebSocketStream,
    is_loopback,
    origin_allowed,
    parse_origin,
)

__all__ = [
    "DEFAULT_WEB_ROOT",
    "MODES",
    "Kind",
    "PrefixedStream",
    "Sniffed",
    "StatusPage",
    "StatusPages",
    "Transports",
    "WebRoot",
    "WebSocketSettings",
    "WebSocketStream",
    "classify",
    "is_loopback",
    "origin_allowed",
    "parse_origin",
    "serve_connection",
    "serve_status_pages",
    "server_context",
    "sniff",
]
