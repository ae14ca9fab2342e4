"""The Extended Clipboard through sessions (memory streams): caps after SetEncodings, Notify or
Provide on a desktop change, answers to Request, Peek and Notify, a viewer's Provide reaching
the desktop and the other viewers, the cut-text limit, view-only viewers and bad messages."""

from __future__ import annotations

import logging
import struct
import zlib

import pytest
import trio

from protocol import ClientCutText, Event, ServerCutText, SetEncodings
from protocol.clipboard import (
    EVENTS,
    ClipboardAction,
    ClipboardCaps,
    ClipboardFormat,
    ClipboardNotify,
    ClipboardPeek,
    ClipboardProvide,
    ClipboardRequest,
    provide_text,
    provided_text,
)
from protocol.encodings import Encoding
from vncd.clipboard import OUR_ACTIONS, POLL_SECONDS
from vncd.policy import ViewerPolicy

from .harness import ArraySource, running_hub
from .viewer import Viewer

TEXT = ClipboardFormat.TEXT
REQUEST, PEEK = ClipboardAction.REQUEST, ClipboardAction.PEEK
NOTIFY, PROVIDE = ClipboardAction.NOTIFY, ClipboardAction.PROVIDE
EXTENDED = (Encoding.RAW, Encoding.EXTENDED_CLIPBOARD)
#: What noVNC 1.7 answers our caps with: text, nothing unasked, every action.
NOVNC_CAPS = ClipboardCaps({TEXT: 0}, REQUEST | PEEK | NOTIFY | PROVIDE)
UNICODE = "Grüße, мир, 東京 ✓\nline 2"


async def next_clipboard(viewer: Viewer, timeout: float = 10.0) -> Event:
    """The next clipboard message from the server (extended, or classic cut text)."""
    with trio.fail_after(timeout):
        while True:
            event = await viewer.next_message()
            if isinstance(event, EVENTS):
                return event
            if isinstance(event, ServerCutText):
                return viewer.cut_texts.pop()


async def extended_viewer(hub, caps: ClipboardCaps | None = NOVNC_CAPS, **handshake) -> Viewer:
    """A viewer that advertised the Extended Clipboard, got our caps and (unless None) sent
    ``caps`` back, as noVNC and TigerVNC's viewer do."""
    viewer = hub.connect()
    await viewer.handshake(encodings=EXTENDED, **handshake)
    limit = hub.hub.access.max_cut_text
    assert await next_clipboard(viewer) == ClipboardCaps({TEXT: limit}, OUR_ACTIONS)
    if caps is not None:
        await viewer.send(caps)
    await viewer.full_update()  # a round trip: the session has the caps and is serving
    return viewer


async def no_clipboard(viewer: Viewer) -> None:
    """A round trip brings no clipboard message."""
    await viewer.full_update()
    assert viewer.cut_texts == []
    with trio.move_on_after(0.5):
        event = await next_clipboard(viewer)
        raise AssertionError(f"unexpected {event}")


# --- caps --------------------------------------------------------------------------------


async def test_caps_follow_each_set_encodings_that_names_the_extension(autojump_clock):
    source = ArraySource()
    async with running_hub(source, max_cut_text=5000) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=EXTENDED)
        caps = await next_clipboard(viewer)
        assert caps == ClipboardCaps({TEXT: 5000}, REQUEST | PEEK | NOTIFY | PROVIDE)
        await viewer.send(SetEncodings(EXTENDED))
        assert await next_clipboard(viewer) == caps
        await viewer.send(SetEncodings((Encoding.RAW,)))  # the extension stays on (rfbproto)
        await no_clipboard(viewer)
        classic = hub.connect()
        await classic.handshake()
        await no_clipboard(classic)


# --- desktop to viewer ---------------------------------------------------------------------


async def test_desktop_text_is_announced_then_provided_on_request(autojump_clock):
    """noVNC's way: its caps take no text unasked, so a copy is a Notify; it asks, and gets
    the text as UTF-8 with CRLF line ends."""
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = await extended_viewer(hub)
        source.copy(UNICODE)
        assert await next_clipboard(viewer) == ClipboardNotify(TEXT)
        await viewer.send(ClipboardRequest(TEXT))
        provide = await next_clipboard(viewer)
        assert provide == ClipboardProvide({TEXT: "Grüße, мир, 東京 ✓\r\nline 2\0".encode()})
        assert provided_text(provide) == UNICODE


