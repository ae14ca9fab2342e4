"""noVNC's remote resize against vncd serving its own Xvfb: the Xvfb's screen takes the page's
size (xdpyinfo says so), another page sees that size, and ``[source] resize = "first"`` keeps
a later page from changing it."""

from __future__ import annotations

import pytest

from tests.interop.test_remote_resize import (
    START,
    served_display,
    wait_for_screen,
    xvfb_source,
)
from tests.requirements import unavailable
from tests.vncd._xvfb import wait_for
from tests.vncd.test_resize_x11 import dimensions

from .client import open_client, wait_for_state
from .test_web_client import remote_and_screen_sizes, wait_for_remote_size_to_fill_the_page

try:
    from playwright.sync_api import Browser, Page
except ImportError:  # ./scripts/test installs it
    unavailable("playwright is not installed (./scripts/test installs it)")

pytestmark = pytest.mark.browser


def other_page(browser: Browser, viewport: tuple[int, int]) -> Page:
    """A second viewer: a page in a context of its own (no settings shared with the first)."""
    width, height = viewport
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


def remote_size(page: Page) -> tuple[int, int]:
    return tuple(remote_and_screen_sizes(page)[0])


def test_novnc_resizes_the_xvfb_and_another_page_sees_it(vncd, page: Page, browser: Browser):
    server = vncd(xvfb_source("any"))
    display = served_display(server)
    assert dimensions(display) == START
    open_client(page, server.url(), resize=1)
    wait_for_state(page, "connected")
    first = tuple(wait_for_remote_size_to_fill_the_page(page))
    assert first != START
    wait_for_screen(display, first)

    page.set_viewport_size({"width": 900, "height": 700})
    second = tuple(wait_for_remote_size_to_fill_the_page(page))
    assert second != first
    wait_for_screen(display, second)

    watcher = other_page(browser, (1200, 900))
    try:
        open_client(watcher, server.url(), resize=0)
        wait_for_state(watcher, "connected")
        wait_for(lambda: remote_size(watcher) == second, "the second page to show the new size")
        page.set_viewport_size({"width": 800, "height": 600})
        third = tuple(wait_for_remote_size_to_fill_the_page(page))
        wait_for_screen(display, third)
        wait_for(lambda: remote_size(watcher) == third, "the second page to follow")
    finally:
        watcher.context.close()


def test_under_first_a_later_page_cannot_resize(vncd, page: Page, browser: Browser):
    server = vncd(xvfb_source("first"))
    display = served_display(server)
    open_client(page, server.url(), resize=1)
    wait_for_state(page, "connected")
    size = tuple(wait_for_remote_size_to_fill_the_page(page))
    wait_for_screen(display, size)

    later = other_page(browser, (800, 600))
    try:
        open_client(later, server.url(), resize=1)
        wait_for_state(later, "connected")
        wait_for(
            lambda: "PROHIBITED" in server.log_path.read_text(), "vncd to refuse the later page"
        )
        assert dimensions(display) == size
        assert remote_size(later) == size  # it shows the desktop as the first page made it
    finally:
        later.context.close()
