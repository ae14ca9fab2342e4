"""vncd.guard with fake time, then its hooks in the handshake with the autojump clock."""

from __future__ import annotations

import trio
import trio.testing

from protocol import (
    ClientInit,
    HandshakeFailed,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security.vncauth import encrypt_challenge
from vncd.guard import Guard, GuardSettings

from .harness import ArraySource, Harness, running_hub

# --- the pure rules ---------------------------------------------------------------------


def test_five_failures_block_for_ten_seconds_doubling_up_to_the_cap() -> None:
    guard = Guard()
    assert [guard.failed("a", 0.0) for _ in range(4)] == [0.0] * 4
    assert guard.blocked_for("a", 0.0) == 0.0
    assert guard.failed("a", 1.0) == 10.0
    assert guard.blocked_for("a", 4.0) == 7.0
    assert guard.blocked_for("a", 11.0) == 0.0
    assert guard.failed("a", 11.0) == 20.0
    assert guard.failed("a", 31.0) == 30.0
    assert guard.failed("a", 61.0) == 30.0  # the cap
    assert guard.blocked_for("b", 61.0) == 0.0  # per address


def test_success_forgives_and_quiet_forgets() -> None:
    guard = Guard()
    for _ in range(4):
        guard.failed("a", 0.0)
    guard.succeeded("a")
    assert guard.failed("a", 0.0) == 0.0  # counting starts again
    for _ in range(5):
        guard.failed("b", 0.0)
    # 30 s (the longest block) after the block ended without a failure, all is forgotten.
    assert guard.statistics(10.0).blocked_addresses == 0
    assert guard.statistics(39.0).tracked_addresses == 2
    assert guard.statistics(40.0).tracked_addresses == 1  # "a": quiet since 0 s
    assert guard.failed("b", 40.0) == 0.0


def test_settings_and_a_bounded_memory() -> None:
    guard = Guard(GuardSettings(failures_before_backoff=1, backoff=2, max_backoff=3, max_tracked=2))
    assert guard.failed("a", 0.0) == 2.0
    assert guard.failed("a", 2.0) == 3.0
    guard.failed("b", 0.0)
    guard.failed("c", 0.0)  # "a" is the oldest: forgotten
    assert guard.blocked_for("a", 2.0) == 0.0
    assert guard.statistics(0.0).tracked_addresses == 2


def test_pending_slots_per_address_and_in_total() -> None:
    guard = Guard(GuardSettings(max_pending=3, max_pending_per_address=2))
    first, second = guard.open_slot("a"), guard.open_slot("a")
    assert guard.open_slot("a") == "2 connections from this address are waiting to authenticate"
    third = guard.open_slot("b")
    assert guard.open_slot("c") == "3 connections are waiting to authenticate"
    assert guard.statistics(0.0).pending == 3
    assert not isinstance(first, str)
    first.release()
    first.release()  # harmless
    assert guard.statistics(0.0).pending == 2
    assert not isinstance(guard.open_slot("a"), str)
    assert not isinstance(second, str) and not isinstance(third, str)
    second.release()
    third.release()
    assert guard.statistics(0.0).pending == 1


# --- in the handshake ---------------------------------------------------------------------


async def attempt(harness: Harness, password: str) -> str:
    """One viewer's try: "ok", or the reason it was refused."""
    viewer = harness.connect()
    assert isinstance(await viewer.next_event(), ProtocolVersion)
    await viewer.send(ProtocolVersion(3, 8))
    offer = await viewer.next_event()
    if isinstance(offer, HandshakeFailed):
        return offer.reason
    assert isinstance(offer, SecurityTypes)
    await viewer.send(SecurityTypeChosen(2))
    challenge = await viewer.next_event()
    assert isinstance(challenge, VncAuthChallenge)
    await viewer.send(VncAuthResponse(encrypt_challenge(challenge.challenge, password)))
    result = await viewer.next_event()
    assert isinstance(result, SecurityResult)
    if not result.ok:
        return result.reason
    await viewer.send(ClientInit(shared=True))
    assert isinstance(await viewer.next_event(), ServerInit)
    return "ok"


async def test_a_password_loop_is_throttled_and_the_user_gets_in_30_s_after_it_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(ArraySource(), password="secret") as harness:
        reasons = [await attempt(harness, "guess") for _ in range(5)]
        assert reasons[:4] == ["authentication failed"] * 4
        assert reasons[4] == "authentication failed; too many failures: this address must wait 10 s"
        assert await attempt(harness, "secret") == (
            "too many failed authentications from test viewer: try again in 10 s"
        )
        # An attack that keeps guessing for two minutes gets one guess per block.
        failures, start = 0, trio.current_time()
        while trio.current_time() - start < 120:
            if (await attempt(harness, "guess")).startswith("authentication failed"):
                failures += 1
            await trio.sleep(1)
        assert failures <= 6
        stopped = trio.current_time()
        while await attempt(harness, "secret") != "ok":
            await trio.sleep(1)
        assert trio.current_time() - stopped <= 30


async def test_junk_and_unfinished_handshakes_never_lock_the_user_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(ArraySource(), password="secret") as harness:
        for _ in range(10):
            junk = harness.connect()
            await junk.stream.send_all(b"GET / HTTP/1.1\r\n\r\n")
            with trio.fail_after(1):
                assert await junk.stream.receive_some(100)
        for _ in range(10):
            harness.connect()  # says nothing: dropped at the deadline
        await trio.sleep(11)
        assert await attempt(harness, "secret") == "ok"


async def test_a_response_that_arrives_during_a_block_is_not_checked(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Concurrent connections cannot slip more guesses past the block: the right password
    arriving on a connection opened before the block started is refused too."""
    async with running_hub(ArraySource(), password="secret") as harness:
        early = harness.connect()
        assert isinstance(await early.next_event(), ProtocolVersion)
        await early.send(ProtocolVersion(3, 8))
        assert isinstance(await early.next_event(), SecurityTypes)
        await early.send(SecurityTypeChosen(2))
        challenge = await early.next_event()
        for _ in range(5):
            await attempt(harness, "guess")
        await early.send(VncAuthResponse(encrypt_challenge(challenge.challenge, "secret")))
        result = await early.next_event()
        assert not result.ok and "try again in 10 s" in result.reason


async def test_the_handshake_deadline_is_10_s_by_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(ArraySource()) as harness:
        idle = harness.connect()
        start = trio.current_time()
        assert await idle.stream.receive_some(100)  # the greeting
        assert await idle.stream.receive_some(100) == b""
        assert trio.current_time() - start == 10
