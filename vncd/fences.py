"""Answering the viewer's fences (rfbproto "ClientFence", "ServerFence", "Fence Pseudo-encoding").

A viewer that lists the Fence pseudo-encoding (-312) may send Fence requests; the server
answers each with the same payload, the Request bit cleared and the flags it does not
understand cleared. Fences without the Request bit are answers to the server's own fences:
the scheduler's pings (vncd.schedule, vncd.congestion), not handled here.
"""

from __future__ import annotations

import enum

import attrs

from protocol import Event, Fence


class FenceFlag(enum.IntFlag):
    """The flags of a Fence message (rfbproto "ClientFence")."""

    BLOCK_BEFORE = 1 << 0
    BLOCK_AFTER = 1 << 1
    SYNC_NEXT = 1 << 2
    REQUEST = 1 << 31


#: The flags vncd honours and so keeps in its replies. The reader handles the viewer's messages
#: one at a time and in order, and everything the server sends leaves through one writer in
#: order, so BlockBefore and BlockAfter hold as soon as the reply is queued behind what came
#: before (as in TigerVNC); SyncNext needs FenceReplies to hold the reply back.
SUPPORTED = FenceFlag.BLOCK_BEFORE | FenceFlag.BLOCK_AFTER | FenceFlag.SYNC_NEXT


def reply_to(fence: Fence) -> Fence | None:
    """The ServerFence answering a viewer's request, or None for an answer to one of ours."""
    if not fence.flags & FenceFlag.REQUEST:
        return None
    return Fence(fence.flags & SUPPORTED, fence.payload)


@attrs.define
class FenceReplies:
    """Orders the replies to the viewer's fences: call ``handled`` after each message.

    rfbproto SyncNext: the message after the fence must look atomic, so whatever the server
    sent before the reply predates it and whatever follows the reply reflects it. The reply is
    therefore held until that next message has been handled (TigerVNC does the same).
    """

    _held: Fence | None = None

    def handled(self, event: Event) -> tuple[Fence, ...]:
        """The fence replies due now that ``event`` (any message from the viewer) has taken
        effect, in the order they must be sent."""
        held, self._held = self._held, None
        reply = reply_to(event) if isinstance(event, Fence) else None
        if reply is not None and reply.flags & FenceFlag.SYNC_NEXT:
            self._held = reply
            reply = None
        return tuple(fence for fence in (reply, held) if fence is not None)
