"""TLS on the RFB port: the server's context, and the handshake that starts a connection."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import trio

log = logging.getLogger(__name__)

#: A client must finish the TLS handshake within this time; a stalled one is dropped.
HANDSHAKE_SECONDS = 10.0


def server_context(certificate: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server context for a PEM certificate (chain) and its key: TLS 1.2 or newer, ALPN
    http/1.1 (what the HTTP and WebSocket code here speaks). ValueError says what is wrong."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Renegotiation would make a cancelled read break the stream (trio.SSLStream's caveat),
    # and detection cancels reads when its window closes.
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(certificate, key)
    except ssl.SSLError as error:
        raise ValueError(f"cannot load the certificate and key: {error.reason or error}") from None
    except OSError as error:
        raise ValueError(f"cannot read the certificate or key: {error.strerror}") from None
    return context


async def start_tls(
    stream: trio.abc.Stream, context: ssl.SSLContext, peer: str
) -> trio.SSLStream[trio.abc.Stream] | None:
    """The server side of a TLS handshake on ``stream``; None (logged) if it fails."""
    tls = trio.SSLStream(stream, context, server_side=True, https_compatible=True)
    try:
        with trio.fail_after(HANDSHAKE_SECONDS):
            await tls.do_handshake()
    except trio.TooSlowError:
        log.info("%s: TLS handshake timed out", peer)
    except trio.BrokenResourceError as error:
        log.info("%s: TLS handshake failed: %s", peer, error.__cause__ or error)
    else:
        return tls
    return None
