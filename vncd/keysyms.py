"""X keysyms as RFB carries them (rfbproto 7.5.4 KeyEvent): characters, names and modifiers.

RFB key events carry X11 keysyms, so every source needs the same few facts about them: which
character a keysym types (the demo's text pad), a readable name (logs) and which keysyms are
modifiers (the X11 source presses Shift itself for keysyms that need it).  Every function
accepts any integer, so whatever u32 a viewer sends can be logged and looked up safely.
"""

from __future__ import annotations

import functools
import importlib
import unicodedata

import Xlib.keysymdef

# --- Named keysyms used elsewhere (values from X11 keysymdef.h) ---------------------------

BACKSPACE = 0xFF08
TAB = 0xFF09
RETURN = 0xFF0D
ESCAPE = 0xFF1B
DELETE = 0xFFFF
KP_ENTER = 0xFF8D
ISO_LEFT_TAB = 0xFE20

SHIFT_L = 0xFFE1
SHIFT_R = 0xFFE2
CONTROL_L = 0xFFE3
CONTROL_R = 0xFFE4
CAPS_LOCK = 0xFFE5
SHIFT_LOCK = 0xFFE6
META_L = 0xFFE7
META_R = 0xFFE8
ALT_L = 0xFFE9
ALT_R = 0xFFEA
SUPER_L = 0xFFEB
SUPER_R = 0xFFEC
HYPER_L = 0xFFED
HYPER_R = 0xFFEE
NUM_LOCK = 0xFF7F
MODE_SWITCH = 0xFF7E
ISO_LEVEL3_SHIFT = 0xFE03
ISO_LEVEL5_SHIFT = 0xFE11

SHIFT_KEYSYMS = frozenset({SHIFT_L, SHIFT_R})
MODIFIER_KEYSYMS = frozenset(
    {
        *SHIFT_KEYSYMS,
        CONTROL_L,
        CONTROL_R,
        CAPS_LOCK,
        SHIFT_LOCK,
        META_L,
        META_R,
        ALT_L,
        ALT_R,
        SUPER_L,
        SUPER_R,
        HYPER_L,
        HYPER_R,
        NUM_LOCK,
        MODE_SWITCH,
        ISO_LEVEL3_SHIFT,
        ISO_LEVEL5_SHIFT,
    }
)

# Keysyms 0x01000100..0x0110FFFF are "U+XXXX + 0x01000000" (X11 keysymdef.h, Unicode
# section); we also accept the 0x010000xx forms some clients send for Latin-1 characters.
UNICODE_OFFSET = 0x01000000
_UNICODE_LAST = UNICODE_OFFSET + 0x10FFFF
_NOT_TYPED = frozenset({"Cc", "Cs", "Cn"})  # control, surrogate and unassigned code points

# The keypad keys that type a character (KP_Space, KP_Multiply..KP_9, KP_Equal).
_KEYPAD = {
    0xFF80: " ",
    0xFFAA: "*",
    0xFFAB: "+",
    0xFFAC: ",",
    0xFFAD: "-",
    0xFFAE: ".",
    0xFFAF: "/",
    0xFFBD: "=",
    **{0xFFB0 + digit: str(digit) for digit in range(10)},
}

# Legacy (pre-Unicode) keysyms that common keyboard layouts and viewers still send.
_LEGACY = {
    0x20AC: "\u20ac",  # EuroSign
    0x13BC: "\u0152",  # OE (Latin-9)
    0x13BD: "\u0153",  # oe
    0x13BE: "\u0178",  # Ydiaeresis
    0x0AA9: "\u2014",  # emdash
    0x0AAA: "\u2013",  # endash
    0x0AAE: "\u2026",  # ellipsis
    0x0AD0: "\u2018",  # leftsinglequotemark
    0x0AD1: "\u2019",  # rightsinglequotemark
    0x0AD2: "\u201c",  # leftdoublequotemark
    0x0AD3: "\u201d",  # rightdoublequotemark
}


def keysym_to_char(keysym: int) -> str | None:
    """The character ``keysym`` types, or None (control keys, modifiers, unknowns)."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if UNICODE_OFFSET <= keysym <= _UNICODE_LAST:
        char = chr(keysym - UNICODE_OFFSET)
        return None if unicodedata.category(char) in _NOT_TYPED else char
    return _KEYPAD.get(keysym) or _LEGACY.get(keysym)


@functools.cache
def _names() -> dict[int, str]:
    """keysym → name, from python-xlib's copy of keysymdef.h (first name wins)."""
    names: dict[int, str] = {}
    for group in Xlib.keysymdef.__all__:
        module = importlib.import_module(f"Xlib.keysymdef.{group}")
        for attribute, value in vars(module).items():
            if attribute.startswith("XK_"):
                names.setdefault(value, attribute[3:])
    return names


def keysym_name(keysym: int) -> str:
    """A readable name for logs: 'Return', 'eacute', 'U+263A' or '0x12345678'."""
    name = _names().get(keysym)
    if name is not None:
        return name
    if UNICODE_OFFSET <= keysym <= _UNICODE_LAST:
        return f"U+{keysym - UNICODE_OFFSET:04X}"
    return f"{keysym:#x}"
