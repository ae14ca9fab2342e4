"""A lingering close: let the peer read our last words before the connection goes."""

from __future__ import annotations

import trio

#: Reading stops once the peer has been quiet this long (what it sent before it saw our last
#: words has arrived by then), or closes, or after LINGER_SECONDS or LINGER_BYTES in all.
QUIET_SECONDS = 0.25
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20
RECEIVE_CHUNK = 16 * 1024


async def linger(stream: trio.abc.ReceiveStream) -> None:
    """Read and drop what the peer still sends, within the bounds above.

    Closing a socket that has unread data makes TCP reset the connection, and a reset can
    destroy what the peer has not read yet: the error response or Close frame that says why
    we stop (RFC 9112 9.6, RFC 6455 7.1.1). Call it after sending that, before closing.
    """
    dropped = 0
    with trio.move_on_after(LINGER_SECONDS):
        while dropped < LINGER_BYTES:
            with trio.move_on_after(QUIET_SECONDS) as quiet:
                try:
                    chunk = await stream.receive_some(RECEIVE_CHUNK)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
            if quiet.cancelled_caught or not chunk:
                return
            dropped += len(chunk)
