"""VeNCrypt on the server: its subtypes from ``[security] types`` (vncd.offer), the TLS
contexts, and one run of the exchange over a viewer's channel (TLS started on its stream, then
the inner check, vncd.inner).

The decision that follows (SecurityResult, the back-off after failures) is the handshake's:
``run`` only says whether the credentials were right.
"""

from __future__ import annotations

import ssl
import tempfile
from typing import TYPE_CHECKING

import attrs
import trio

from protocol import Role
from protocol.security.vencrypt import (
    VERSION,
    X509_TLS,
    StartTLS,
    SubtypeChosen,
    Subtypes,
    VeNCrypt,
    VeNCryptVersion,
    VersionRefused,
)
from protocol.security.vencrypt import Phase as VeNCryptPhase

from .channel import Channel, Refused
from .inner import Outcome, expect, log_in, vnc_auth
from .offer import offer
from .transports.prefixed import PrefixedStream

if TYPE_CHECKING:
    from .config import Config
    from .hub import Access

#: Anonymous TLS: (EC)DH without certificates exists only up to TLS 1.2, and OpenSSL 3 allows
#: it only at security level 0. Only the anonymous suites are enabled.
ANONYMOUS_CIPHERS = "aNULL:!eNULL:!3DES:!RC4:!MD5:@SECLEVEL=0"


#: RFC 7919's ffdhe2048 group, for anonymous finite-field DH: gtk-vnc offers only that
#: (TigerVNC takes ECDH too), and Python's ssl has no automatic DH parameters.
FFDHE2048 = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def anonymous_context() -> ssl.SSLContext:
    """The server context for the TLS* subtypes: anonymous (EC)DH, exactly TLS 1.2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.set_ciphers(ANONYMOUS_CIPHERS)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as parameters:
        parameters.write(FFDHE2048)
        parameters.flush()
        context.load_dh_params(parameters.name)
    return context


@attrs.frozen
class VeNCryptSetup:
    """What vncd offers inside VeNCrypt and the means to do it."""

    subtypes: tuple[int, ...]
    x509: ssl.SSLContext | None  # [tls]'s context: the X509* subtypes
    anonymous: ssl.SSLContext


def security_offer(config: Config) -> tuple[tuple[int, ...], VeNCryptSetup | None]:
    """The security types of ``[security] types`` (() = automatic) and, when VeNCrypt is
    among them, its setup (reads the [tls] files). No TLS 1.3 session tickets: TigerVNC
    1.12 reads the tickets and the first message after the handshake in one go, then
    waits on the socket for the message GnuTLS already holds (seen with strace: it hangs)."""
    types, subtypes = offer(config.security.types)
    if not subtypes:
        return types, None
    x509 = config.tls_context()  # a context of its own: https's is left as it is
    if x509 is not None:
        x509.num_tickets = 0
    return types, VeNCryptSetup(subtypes, x509, anonymous_context())


async def run(channel: Channel, access: Access) -> Outcome:
    """VeNCrypt after the viewer chose type 19, up to (not including) the SecurityResult,
    which the connection then expects. Raises Refused for a version or TLS failure."""
    setup = access.vencrypt
    assert setup is not None, "type 19 is offered only with a setup"
    handler = VeNCrypt(Role.SERVER)
    handler.receive_data(channel.conn.hand_over())
    await channel.write(handler.send(VeNCryptVersion(*VERSION)))
    version = await expect(channel, handler, VeNCryptVersion)
    if (version.major, version.minor) != VERSION:
        await channel.write(handler.send(VersionRefused()))
        raise Refused(f"VeNCrypt {version.major}.{version.minor} asked, only 0.2 is spoken")
    await channel.write(handler.send(Subtypes(setup.subtypes)))
    subtype = (await expect(channel, handler, SubtypeChosen)).subtype
    if handler.phase is VeNCryptPhase.START_TLS:
        await channel.write(handler.send(StartTLS()))
        context = setup.x509 if subtype in X509_TLS else setup.anonymous
        assert context is not None, "X509 subtypes are offered only with a certificate"
        await _start_tls(channel, context, handler.trailing_data())
        handler.tls_started()
    if handler.phase is VeNCryptPhase.VNC_CHALLENGE:
        outcome = await vnc_auth(channel, handler, access)
    elif handler.phase is VeNCryptPhase.PLAIN_CREDENTIALS:
        outcome = await log_in(channel, handler, access)
    else:
        outcome = Outcome(ok=True, checked=False)
    channel.conn.security_handled(handler.trailing_data())
    return outcome


async def _start_tls(channel: Channel, context: ssl.SSLContext, early: bytes) -> None:
    """Wrap the channel's stream in TLS (bytes already read are the ClientHello's start)."""
    tls = trio.SSLStream(PrefixedStream(channel.stream, early), context, server_side=True)
    try:
        await tls.do_handshake()
    except trio.BrokenResourceError as error:
        raise Refused(f"TLS handshake failed: {error.__cause__ or error}") from None
    channel.stream = tls
