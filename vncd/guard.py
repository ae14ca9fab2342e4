"""Admission limits per source address, without I/O or a clock of its own (callers pass
``now``): back-off after failed authentications, and slots for connections that have not
authenticated yet.

Only *failed authentications* count towards the back-off: garbage and unfinished handshakes
never do, so junk connections cannot lock the rightful user out (TigerVNC's blacklist counts
them). Those are bounded by the slots and the handshake deadline instead.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class GuardSettings:
    """[limits]' admission keys, in seconds and counts."""

    #: Failed authentications from one address before it is blocked.
    failures_before_backoff: int = 5
    #: The first block; each failure after a block doubles it, up to ``max_backoff``.
    backoff: float = 10.0
    #: The longest block, so the rightful user waits at most this after an attack stops.
    max_backoff: float = 30.0
    #: Connections not authenticated yet, in total and from one address.
    max_pending: int = 32
    max_pending_per_address: int = 8
    #: Addresses remembered for the back-off (the oldest are forgotten first).
    max_tracked: int = 10_000


@attrs.define
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0
    backoff: float = 0.0  # the latest block's length; 0 until the first block


@attrs.frozen
class GuardStatistics:
    pending: int
    tracked_addresses: int
    blocked_addresses: int
    #: Secrets checked since the server started, and how they went.
    failures: int
    successes: int


@attrs.define(eq=False)
class Slot:
    """One connection's place among those not authenticated yet; ``release()`` it when the
    viewer authenticates or leaves (twice is harmless)."""

    guard: Guard | None
    address: str

    def release(self) -> None:
        if self.guard is not None:
            self.guard._release(self.address)
            self.guard = None


@attrs.define
class Guard:
    """Per-address failure records and the pending-connection slots of one server."""

    settings: GuardSettings = attrs.Factory(GuardSettings)
    _records: dict[str, _Record] = attrs.Factory(dict)
    _pending: dict[str, int] = attrs.Factory(dict)
    _failures: int = 0
    _successes: int = 0

    # --- authentication back-off -------------------------------------------------------

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds until ``address`` may try a password again (0: it may now)."""
        record = self._record(address, now)
        return max(0.0, record.blocked_until - now) if record else 0.0

    def failed(self, address: str, now: float) -> float:
        """Count a failed authentication; returns the block it starts in seconds (0: none)."""
        self._failures += 1
        record = self._record(address, now) or _Record()
        self._records.pop(address, None)
        self._records[address] = record  # newest last: the oldest are evicted first
        while len(self._records) > self.settings.max_tracked:
            del self._records[next(iter(self._records))]
        record.failures += 1
        record.last_failure = now
        if record.failures < self.settings.failures_before_backoff:
            return 0.0
        record.backoff = min(self.settings.max_backoff, record.backoff * 2 or self.settings.backoff)
        record.blocked_until = now + record.backoff
        return record.backoff

    def succeeded(self, address: str) -> None:
        """The address authenticated: its failures are forgiven."""
        self._successes += 1
        self._records.pop(address, None)

    def _record(self, address: str, now: float) -> _Record | None:
        """The address's record, forgotten once it has been quiet for a longest block after
        its last failure and its block."""
        record = self._records.get(address)
        if record is None:
            return None
        if now - max(record.last_failure, record.blocked_until) >= self.settings.max_backoff:
            del self._records[address]
            return None
        return record

    # --- connections not authenticated yet ---------------------------------------------

    def open_slot(self, address: str) -> Slot | str:
        """A slot for a new connection from ``address``, or why there is none."""
        settings = self.settings
        if sum(self._pending.values()) >= settings.max_pending:
            return f"{settings.max_pending} connections are waiting to authenticate"
        if self._pending.get(address, 0) >= settings.max_pending_per_address:
            return (
                f"{settings.max_pending_per_address} connections from this address are "
                "waiting to authenticate"
            )
        self._pending[address] = self._pending.get(address, 0) + 1
        return Slot(self, address)

    def _release(self, address: str) -> None:
        left = self._pending[address] - 1
        if left:
            self._pending[address] = left
        else:
            del self._pending[address]

    def statistics(self, now: float) -> GuardStatistics:
        return GuardStatistics(
            pending=sum(self._pending.values()),
            tracked_addresses=len(self._records),
            blocked_addresses=sum(
                1 for address in list(self._records) if self.blocked_for(address, now)
            ),
            failures=self._failures,
            successes=self._successes,
        )
