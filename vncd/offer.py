"""The names of ``[security] types``: what each is on the wire, what it needs configured,
which let a viewer in with no secret, and the offer they make (types, VeNCrypt subtypes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from protocol.security import SecurityType
from protocol.security.rsaaes import RsaAesType
from protocol.security.vencrypt import PLAIN_INNER, VNC_INNER, X509_TLS, Subtype

#: ``[security] types`` names (TigerVNC's spelling) → security type or VeNCrypt subtype.
TYPE_NAMES: Mapping[str, int] = {
    "X509Plain": Subtype.X509_PLAIN,
    "X509Vnc": Subtype.X509_VNC,
    "X509None": Subtype.X509_NONE,
    "TLSPlain": Subtype.TLS_PLAIN,
    "TLSVnc": Subtype.TLS_VNC,
    "TLSNone": Subtype.TLS_NONE,
    "Plain": Subtype.PLAIN,
    "VncAuth": SecurityType.VNC_AUTH,
    "RA2": RsaAesType.RA2,
    "RA2ne": RsaAesType.RA2NE,
    "RA2_256": RsaAesType.RA2_256,
    "RA2ne_256": RsaAesType.RA2NE_256,
    "Tight": SecurityType.TIGHT,
    "None": SecurityType.NONE,
}

_SUBTYPES = frozenset(Subtype)
_RSA_AES = frozenset(RsaAesType)
#: The names that let a viewer in without any secret.
UNAUTHENTICATED = frozenset({"None", "TLSNone", "X509None"})


def needs_of(name: str) -> tuple[str, ...]:
    """What a type needs configured: "certificate", "password", "users", or "secret" (a
    password or users: RSA-AES asks for a user name when there is a users file). Tight
    needs nothing: it offers what there is (vncd.tight), no authentication when nothing."""
    number = TYPE_NAMES[name]
    return (
        *(("certificate",) if number in X509_TLS else ()),
        *(("password",) if number in VNC_INNER or number == SecurityType.VNC_AUTH else ()),
        *(("secret",) if number in _RSA_AES else ()),
        *(("users",) if number in PLAIN_INNER else ()),
    )


def offer(names: Sequence[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(security types, VeNCrypt subtypes) for the names, in their order: VeNCrypt (19)
    stands where its first subtype is named."""
    types: list[int] = []
    subtypes: list[int] = []
    for name in names:
        number = TYPE_NAMES[name]
        if number in _SUBTYPES:
            subtypes.append(number)
            number = SecurityType.VENCRYPT
        if number not in types:
            types.append(number)
    return tuple(types), tuple(subtypes)
