"""What every session of one desktop shares: the source, the frame and clipboard buses, the
access rules and the set of live sessions."""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio
from Crypto.PublicKey import RSA

from .clipboard import ClipboardBus
from .cursor import CursorBus
from .frames import FrameBus
from .guard import Guard
from .metrics import Meters
from .notices import NoticeBus
from .policy import InputControl, ViewerPolicy
from .recording import RecordingSettings
from .refresh import REFRESH_DELAY
from .resize import DesktopResize
from .sources.base import Source
from .updates import Audience, SharedEncodings, WorkerEncoders

if TYPE_CHECKING:
    from .input import InputState
    from .session import Session
    from .users import UserBook
    from .vencrypt import VeNCryptSetup


@attrs.frozen
class Access:
    """Who may connect and how: passwords ("" = none) and limits."""

    password: str = ""
    view_only_password: str = ""
    max_connections: int = 64
    max_cut_text: int = 1 << 20
    max_encodings: int = 1024
    #: A viewer must finish the handshake within this time, so idle half-open connections
    #: cannot hold connection slots.
    handshake_seconds: float = 10.0
    #: The server's key for the RSA-AES types (offered only with a password and a key).
    rsa_key: RSA.RsaKey | None = None
    #: [security] types as numbers, in order; () = the automatic offer (vncd.handshake).
    security_types: tuple[int, ...] = ()
    #: VeNCrypt's subtypes and TLS contexts, when type 19 is among ``security_types``.
    vencrypt: VeNCryptSetup | None = None
    #: [security] users_file: the users of the types that carry a user name.
    users: UserBook | None = None


@attrs.define
class Hub:
    """Whoever runs the hub runs ``bus.run()``, ``clipboard.run()``, ``cursor.run()`` and
    ``notices.run()``."""

    source: Source
    bus: FrameBus
    access: Access
    name: str
    encodings: frozenset[int]  # the pixel encodings we offer (see updates.offered_encodings)
    #: Most updates a second one viewer is sent (the frame clock of each session).
    max_fps: float = 60.0
    #: Lossy areas are sent again losslessly once still this long, in seconds (None: never).
    lossless_refresh: float | None = REFRESH_DELAY
    #: [viewers]: input control, sharing, time limits, view-only (vncd.policy).
    viewers: ViewerPolicy = attrs.Factory(ViewerPolicy)
    #: Which viewer drives the desktop under single-controller.
    control: InputControl[InputState] = attrs.Factory(
        lambda hub: InputControl.for_policy(hub.viewers), takes_self=True
    )
    sessions: set[Session] = attrs.Factory(set)
    #: Back-off after failed authentications, slots for pending connections (vncd.guard).
    guard: Guard = attrs.Factory(Guard)
    #: Where sessions are recorded, and whether all are ([recording], vncd.recording).
    recording: RecordingSettings = attrs.Factory(RecordingSettings)
    #: Who may resize the desktop, how far, and who last did ([source] resize, max_size).
    resize: DesktopResize = attrs.Factory(DesktopResize)
    #: Runs big encodes off the Trio thread (tests run them inline, so that the autojump
    #: clock sees every step).
    run_sync: Callable[..., Awaitable[Any]] = trio.to_thread.run_sync
    #: Encoders for the bands of big updates, shared by all viewers.
    worker_encoders: WorkerEncoders = attrs.Factory(WorkerEncoders)
    #: Updates encoded once for every viewer with the same settings.
    shared_encodings: SharedEncodings = attrs.Factory(SharedEncodings)
    #: Captures, encodes and updates as they happen, for /metrics (vncd.metrics).
    meters: Meters = attrs.Factory(Meters)
    #: How many sessions have each audience (encoding, pixel format, settings) now.
    audiences: collections.Counter[Audience] = attrs.Factory(collections.Counter)
    clipboard: ClipboardBus = attrs.Factory(
        lambda hub: ClipboardBus(hub.source, hub.access.max_cut_text), takes_self=True
    )
    cursor: CursorBus = attrs.Factory(lambda hub: CursorBus(hub.source), takes_self=True)
    #: LEDs, the bell, renames and extension confirmations for the sessions.
    notices: NoticeBus = attrs.Factory(NoticeBus, takes_self=True)
