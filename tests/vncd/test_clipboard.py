"""The clipboard bus, the RFB text conversions and the demo desktop's clipboard."""

from __future__ import annotations

import numpy as np
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ServerCutText
from vncd import keysyms
from vncd.clipboard import POLL_SECONDS, ClipboardBus, ViewerClipboard, from_viewer, to_viewer
from vncd.frames import Wakeup
from vncd.sources import DemoSource
from vncd.sources.demo import PASTE_SHOWN

from .sourcekit import changed_box, press, type_text

WIDTH, HEIGHT = 800, 600
PAD_RIGHT = WIDTH * 2 // 5 + 20  # the text pad is the left two fifths of the body


# --- conversions ----------------------------------------------------------------------------


def test_to_viewer_replaces_what_latin1_lacks_and_drops_carriage_returns():
    assert to_viewer("café € 日本\r\nnext\rline") == "café ? ??\nnext\rline"


def test_from_viewer_drops_carriage_returns_before_newlines():
    assert from_viewer("one\r\ntwo\nthree\r") == "one\ntwo\nthree\r"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_to_viewer_always_gives_wire_text(text: str) -> None:
    wire = to_viewer(text)
    wire.encode("latin-1")  # ServerCutText carries Latin-1 (rfbproto 7.6.4)
    assert "\r\n" not in wire
    assert len(wire) == len(text) - text.count("\r\n")


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(max_codepoint=0xFF, exclude_characters="\r")))
def test_latin1_text_passes_unchanged(text: str) -> None:
    assert to_viewer(text) == text == from_viewer(text)


# --- the bus --------------------------------------------------------------------------------


def viewer(bus: ClipboardBus, wakeup: Wakeup | None = None) -> ViewerClipboard:
    return ViewerClipboard(bus, wakeup or Wakeup(), "test viewer")


def joined(bus: ClipboardBus) -> ViewerClipboard:
    inbox = viewer(bus)
    bus.join(inbox)
    return inbox


def take(inbox: ViewerClipboard) -> str | None:
    """The classic cut text waiting for a viewer without the Extended Clipboard, if any."""
    match inbox.take(extended=False):
        case []:
            return None
        case [ServerCutText(text=text)]:
            return text
    raise AssertionError("one ServerCutText at most")


def test_viewer_text_goes_to_the_desktop_and_the_other_inboxes_only() -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    bus = ClipboardBus(demo, max_text=1000)
    sender, other, gone = joined(bus), joined(bus), joined(bus)
    bus.leave(gone)
    bus.set_from_viewer("pasted\r\ntext", sender)
    assert demo.get_clipboard() == "pasted\ntext"
    assert (take(sender), take(other), take(gone)) == (None, "pasted\ntext", None)
    bus.check()  # the serial moved because of the viewer: nothing new for anyone
    assert not sender.pending and not other.pending
    assert bus.statistics().from_viewers == 1 and bus.statistics().viewers == 2


def test_a_viewers_own_text_replaces_what_was_waiting_for_it() -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    bus = ClipboardBus(demo, max_text=1000)
    inbox = joined(bus)
    type_text(demo, "desktop")
    press(demo, keysyms.CONTROL_L, ord("c"))
    bus.check()
    assert inbox.pending
    bus.set_from_viewer("newer", inbox)
    assert take(inbox) is None


def test_desktop_changes_coalesce_and_the_latest_wins() -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    bus = ClipboardBus(demo, max_text=1000)
    inbox = joined(bus)
    for word in ("first", "second"):
        press(demo, keysyms.RETURN)
        type_text(demo, word)
        press(demo, keysyms.CONTROL_R, ord("C"))
        bus.check()
    assert take(inbox) == "second"
    assert take(inbox) is None
    assert bus.statistics().from_desktop == 2


