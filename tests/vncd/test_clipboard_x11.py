"""The X selections as clipboard, against real X clients (xclip, xsel) on a private Xvfb."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator

import pytest
import trio

from protocol import ClientCutText
from protocol.clipboard import (
    ClipboardAction,
    ClipboardCaps,
    ClipboardFormat,
    ClipboardProvide,
    provide_text,
    provided_text,
)
from protocol.encodings import Encoding
from tests.requirements import require_programs
from vncd.sources import X11Source
from vncd.sources._xconnection import open_display
from vncd.sources.x11_clipboard import CONVERT_SECONDS, POLL_SECONDS, X11Clipboard

from ._xvfb import private_xvfb, wait_for
from .harness import running_hub
from .xclipboard import clipboard_bytes, copied, paste

TIMEOUT = 10.0
UNICODE_TEXT = "naïve café € 日本 ✓\nsecond line\n"
TEXT = ClipboardFormat.TEXT


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with private_xvfb(320, 240) as name:
        yield name


@pytest.fixture(params=["xfixes", "polling"])
def clipboard(request: pytest.FixtureRequest, display: str) -> Iterator[X11Clipboard]:
    """Both ways of noticing other clients' copies: XFixes events, and polling the owner."""
    board = X11Clipboard(open_display(display), use_xfixes=request.param == "xfixes")
    yield board
    board.close()


def pasted(display: str, *arguments: str) -> str:
    result = paste(display, *arguments)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8")


def wait_for_new_text(board: X11Clipboard, serial: int) -> str:
    wait_for(lambda: board.serial != serial, "the clipboard to change")
    return board.text


# --- a viewer's text, pasted by X clients ----------------------------------------------------


