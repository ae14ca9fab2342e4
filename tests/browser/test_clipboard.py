"""noVNC's Extended Clipboard against vncd serving a real Xvfb: text outside Latin-1 goes both
ways between the page's clipboard box and X clients (xclip), over Notify, Request and Provide
(read from the page's recorded RFB conversation); another page gets what one page sends; a
view-only page receives the desktop's clipboard but cannot set it."""

from __future__ import annotations

import time

import pytest

from protocol import ClientCutText, ServerCutText
from protocol.clipboard import (
    EVENTS,
    ClipboardAction,
    ClipboardCaps,
    ClipboardFormat,
    ClipboardNotify,
    ClipboardProvide,
    ClipboardRequest,
    provided_text,
)
from tests.interop.vncd_process import x11_source
from tests.requirements import unavailable
from tests.vncd.xclipboard import clipboard_bytes, copied

from .client import open_client, wait_for_state
from .wire import record_rfb, recording

try:
    from playwright.sync_api import Page, expect
except ImportError:  # ./scripts/test installs it
    unavailable("playwright is not installed (./scripts/test installs it)")

pytestmark = pytest.mark.browser

TEXT = ClipboardFormat.TEXT
#: The actions vncd and noVNC both take (caps is implied).
ALL_ACTIONS = (
    ClipboardAction.REQUEST
    | ClipboardAction.PEEK
    | ClipboardAction.NOTIFY
    | ClipboardAction.PROVIDE
)
FROM_DESKTOP = "Grüße, мир, 東京 ✓\nfrom the desktop"
FROM_PAGE = "Grüße, мир, 東京 ✓\nfrom the page"
TIMEOUT = 10.0


def clipboard_box(page: Page):
    """The page's clipboard box, its panel opened (a click on an open one would close it)."""
    box = page.get_by_label("Remote clipboard")
    if not box.is_visible():
        page.get_by_text("Clipboard", exact=True).click()
    return box


def send_from_page(page: Page, text: str) -> None:
    clipboard_box(page).fill(text)
    page.get_by_role("button", name="Send to remote").click()


def wait_for_desktop_clipboard(display: str, text: str, timeout: float = TIMEOUT) -> str:
    """What an X client pastes, once it is ``text`` or the time is up."""
    deadline = time.monotonic() + timeout
    while (pasted := clipboard_bytes(display).decode()) != text and time.monotonic() < deadline:
        time.sleep(0.1)
    return pasted


def clipboard_messages(page: Page) -> list[tuple[bool, object]]:
    """The clipboard messages of the page's RFB conversation: (sent by the page, event)."""
    return [
        (message.from_viewer, message.event)
        for message in recording(page).messages
        if isinstance(message.event, (ClientCutText, ServerCutText, *EVENTS))
    ]


def test_non_latin_text_goes_both_ways_between_novnc_and_x(xvfb, vncd, page: Page):
    server = vncd(x11_source(xvfb))
    record_rfb(page)
    open_client(page, server.url())
    wait_for_state(page, "connected")
    box = clipboard_box(page)

    with copied(xvfb, "xclip", FROM_DESKTOP.encode()):
        expect(box).to_have_value(FROM_DESKTOP, timeout=TIMEOUT * 1000)
        send_from_page(page, FROM_PAGE)
        assert wait_for_desktop_clipboard(xvfb, FROM_PAGE) == FROM_PAGE

    messages = clipboard_messages(page)
    provides = [event for _, event in messages if isinstance(event, ClipboardProvide)]
    assert [provided_text(event) for event in provides] == [FROM_DESKTOP, FROM_PAGE]
    # Caps both ways, then each copy: Notify from its owner, Request, Provide by the owner.
    without_data = [(sent, event) for sent, event in messages if event not in provides]
    assert without_data[:2] == [
        (False, ClipboardCaps({TEXT: 1 << 20}, ALL_ACTIONS)),  # vncd: text up to 1 MiB
        (True, ClipboardCaps({TEXT: 0}, ALL_ACTIONS)),  # noVNC: nothing unasked
    ]
    assert without_data[2:] == [
        (False, ClipboardNotify(TEXT)),
        (True, ClipboardRequest(TEXT)),
        (True, ClipboardNotify(TEXT)),
        (False, ClipboardRequest(TEXT)),
    ]
    assert [sent for sent, event in messages if event in provides] == [False, True]


def test_text_from_one_page_reaches_another(xvfb, vncd, page: Page):
    server = vncd(x11_source(xvfb))
    other = page.context.browser.new_context().new_page()
    try:
        for each in (page, other):
            open_client(each, server.url())
            wait_for_state(each, "connected")
        send_from_page(page, FROM_PAGE)
        expect(clipboard_box(other)).to_have_value(FROM_PAGE, timeout=TIMEOUT * 1000)
        assert wait_for_desktop_clipboard(xvfb, FROM_PAGE) == FROM_PAGE
    finally:
        other.context.close()


def test_a_view_only_page_receives_but_cannot_set_the_clipboard(xvfb, vncd, page: Page):
    """The view-only password, with noVNC's own view-only mode off: the page does send its
    text, and vncd does not take it."""
    server = vncd('password = "s3cret"\nview_only_password = "look"\n' + x11_source(xvfb))
    open_client(page, server.url(), password="look")
    wait_for_state(page, "connected")
    box = clipboard_box(page)
    with copied(xvfb, "xclip", FROM_DESKTOP.encode()):
        expect(box).to_have_value(FROM_DESKTOP, timeout=TIMEOUT * 1000)
        send_from_page(page, FROM_PAGE)
        time.sleep(2)  # ample time for a paste that should never come
        assert clipboard_bytes(xvfb).decode() == FROM_DESKTOP