async def test_the_writer_is_woken_when_text_arrives() -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    bus = ClipboardBus(demo, max_text=1000)
    wakeup = Wakeup()
    bus.join(viewer(bus, wakeup))
    bus.set_from_viewer("x", viewer(bus))
    with trio.fail_after(1):
        await wakeup.wait()


async def test_run_publishes_desktop_changes_within_a_poll(
    autojump_clock: trio.testing.MockClock,
) -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    bus = ClipboardBus(demo, max_text=1000)
    wakeup = Wakeup()
    inbox = viewer(bus, wakeup)
    bus.join(inbox)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        await trio.sleep(1)
        assert not inbox.pending  # nothing changed: nothing sent
        type_text(demo, "copied")
        press(demo, keysyms.CONTROL_L, ord("c"))
        started = trio.current_time()
        await wakeup.wait()
        assert trio.current_time() - started <= POLL_SECONDS
        assert take(inbox) == "copied"
        nursery.cancel_scope.cancel()


# --- the demo desktop -----------------------------------------------------------------------


def test_demo_shows_pasted_text_in_the_pad() -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    serial = demo.clipboard_serial
    before = demo.capture()
    demo.set_clipboard("Pasted\ttext\nsecond line")
    box = changed_box(before, demo.capture())
    assert box is not None and box[2] <= PAD_RIGHT
    assert demo.get_clipboard() == "Pasted\ttext\nsecond line"
    assert demo.clipboard_serial != serial
    # The same text typed on a fresh desktop draws the same pad.
    typed = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    type_text(typed, "Pasted")
    press(typed, keysyms.TAB)
    type_text(typed, "text")
    press(typed, keysyms.RETURN)
    type_text(typed, "second line")
    assert np.array_equal(typed.capture(), demo.capture())


def test_demo_types_only_the_end_of_a_long_paste() -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    demo.set_clipboard("x" * 100_000 + "\nlast")
    tail = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    tail.set_clipboard("x" * (PASTE_SHOWN - 5) + "\nlast")
    assert np.array_equal(tail.capture(), demo.capture())
    assert len(demo.get_clipboard()) == 100_005


def test_ctrl_c_copies_the_last_line_of_text() -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    serial = demo.clipboard_serial
    press(demo, keysyms.CONTROL_L, ord("c"))  # nothing typed yet: nothing to copy
    assert demo.clipboard_serial == serial
    type_text(demo, "first line")
    press(demo, keysyms.RETURN)
    type_text(demo, "second line")
    press(demo, keysyms.RETURN)
    before = demo.capture()
    press(demo, keysyms.CONTROL_L, ord("c"))
    assert demo.get_clipboard() == "second line"
    assert demo.clipboard_serial != serial
    assert np.array_equal(before, demo.capture())  # Ctrl+C types nothing


def test_other_control_chords_type_nothing_and_plain_c_types() -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    before = demo.capture()
    press(demo, keysyms.CONTROL_R, ord("v"))
    assert np.array_equal(before, demo.capture())
    press(demo, ord("c"))
    assert changed_box(before, demo.capture()) is not None
    assert demo.clipboard_serial == 0


class CountingSource(DemoSource):
    """A demo desktop that counts how often its clipboard serial is read."""

    reads = 0

    @property
    def clipboard_serial(self) -> int:
        self.reads += 1
        return super().clipboard_serial


async def test_nothing_is_polled_while_no_viewer_is_there(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No viewer, no work: the desktop's clipboard is not read until one joins, and what it
    copied meanwhile is not news to the viewer that joins."""
    demo = CountingSource((WIDTH, HEIGHT), clock=lambda: 0.0)
    bus = ClipboardBus(demo, max_text=1000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        reads = demo.reads
        type_text(demo, "unseen")
        press(demo, keysyms.CONTROL_L, ord("c"))
        await trio.sleep(60)
        assert demo.reads == reads
        inbox = joined(bus)
        await trio.sleep(1)
        assert demo.reads >= 1 / POLL_SECONDS and not inbox.pending
        nursery.cancel_scope.cancel()