def test_x_clients_paste_a_viewers_text(display: str, clipboard: X11Clipboard) -> None:
    clipboard.set_text(UNICODE_TEXT)
    wait_for(lambda: paste(display, "-selection", "clipboard").returncode == 0, "ownership")
    assert pasted(display, "-selection", "clipboard") == UNICODE_TEXT
    assert pasted(display, "-selection", "primary") == UNICODE_TEXT
    assert pasted(display, "-selection", "clipboard", "-t", "TEXT") == UNICODE_TEXT
    latin1 = paste(display, "-selection", "clipboard", "-t", "STRING").stdout
    assert latin1 == "naïve café ? ?? ?\nsecond line\n".encode("latin-1")
    targets = pasted(display, "-selection", "clipboard", "-t", "TARGETS").split()
    assert targets == ["TARGETS", "UTF8_STRING", "STRING", "TEXT"]
    require_programs("xsel")
    xsel = subprocess.run(
        ["xsel", "--clipboard", "--output"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert xsel.stdout.decode("utf-8") == UNICODE_TEXT
    assert clipboard.text == UNICODE_TEXT  # our own ownership is not news


def test_unknown_targets_are_refused(display: str, clipboard: X11Clipboard) -> None:
    clipboard.set_text("plain")
    wait_for(lambda: paste(display, "-selection", "clipboard").returncode == 0, "ownership")
    assert paste(display, "-selection", "clipboard", "-t", "image/png").returncode != 0


def test_a_text_too_long_for_one_request_is_refused_safely(
    display: str, clipboard: X11Clipboard
) -> None:
    clipboard.set_text("short")
    wait_for(lambda: paste(display, "-selection", "clipboard").returncode == 0, "ownership")
    clipboard.set_text("x" * (1 << 20))  # python-xlib sends at most 256 KiB per request
    wait_for(lambda: paste(display, "-selection", "clipboard").returncode != 0, "a refusal")
    assert "UTF8_STRING" in pasted(display, "-selection", "clipboard", "-t", "TARGETS")
    clipboard.set_text("short again")
    wait_for(lambda: paste(display, "-selection", "clipboard").returncode == 0, "ownership")
    assert pasted(display, "-selection", "clipboard") == "short again"


# --- X clients' text, seen by vncd -----------------------------------------------------------


@pytest.mark.parametrize("program", ["xclip", "xsel"])
def test_a_copy_by_an_x_client_is_fetched(
    display: str, clipboard: X11Clipboard, program: str
) -> None:
    serial = clipboard.serial
    with copied(display, program, UNICODE_TEXT.encode("utf-8")):
        assert wait_for_new_text(clipboard, serial) == UNICODE_TEXT


def test_every_copy_is_fetched_at_once(display: str) -> None:
    """XFixes announces each copy; the answer to our conversion must not wait for the next
    event or a timeout (python-xlib may have read it already while flushing our request)."""
    board = X11Clipboard(open_display(display))
    try:
        slowest = 0.0
        for number in range(20):
            serial = board.serial
            with copied(display, "xclip", f"copy {number}".encode()):
                started = time.monotonic()
                assert wait_for_new_text(board, serial) == f"copy {number}"
                slowest = max(slowest, time.monotonic() - started)
        assert slowest < CONVERT_SECONDS / 4
    finally:
        board.close()


def test_a_latin1_only_owner_is_read_as_latin1(display: str, clipboard: X11Clipboard) -> None:
    serial = clipboard.serial
    with copied(display, "xclip", "déjà vu".encode("latin-1"), target="STRING"):
        assert wait_for_new_text(clipboard, serial) == "déjà vu"


def test_a_copy_only_sent_in_pieces_is_skipped(
    display: str, clipboard: X11Clipboard, caplog: pytest.LogCaptureFixture
) -> None:
    """xclip sends this much by INCR (ICCCM 2.7.2), which we do not do."""
    caplog.set_level(logging.INFO, logger="vncd.sources.x11_clipboard")
    serial = clipboard.serial
    with copied(display, "xclip", b"z" * (5 << 20)):
        wait_for(lambda: "too long to fetch" in caplog.text, "the copy to be skipped")
    assert clipboard.serial == serial
    # The next xclip may get the same window id; polling only notices an owner change it sees.
    time.sleep(2 * POLL_SECONDS)
    with copied(display, "xclip", b"small"):
        assert wait_for_new_text(clipboard, serial) == "small"


def test_the_viewer_and_the_desktop_take_turns(display: str, clipboard: X11Clipboard) -> None:
    clipboard.set_text("from the viewer")
    wait_for(lambda: paste(display, "-selection", "clipboard").returncode == 0, "ownership")
    serial = clipboard.serial
    with copied(display, "xclip", b"from the desktop"):
        assert wait_for_new_text(clipboard, serial) == "from the desktop"
        assert pasted(display, "-selection", "clipboard") == "from the desktop"
        clipboard.set_text("the viewer again")
        wait_for(
            lambda: paste(display, "-selection", "clipboard").stdout == b"the viewer again",
            "the viewer's text",
        )


def test_closing_gives_the_selections_up(display: str) -> None:
    board = X11Clipboard(open_display(display))
    board.set_text("soon gone")
    wait_for(lambda: paste(display, "-selection", "clipboard").returncode == 0, "ownership")
    board.close()
    board.close()  # idempotent
    wait_for(lambda: paste(display, "-selection", "clipboard").returncode != 0, "no owner")


def test_the_x11_source_exposes_the_clipboard(display: str) -> None:
    with X11Source(display) as source:
        serial = source.clipboard_serial
        source.set_clipboard("through the source")
        assert source.clipboard_serial != serial
        assert source.get_clipboard() == "through the source"
        wait_for(lambda: paste(display, "-selection", "clipboard").returncode == 0, "ownership")
        assert pasted(display, "-selection", "clipboard") == "through the source"
        serial = source.clipboard_serial
        with copied(display, "xsel", b"copied on the desktop"):
            wait_for(lambda: source.clipboard_serial != serial, "the desktop's copy")
            assert source.get_clipboard() == "copied on the desktop"


# --- through a session --------------------------------------------------------------------


async def test_viewers_and_x_clients_share_the_clipboard(display: str) -> None:
    source = await trio.to_thread.run_sync(X11Source, display)
    try:
        async with running_hub(source) as hub:
            viewer = hub.connect()
            await viewer.handshake()
            await viewer.send(ClientCutText("from the viewer, café\r\n"))
            want = "from the viewer, café\n".encode()
            with trio.fail_after(TIMEOUT):
                while await trio.to_thread.run_sync(clipboard_bytes, display) != want:
                    await trio.sleep(0.02)
            with copied(display, "xsel", "from X: ✓ ok".encode()):
                assert await viewer.next_cut_text() == "from X: ? ok"
            assert viewer.cut_texts == []
    finally:
        source.close()


async def test_an_extended_viewer_and_x_clients_share_any_text_within_a_second(
    display: str,
) -> None:
    source = await trio.to_thread.run_sync(X11Source, display)
    try:
        async with running_hub(source) as hub:
            viewer = hub.connect()
            await viewer.handshake(encodings=(Encoding.RAW, Encoding.EXTENDED_CLIPBOARD))
            await viewer.send(ClipboardCaps({TEXT: 1 << 20}, ClipboardAction.PROVIDE))
            await viewer.send(provide_text(UNICODE_TEXT))
            with trio.fail_after(TIMEOUT):
                while (
                    await trio.to_thread.run_sync(clipboard_bytes, display) != UNICODE_TEXT.encode()
                ):
                    await trio.sleep(0.02)
            with copied(display, "xsel", "from X: мир ✓".encode()):
                with trio.fail_after(1.0):
                    while not isinstance(event := await viewer.next_message(), ClipboardProvide):
                        pass
            assert provided_text(event) == "from X: мир ✓"
    finally:
        source.close()
