"""Viewer policies ([viewers]): who drives the desktop, who may share it, how long a viewer
may stay. Pure rules: the session passes the time in, so they are tested with plain numbers.

What other servers do, and what vncd does:

- **Sharing** (rfbproto 7.3.1, ClientInit's shared flag). TigerVNC's `DisconnectClients`
  (default on) makes a non-shared viewer disconnect the others; turned off, the non-shared
  viewer is refused while others are connected ("Server is already in use"); `AlwaysShared`
  treats every viewer as shared, `NeverShared` every viewer as non-shared (VNCServerST.cxx,
  VNCSConnectionST.cxx). vncd's `disconnect-others`, `refuse-new` and `always-shared` are the
  first three. One deviation: TigerVNC lets a *shared* viewer join a non-shared one; under
  `refuse-new` vncd refuses it, so that a viewer granted exclusive access keeps it.
- **Input control**. TigerVNC and KasmVNC let every viewer drive, but give the pointer to the
  viewer holding a button down (TigerVNC for at most 10 s); KasmVNC adds per-user write and
  owner rights. vncd's `single-controller` goes further: the first viewer to send keyboard or
  pointer input drives; the others' input is ignored until the controller has sent nothing for
  `takeover_idle_seconds` (0: never) or has left, and then the next viewer to send input
  takes over. Clipboard text is accepted only from a viewer that may drive, but it does not
  take control: viewers send their clipboard on their own (TigerVNC's on focus).
- **Idle** means no keyboard, pointer, clipboard or resize message: what a person does.
  Update requests, fences and the like come from the viewer program itself and would keep a
  forgotten viewer alive for ever. TigerVNC's `IdleTimeout` counts key and pointer events
  only; its `MaxIdleTime` and `MaxConnectionTime` stop the whole server, where vncd's
  `idle_timeout_seconds` and `max_session_seconds` end one viewer's session.
- **View-only** viewers (the view-only password, or `view_only = true` for everyone) send
  nothing to the desktop: keys, pointer, clipboard and resize are all refused. Their input
  still counts as activity, as in TigerVNC (someone is there, watching).
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

import attrs

from protocol import ClientCutText, KeyEvent, PointerEvent, QemuExtendedKeyEvent, SetDesktopSize
from protocol.clipboard import ClipboardNotify, ClipboardProvide

INPUT_MODES = ("shared", "single-controller")
SHARING_MODES = ("disconnect-others", "refuse-new", "always-shared")

#: Messages a person causes; anything else a viewer sends on its own (an Extended Clipboard
#: viewer's copy is its Notify or Provide; caps, requests and peeks are the program's).
USER_INPUT = (
    KeyEvent,
    QemuExtendedKeyEvent,
    PointerEvent,
    ClientCutText,
    ClipboardNotify,
    ClipboardProvide,
    SetDesktopSize,
)


@attrs.frozen
class ViewerPolicy:
    """The [viewers] settings as the daemon uses them (None: no limit)."""

    input: str = "shared"  # one of INPUT_MODES
    takeover_idle: float | None = None  # seconds; None: never
    sharing: str = "disconnect-others"  # one of SHARING_MODES
    idle_timeout: float | None = None  # seconds
    max_session: float | None = None  # seconds
    view_only: bool = False  # every viewer, whatever its password


# --- sharing ------------------------------------------------------------------------------


@attrs.frozen
class SharingDecision:
    """What happens to a viewer that finished its ClientInit."""

    exclusive: bool = False  # it holds the desktop alone
    close_others: bool = False
    refusal: str = ""  # why it is turned away ("" = admitted)


def decide_sharing(
    sharing: str, asked_shared: bool, others: int, exclusive_present: bool
) -> SharingDecision:
    """The ``sharing`` rule for a viewer whose ClientInit said ``asked_shared``, with
    ``others`` viewers connected (``exclusive_present``: one of them holds the desktop)."""
    if sharing == "always-shared" or (asked_shared and sharing == "disconnect-others"):
        return SharingDecision()
    if sharing == "disconnect-others":
        return SharingDecision(exclusive=True, close_others=others > 0)
    if exclusive_present:
        return SharingDecision(refusal="another viewer has exclusive access")
    if asked_shared:
        return SharingDecision()
    if others:
        return SharingDecision(refusal="exclusive access asked while other viewers are connected")
    return SharingDecision(exclusive=True)


# --- input control ------------------------------------------------------------------------

V = TypeVar("V")


@attrs.frozen
class Claim(Generic[V]):
    """The answer to a viewer's keyboard or pointer input."""

    granted: bool  # the input goes to the desktop
    taken: bool = False  # control has just passed to this viewer
    displaced: V | None = None  # the idle controller it took control from


@attrs.define(eq=False)
class InputControl(Generic[V]):
    """Which viewer drives the desktop under single-controller; one per desktop."""

    single: bool = False  # single-controller (else every viewer drives)
    takeover_idle: float | None = None
    controller: V | None = None
    last_input: float = -math.inf  # the controller's last keyboard or pointer input

    @classmethod
    def for_policy(cls, policy: ViewerPolicy) -> InputControl[V]:
        return cls(policy.input == "single-controller", policy.takeover_idle)

    def free(self, now: float) -> bool:
        """Nobody drives, or the controller has been idle long enough to be replaced."""
        return self.controller is None or (
            self.takeover_idle is not None and now - self.last_input >= self.takeover_idle
        )

    def claim(self, viewer: V, now: float) -> Claim[V]:
        """``viewer`` sent keyboard or pointer input at ``now``: may it reach the desktop?"""
        if not self.single:
            return Claim(True)
        if self.controller is viewer:
            self.last_input = now
            return Claim(True)
        if not self.free(now):
            return Claim(False)
        displaced, self.controller, self.last_input = self.controller, viewer, now
        return Claim(True, taken=True, displaced=displaced)

    def allows(self, viewer: V, now: float) -> bool:
        """Whether input that does not take control (clipboard text) from ``viewer`` may
        reach the desktop now."""
        return not self.single or self.controller is viewer or self.free(now)

    def leave(self, viewer: V) -> None:
        """``viewer`` is gone: the next viewer to send input takes control."""
        if self.controller is viewer:
            self.controller = None


# --- time limits --------------------------------------------------------------------------


@attrs.define
class TimeLimits:
    """One viewer's idle timeout and maximum session time, counted from ``start``."""

    idle_timeout: float | None = None
    max_session: float | None = None
    started: float = 0.0
    last_input: float = 0.0

    def start(self, now: float) -> None:
        """The viewer was admitted (its handshake has a limit of its own)."""
        self.started = self.last_input = now

    def input(self, now: float) -> None:
        """The viewer sent one of USER_INPUT."""
        self.last_input = now

    def deadline(self) -> float | None:
        """When a limit runs out if nothing changes (None: never)."""
        ends = []
        if self.max_session is not None:
            ends.append(self.started + self.max_session)
        if self.idle_timeout is not None:
            ends.append(self.last_input + self.idle_timeout)
        return min(ends, default=None)

    def expired(self, now: float) -> str | None:
        """Why the viewer must go now, for the log (None: it may stay)."""
        if self.max_session is not None and now >= self.started + self.max_session:
            return f"session time is up ({self.max_session:g} s, viewers.max_session_seconds)"
        if self.idle_timeout is not None and now >= self.last_input + self.idle_timeout:
            return f"idle for {self.idle_timeout:g} s (viewers.idle_timeout_seconds)"
        return None
