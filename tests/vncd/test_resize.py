"""Who may resize the desktop ([source] resize) and how far ([source] max_size): the policy
alone (no I/O), then through sessions over memory streams."""

from __future__ import annotations

import numpy as np
import pytest
import trio

from protocol import Screen, SetDesktopSize
from protocol.encodings import Encoding
from protocol.encodings.pseudo import ResizeReason, ResizeStatus
from vncd.resize import DesktopResize, ViewerLayout

from .harness import ArraySource, running_hub
from .test_session import layout, next_layout, one_screen, resizing_viewer

# --- the policy, without I/O ------------------------------------------------------------


def joined(desktop: DesktopResize, view_only: bool = False) -> ViewerLayout:
    """A viewer's layout admitted to ``desktop`` (no source or bus: the policy needs neither)."""
    viewer = ViewerLayout(None, None, desktop, "viewer", lambda: None)  # type: ignore[arg-type]
    viewer.join(view_only)
    return viewer


def refusal(
    desktop: DesktopResize,
    viewer: ViewerLayout,
    size: tuple[int, int] = (300, 150),
    view_only: bool | None = None,
) -> ResizeStatus | None:
    """The policy's answer to ``viewer`` asking for ``size`` (view-only as admitted, unless
    ``view_only`` says otherwise)."""
    request = one_screen(*size)
    return desktop.refusal(viewer, request, viewer.view_only if view_only is None else view_only)


def test_any_viewer_may_resize_but_view_only_ones():
    desktop = DesktopResize("any")
    first, second, watcher = joined(desktop), joined(desktop), joined(desktop, view_only=True)
    assert refusal(desktop, first) is None
    assert refusal(desktop, second) is None
    assert refusal(desktop, watcher) == ResizeStatus.PROHIBITED
    # View-only as the session sees it now wins over how the viewer was admitted.
    assert refusal(desktop, second, view_only=True) == ResizeStatus.PROHIBITED


def test_none_refuses_everyone():
    desktop = DesktopResize("none")
    assert refusal(desktop, joined(desktop)) == ResizeStatus.PROHIBITED


def test_first_is_the_viewer_connected_longest_among_those_that_may_control():
    desktop = DesktopResize("first")
    watcher = joined(desktop, view_only=True)  # connected first, but may never resize
    first, second, third = joined(desktop), joined(desktop), joined(desktop)
    assert desktop.first() is first
    assert refusal(desktop, first) is None
    assert refusal(desktop, second) == ResizeStatus.PROHIBITED
    assert refusal(desktop, watcher) == ResizeStatus.PROHIBITED
    second.leave()
    assert refusal(desktop, third) == ResizeStatus.PROHIBITED
    first.leave()  # the next one in line takes over
    assert desktop.first() is third
    assert refusal(desktop, third) is None
    third.leave()
    watcher.leave()
    assert desktop.first() is None and desktop.viewers == []
    third.leave()  # leaving twice (a session that never got in) is harmless


def test_who_asks_is_checked_before_what_is_asked():
    desktop = DesktopResize("first")
    first, second = joined(desktop), joined(desktop)
    broken = SetDesktopSize(300, 150, [])
    assert desktop.refusal(second, broken, False) == ResizeStatus.PROHIBITED
    assert desktop.refusal(first, broken, False) == ResizeStatus.INVALID_LAYOUT


@pytest.mark.parametrize(
    ("size", "status"),
    [
        ((640, 480), None),
        ((641, 480), ResizeStatus.OUT_OF_RESOURCES),
        ((640, 481), ResizeStatus.OUT_OF_RESOURCES),
        ((100, 100), None),
    ],
)
def test_max_size_bounds_each_side(size, status):
    desktop = DesktopResize("any", (640, 480))
    assert refusal(desktop, joined(desktop), size) == status


# --- through sessions ---------------------------------------------------------------------


async def wait_for_viewers(hub, count: int) -> None:
    """Until ``count`` viewers are admitted (sessions run in their own tasks)."""
    with trio.fail_after(5):
        while len(hub.hub.resize.viewers) != count:
            await trio.sleep(0.01)


async def test_under_first_only_the_first_viewer_resizes_until_it_leaves(autojump_clock):
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        hub.hub.resize.policy = "first"
        first = await resizing_viewer(hub)
        second = await resizing_viewer(hub)
        await second.send(one_screen(300, 150))
        assert await next_layout(second) == layout(
            ResizeReason.THIS_CLIENT, ResizeStatus.PROHIBITED, (200, 120)
        )
        assert source.resizes == []
        await first.send(one_screen(320, 160))
        assert await next_layout(first) == layout(
            ResizeReason.THIS_CLIENT, ResizeStatus.OK, (320, 160)
        )
        assert await next_layout(second) == layout(
            ResizeReason.OTHER_CLIENT, ResizeStatus.OK, (320, 160)
        )
        await first.stream.aclose()
        await wait_for_viewers(hub, 1)
        await second.send(one_screen(300, 150))
        assert await next_layout(second) == layout(
            ResizeReason.THIS_CLIENT, ResizeStatus.OK, (300, 150)
        )
        assert source.resizes == [(320, 160), (300, 150)]


async def test_under_none_nobody_resizes(autojump_clock):
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        hub.hub.resize.policy = "none"
        viewer = await resizing_viewer(hub)
        await viewer.send(one_screen(300, 150))
        answer = await next_layout(viewer)
        assert (answer.reason, answer.status) == (ResizeReason.THIS_CLIENT, ResizeStatus.PROHIBITED)
        assert source.resizes == [] and viewer.conn.framebuffer_size == (200, 120)


async def test_beyond_max_size_is_out_of_resources(autojump_clock):
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        hub.hub.resize.max_size = (400, 300)
        viewer = await resizing_viewer(hub)
        await viewer.send(SetDesktopSize(401, 150, [Screen(0, 0, 0, 401, 150)]))
        assert (await next_layout(viewer)).status == ResizeStatus.OUT_OF_RESOURCES
        await viewer.send(one_screen(400, 300))
        assert (await next_layout(viewer)).status == ResizeStatus.OK
        assert source.resizes == [(400, 300)]


async def test_a_viewer_without_size_news_keeps_its_size_cropped_or_padded(autojump_clock):
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        asker = await resizing_viewer(hub)
        plain = hub.connect()
        await plain.handshake(encodings=(Encoding.RAW,))
        await plain.full_update()
        for size in [(300, 150), (100, 60)]:
            await asker.send(one_screen(*size))
            assert (await next_layout(asker)).status == ResizeStatus.OK
            await plain.full_update()
            assert plain.conn.framebuffer_size == (200, 120)
            shown = plain.framebuffer.pixels[..., :3]
            width, height = min(size[0], 200), min(size[1], 120)
            np.testing.assert_array_equal(
                shown[:height, :width], source.pixels[:height, :width, :3]
            )
            assert not shown[height:].any() and not shown[:, width:].any()  # black beyond
