"""Tight security (type 16) on the server: what vncd offers inside it, one run of the exchange
over a viewer's channel, and the interaction capabilities its ServerInit then carries.

Inside Tight vncd offers no tunnel, then Unix login when there is a users file, VNC
authentication when there is a password (login first), and no authentication only when
there is neither. The decision that follows (SecurityResult, the back-off after failures)
is the handshake's, as for VeNCrypt: ``run`` only says whether the credentials were right.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from protocol import InteractionCapabilities, Role
from protocol.encodings import Encoding
from protocol.security.tight import (
    AUTH_CAPABILITIES,
    ENCODING_CAPABILITIES,
    MESSAGE_CAPABILITIES,
    AuthCapabilities,
    AuthChosen,
    AuthType,
    Phase,
    Tight,
    TunnelCapabilities,
)

from . import cursor
from .inner import Outcome, expect, log_in, vnc_auth

if TYPE_CHECKING:
    from protocol import Capability

    from .channel import Channel
    from .hub import Access

#: Pseudo-encodings vncd honours that have a registered Tight signature (each family under
#: its first number): the JPEG quality, compression, fine quality and subsampling levels,
#: DesktopSize, and the cursor shapes and position (vncd.cursor).
HONOURED_PSEUDO_ENCODINGS = frozenset(
    {
        Encoding.JPEG_QUALITY_LEVEL_0,
        Encoding.COMPRESS_LEVEL_0,
        Encoding.FINE_QUALITY_LEVEL_0,
        Encoding.SUBSAMP_1X,
        Encoding.DESKTOP_SIZE,
        *cursor.SHAPE_ENCODINGS,
        *cursor.POSITION_ENCODINGS,
    }
)


def auth_offer(access: Access) -> tuple[Capability, ...]:
    """Unix login with a users file, VNC authentication with a password; () = none."""
    return (
        *((AUTH_CAPABILITIES[AuthType.UNIX_LOGIN],) if access.users is not None else ()),
        *((AUTH_CAPABILITIES[AuthType.VNC_AUTH],) if access.password else ()),
    )


def interaction_capabilities(offered: Collection[int]) -> InteractionCapabilities:
    """What ServerInit lists after Tight security: continuous updates (EnableContinuous
    Updates and EndOfContinuousUpdates), CopyRect (sent for scrolls and moves), the pixel
    encodings ``offered`` (vncd.updates.offered_encodings) and the pseudo-encodings vncd
    honours, where rfbproto registers a signature for them. Raw need not be listed."""
    server_message, client_message = MESSAGE_CAPABILITIES["continuous_updates"]
    listed = {Encoding.COPY_RECT, *offered, *HONOURED_PSEUDO_ENCODINGS} - {Encoding.RAW}
    return InteractionCapabilities(
        server_messages=(server_message,),
        client_messages=(client_message,),
        encodings=tuple(
            capability for code, capability in ENCODING_CAPABILITIES.items() if code in listed
        ),
    )


async def run(channel: Channel, access: Access) -> Outcome:
    """Tight after the viewer chose type 16, up to (not including) the SecurityResult, which
    the connection then expects (or, with no authentication before RFB 3.8, ClientInit)."""
    handler = Tight(Role.SERVER)
    handler.receive_data(channel.conn.hand_over())
    offer = handler.send(TunnelCapabilities()) + handler.send(AuthCapabilities(auth_offer(access)))
    await channel.write(offer)
    if handler.phase is Phase.AUTH_CHOICE:
        await expect(channel, handler, AuthChosen)
    if handler.phase is Phase.VNC_CHALLENGE:
        outcome = await vnc_auth(channel, handler, access)
    elif handler.phase is Phase.LOGIN:
        outcome = await log_in(channel, handler, access)
    else:
        outcome = Outcome(ok=True, checked=False)
    channel.conn.security_handled(handler.trailing_data(), like_none=handler.authenticates_nothing)
    return outcome