async def test_text_goes_unasked_where_the_viewers_caps_take_that_much(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        roomy = await extended_viewer(hub, ClipboardCaps({TEXT: 100}, NOTIFY | PROVIDE))
        small = await extended_viewer(hub, ClipboardCaps({TEXT: 10}, NOTIFY | PROVIDE))
        silent = await extended_viewer(hub, caps=None)  # rfbproto: 20 MiB of text unasked
        source.copy(UNICODE)
        assert await next_clipboard(roomy) == provide_text(UNICODE)
        assert await next_clipboard(small) == ClipboardNotify(TEXT)
        assert await next_clipboard(silent) == provide_text(UNICODE)


async def test_a_viewer_whose_caps_take_no_text_gets_classic_cut_text(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = await extended_viewer(hub, ClipboardCaps({}, NOTIFY | PROVIDE))
        source.copy(UNICODE)
        assert await next_clipboard(viewer) == "Grüße, ???, ?? ?\nline 2"


async def test_extended_and_classic_viewers_each_get_their_form(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        extended = await extended_viewer(hub, ClipboardCaps({TEXT: 1000}, PROVIDE))
        classic = hub.connect()
        await classic.handshake()
        await classic.full_update()
        source.copy(UNICODE)
        assert await next_clipboard(extended) == provide_text(UNICODE)
        assert await classic.next_cut_text() == "Grüße, ???, ?? ?\nline 2"


async def test_peek_is_answered_with_notify(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = await extended_viewer(hub)
        await viewer.send(ClipboardPeek())
        assert await next_clipboard(viewer) == ClipboardNotify(0)  # nothing copied yet
        source.copy("now")
        assert await next_clipboard(viewer) == ClipboardNotify(TEXT)
        await viewer.send(ClipboardPeek())
        assert await next_clipboard(viewer) == ClipboardNotify(TEXT)


async def test_requests_and_peeks_the_caps_rule_out_go_unanswered(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = await extended_viewer(hub, ClipboardCaps({TEXT: 0}, 0))
        source.copy("copied")
        assert await next_clipboard(viewer) == "copied"  # neither Notify nor Provide taken
        await viewer.send(ClipboardPeek(), ClipboardRequest(TEXT))
        await no_clipboard(viewer)


# --- viewer to desktop ---------------------------------------------------------------------


async def test_a_viewers_notify_is_requested_and_its_provide_reaches_everyone(autojump_clock):
    """noVNC's paste: Notify, our Request, its Provide; the desktop gets the text with bare
    newlines, another extended viewer a Notify, a classic one Latin-1."""
    source = ArraySource()
    async with running_hub(source) as hub:
        sender, other = await extended_viewer(hub), await extended_viewer(hub)
        classic = hub.connect()
        await classic.handshake()
        await classic.full_update()
        await sender.send(ClipboardNotify(TEXT))
        assert await next_clipboard(sender) == ClipboardRequest(TEXT)
        await sender.send(provide_text("Grüße, мир, 東京 ✓\r\nline 2"))
        assert await next_clipboard(other) == ClipboardNotify(TEXT)
        assert await classic.next_cut_text() == "Grüße, ???, ?? ?\nline 2"
        assert source.clipboard_sets == [UNICODE]
        await other.send(ClipboardRequest(TEXT))
        assert provided_text(await next_clipboard(other)) == UNICODE
        await trio.sleep(3 * POLL_SECONDS)  # the desktop watcher sees the serial move too
        await no_clipboard(sender)


async def test_unsolicited_provide_and_classic_text_both_reach_the_desktop(autojump_clock):
    """TigerVNC's viewer sends Provide unasked when our caps take that much."""
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = await extended_viewer(hub)
        await viewer.send(provide_text("unasked ✓"))
        await viewer.send(ClientCutText("classic, café"))  # still legal with the extension
        await viewer.full_update()
        assert source.clipboard_sets == ["unasked ✓", "classic, café"]


async def test_notify_without_text_asks_for_nothing(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = await extended_viewer(hub)
        await viewer.send(ClipboardNotify(ClipboardFormat.HTML))
        await viewer.send(ClipboardProvide({ClipboardFormat.HTML: b"<b>x</b>"}))
        await no_clipboard(viewer)
        assert source.clipboard_sets == []


async def test_view_only_viewers_get_the_clipboard_but_cannot_set_it(autojump_clock):
    source = ArraySource()
    async with running_hub(source, password="secret", view_only_password="look") as hub:
        watcher = await extended_viewer(hub, password="look")
        await watcher.send(ClipboardNotify(TEXT))
        await watcher.send(provide_text("not allowed"))
        await watcher.send(ClientCutText("not allowed either"))
        await no_clipboard(watcher)
        assert source.clipboard_sets == []
        source.copy("visible")
        assert await next_clipboard(watcher) == ClipboardNotify(TEXT)
        await watcher.send(ClipboardRequest(TEXT))
        assert provided_text(await next_clipboard(watcher)) == "visible"


async def test_a_viewers_copy_counts_as_activity(autojump_clock):
    source = ArraySource()
    policy = ViewerPolicy(idle_timeout=10.0)
    async with running_hub(source, policy) as hub:
        viewer = await extended_viewer(hub)
        await trio.sleep(8)
        await viewer.send(ClipboardNotify(TEXT))
        assert await next_clipboard(viewer) == ClipboardRequest(TEXT)
        await trio.sleep(8)  # 16 s in, 8 s after the copy: still there
        await viewer.full_update()
        await trio.sleep(4)
        with trio.fail_after(1):
            while await viewer.stream.receive_some(65536):
                pass  # closed: idle for 10 s since the copy


# --- limits and bad messages ---------------------------------------------------------------


async def test_text_over_the_limit_is_not_sent_in_the_form_it_exceeds(autojump_clock):
    """10 bytes: 'é' * 4 is 4 Latin-1 bytes but 9 bytes of extended text (with the NUL)."""
    source = ArraySource()
    async with running_hub(source, max_cut_text=8) as hub:
        extended = await extended_viewer(hub, ClipboardCaps({TEXT: 100}, NOTIFY | PROVIDE))
        classic = hub.connect()
        await classic.handshake()
        await classic.full_update()
        source.copy("é" * 4)
        assert await classic.next_cut_text() == "é" * 4
        await no_clipboard(extended)
        await extended.send(ClipboardRequest(TEXT))
        await no_clipboard(extended)
        source.copy("ok ✓")  # 7 bytes and the NUL
        assert await next_clipboard(extended) == provide_text("ok ✓")
        assert await classic.next_cut_text() == "ok ?"


def provide_inflating_to(size: int) -> bytes:
    """A ClientCutText carrying a Provide whose text claims ``size`` bytes: a few hundred
    bytes of zlib (rfbproto 'Extended Clipboard': S32 length -n, flags, zlib data)."""
    data = zlib.compress(struct.pack(">I", size) + b"x" * size)
    body = struct.pack(">I", PROVIDE | TEXT) + data
    return struct.pack(">B3xi", 6, -len(body)) + body


async def test_a_provide_over_the_limit_is_dropped_with_one_log_line(autojump_clock, caplog):
    caplog.set_level(logging.INFO, logger="vncd")
    source = ArraySource()
    async with running_hub(source, max_cut_text=1000) as hub:
        viewer = await extended_viewer(hub)
        await viewer.stream.send_all(provide_inflating_to(1001))  # with the NUL, 1 too many
        await viewer.full_update()  # still served
        assert source.clipboard_sets == []
        dropped = [r.getMessage() for r in caplog.records if "dropped a Provide" in r.message]
        assert len(dropped) == 1 and "limits.max_cut_text" in dropped[0]
        await viewer.stream.send_all(provide_inflating_to(1000))  # exactly the limit
        await viewer.full_update()
        assert source.clipboard_sets == ["x" * 1000]
        assert hub.hub.sessions


@pytest.mark.parametrize(
    "body",
    [
        struct.pack(">I", REQUEST | NOTIFY),  # two actions at once
        struct.pack(">I", PROVIDE | TEXT) + b"not zlib",
        b"\0\0",  # no flags word
    ],
    ids=["two-actions", "bad-zlib", "no-flags"],
)
async def test_a_malformed_message_drops_only_its_viewer(autojump_clock, caplog, body):
    caplog.set_level(logging.INFO, logger="vncd")
    source = ArraySource()
    async with running_hub(source) as hub:
        bad, good = await extended_viewer(hub), await extended_viewer(hub)
        await bad.stream.send_all(struct.pack(">B3xi", 6, -len(body)) + body)
        with trio.fail_after(5):
            while await bad.stream.receive_some(65536):
                pass
        assert "protocol error" in caplog.text
        await good.send(provide_text("still here"))
        await good.full_update()
        assert source.clipboard_sets == ["still here"]
