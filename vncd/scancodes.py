"""Key positions: the XT scancodes of QEMU Extended Key Events as Linux evdev key codes.

A QEMU Extended Key Event (rfbproto 'QEMU Extended Key Event Message') names the key by its
XT scancode, IBM PC scan code set 1, in one number: a single-byte code as it is (0x10 is the
key labelled Q on a US keyboard) and a code sent after the 0xE0 prefix byte with its high bit
set (0xE0 0x48, the Up arrow, is 0xC8). noVNC, QEMU and TigerVNC's viewer all number keys so.

Linux numbered its evdev key codes (``input-event-codes.h``) after set 1 for the keys of the
84- and 102-key keyboards, so codes 0x01-0x53 and 0x56-0x58 are the same number in both; the
other keys are listed below by their ``KEY_`` names, with the set-1 codes IBM and Microsoft's
keyboard scan code specification give them. A test checks every number against the kernel
header, and the whole table against noVNC's own (generated from QEMU's keymaps database).
Keys whose set-1 code is not settled (F13-F24, most language keys) are left out: viewers
send their keysyms too, and those are typed instead.

An X server with XKB's evdev rules (Xorg with libinput or evdev, Xvfb, Xvnc) gives each key
the X keycode evdev code + 8; ``vncd.sources.x11_keyboard`` checks that before using it.
"""

from __future__ import annotations

from types import MappingProxyType

#: Set-1 codes that equal the evdev code: Esc (1) to keypad "." (0x53), then 102nd key
#: (0x56, KEY_102ND), F11 and F12.
SAME_NUMBER = (range(0x01, 0x54), range(0x56, 0x59))

E0 = 0x80  # the 0xE0 prefix, as the high bit of a QEMU key code

#: (XT scancode, evdev name, evdev code) of the other keys.
OTHER_KEYS: tuple[tuple[int, str, int], ...] = (
    (0x54, "KEY_SYSRQ", 99),  # Alt+Print Screen: what noVNC sends for Print Screen
    (0x59, "KEY_KPEQUAL", 117),
    (0x70, "KEY_KATAKANAHIRAGANA", 93),
    (0x73, "KEY_RO", 89),
    (0x79, "KEY_HENKAN", 92),
    (0x7B, "KEY_MUHENKAN", 94),
    (0x7D, "KEY_YEN", 124),
    (E0 | 0x10, "KEY_PREVIOUSSONG", 165),
    (E0 | 0x19, "KEY_NEXTSONG", 163),
    (E0 | 0x1C, "KEY_KPENTER", 96),
    (E0 | 0x1D, "KEY_RIGHTCTRL", 97),
    (E0 | 0x20, "KEY_MUTE", 113),
    (E0 | 0x21, "KEY_CALC", 140),
    (E0 | 0x22, "KEY_PLAYPAUSE", 164),
    (E0 | 0x24, "KEY_STOPCD", 166),
    (E0 | 0x2E, "KEY_VOLUMEDOWN", 114),
    (E0 | 0x30, "KEY_VOLUMEUP", 115),
    (E0 | 0x32, "KEY_HOMEPAGE", 172),
    (E0 | 0x35, "KEY_KPSLASH", 98),
    (E0 | 0x37, "KEY_SYSRQ", 99),  # Print Screen
    (E0 | 0x38, "KEY_RIGHTALT", 100),
    (E0 | 0x46, "KEY_PAUSE", 119),  # Ctrl+Break; QEMU's number for Pause (E1 1D 45)
    (E0 | 0x47, "KEY_HOME", 102),
    (E0 | 0x48, "KEY_UP", 103),
    (E0 | 0x49, "KEY_PAGEUP", 104),
    (E0 | 0x4B, "KEY_LEFT", 105),
    (E0 | 0x4D, "KEY_RIGHT", 106),
    (E0 | 0x4F, "KEY_END", 107),
    (E0 | 0x50, "KEY_DOWN", 108),
    (E0 | 0x51, "KEY_PAGEDOWN", 109),
    (E0 | 0x52, "KEY_INSERT", 110),
    (E0 | 0x53, "KEY_DELETE", 111),
    (E0 | 0x5B, "KEY_LEFTMETA", 125),
    (E0 | 0x5C, "KEY_RIGHTMETA", 126),
    (E0 | 0x5D, "KEY_COMPOSE", 127),  # the Menu key
    (E0 | 0x5E, "KEY_POWER", 116),
    (E0 | 0x5F, "KEY_SLEEP", 142),
    (E0 | 0x63, "KEY_WAKEUP", 143),
    (E0 | 0x65, "KEY_SEARCH", 217),
    (E0 | 0x66, "KEY_BOOKMARKS", 156),
    (E0 | 0x67, "KEY_REFRESH", 173),
    (E0 | 0x68, "KEY_STOP", 128),
    (E0 | 0x69, "KEY_FORWARD", 159),
    (E0 | 0x6A, "KEY_BACK", 158),
    (E0 | 0x6B, "KEY_COMPUTER", 157),
    (E0 | 0x6C, "KEY_MAIL", 155),
    (E0 | 0x6D, "KEY_MEDIA", 226),
)

#: XT scancode → evdev key code, for every key above.
XT_TO_EVDEV = MappingProxyType(
    {code: code for numbers in SAME_NUMBER for code in numbers}
    | {scancode: evdev for scancode, _, evdev in OTHER_KEYS}
)


def evdev_code(scancode: int) -> int | None:
    """The evdev key code of the key at XT ``scancode``; None for a code not listed (any
    u32 a viewer sends is safe to look up)."""
    return XT_TO_EVDEV.get(scancode)
