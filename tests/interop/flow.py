"""What a recorded conversation must show when a viewer uses vncd's flow control.

Shared by the TigerVNC test (tests/interop) and the noVNC test (tests/browser): both viewers
list the Fence (-312) and ContinuousUpdates (-313) pseudo-encodings, and both recordings are
parsed by rfbtap's parser pair, so one set of checks reads either. The flag values are taken
from rfbproto here, not from vncd, so that a wrong constant in vncd cannot pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from protocol import (
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
)
from protocol.encodings import ENCODERS

from .rfbtap import Message, Recording

#: rfbproto "ClientFence": the flag bits.
BLOCK_BEFORE = 1 << 0
REQUEST = 1 << 31
#: rfbproto "Fence Pseudo-encoding", "ContinuousUpdates Pseudo-encoding".
FENCE = -312
CONTINUOUS_UPDATES = -313


@attrs.frozen
class Flow:
    """Counts from one recording, for the caller's own bounds and messages."""

    #: vncd's fences (its pings) and the viewer's answers to them.
    pings: int
    answers: int
    #: After the viewer enabled continuous updates: updates carrying pixels that vncd sent,
    #: and update requests that the viewer sent.
    updates_after_enable: int
    requests_after_enable: int


def check_flow_control(recording: Recording, changes: int) -> Flow:
    """Assert that, on the wire, the viewer listed both pseudo-encodings; vncd offered
    continuous updates (EndOfContinuousUpdates) and the viewer took them
    (EnableContinuousUpdates after that); vncd pinged with fences flagged
    Request|BlockBefore and the viewer answered each in order (same payload, Request cleared,
    BlockBefore kept); and at least ``changes`` pixel updates flowed after the viewer enabled
    continuous updates while it sent no update request at all."""
    assert recording.error is None, recording.error
    asked = recording.encoding_lists[-1] if recording.encoding_lists else ()
    assert {FENCE, CONTINUOUS_UPDATES} <= set(asked), f"the viewer asked for {asked}"
    messages = recording.messages
    offered = _first(
        messages,
        "vncd sent no EndOfContinuousUpdates",
        lambda m: not m.from_viewer and isinstance(m.event, EndOfContinuousUpdates),
    )
    enabled = _first(
        messages,
        "the viewer never enabled continuous updates",
        lambda m: m.from_viewer and isinstance(m.event, EnableContinuousUpdates) and m.event.enable,
    )
    assert offered < enabled, "the viewer enabled continuous updates before vncd offered them"

    # Requests from vncd are its pings; any fence without the bit would answer the viewer's.
    pings = [
        (index, m.event)
        for index, m in enumerate(messages)
        if not m.from_viewer and isinstance(m.event, Fence) and m.event.flags & REQUEST
    ]
    answers = [
        (index, m.event)
        for index, m in enumerate(messages)
        if m.from_viewer and isinstance(m.event, Fence) and not m.event.flags & REQUEST
    ]
    assert len(pings) > changes, f"{len(pings)} pings for {changes} changes"
    assert {ping.flags for _, ping in pings} == {REQUEST | BLOCK_BEFORE}, [p for _, p in pings]
    assert len({ping.payload for _, ping in pings}) == len(pings), "ping payloads repeat"
    # The ping after the last update may still be on its way back when the test looks.
    assert len(pings) - 1 <= len(answers) <= len(pings), f"{len(answers)} of {len(pings)}"
    for (sent_at, ping), (answered_at, answer) in zip(pings, answers, strict=False):
        assert answer.payload == ping.payload, f"answer {answer} to ping {ping}: out of order"
        assert answer.flags == BLOCK_BEFORE, f"answer {answer} to ping {ping}"
        assert sent_at < answered_at

    after = messages[enabled + 1 :]
    updates = [
        m.event
        for m in after
        if not m.from_viewer
        and isinstance(m.event, FramebufferUpdate)
        and any(r.encoding in ENCODERS for r in m.event.rectangles)
    ]
    requests = [
        m.event for m in after if m.from_viewer and isinstance(m.event, FramebufferUpdateRequest)
    ]
    flow = Flow(len(pings), len(answers), len(updates), len(requests))
    assert flow.updates_after_enable >= changes, flow
    assert flow.requests_after_enable == 0, flow
    return flow


def _first(messages: list[Message], missing: str, wanted: Callable[[Message], bool]) -> int:
    """The index of the first message that is ``wanted``; fails with ``missing`` if none is."""
    found = next((index for index, message in enumerate(messages) if wanted(message)), None)
    assert found is not None, missing
    return found
