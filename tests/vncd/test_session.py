"""Sessions over in-memory streams: handshakes, updates, input, slow and broken viewers."""

from __future__ import annotations

import numpy as np
import pytest
import trio

from protocol import (
    ClientCutText,
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    KeyEvent,
    PixelFormat,
    PointerEvent,
    Screen,
    SetDesktopSize,
    SetPixelFormat,
)
from protocol._pixelformat import quantise
from protocol.encodings import ENCODERS, Encoding
from protocol.encodings.pseudo import ResizeReason, ResizeStatus, ScreenLayout, screen_layout
from tests.protocol.roundtrip import psnr
from vncd.clipboard import POLL_SECONDS
from vncd.fences import FenceFlag
from vncd.resize import MAX_DESKTOP_SIDE
from vncd.sources.base import SourceError
from vncd.sources.demo import DemoSource
from vncd.updates import offered_encodings

from .harness import ArraySource, running_hub, same_pixels


@pytest.mark.parametrize("version", [(3, 3), (3, 7), (3, 8)])
async def test_full_update_is_pixel_exact(version):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = hub.connect()
        init = await viewer.handshake(version=version)
        assert (init.width, init.height, init.name) == (200, 120, "test desktop")
        await viewer.full_update()
        assert same_pixels(viewer.framebuffer, source)


async def test_one_pixel_change_is_delivered_and_nothing_else(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake()
        await viewer.full_update()
        await viewer.request(incremental=True)
        # A virtual second (200 polls): the clock jumps.
        await viewer.assert_no_update(1, "an unchanged screen produced an update")
        source.pixels[57, 133] ^= np.array([1, 0, 0, 0], dtype=np.uint8)
        update = await viewer.next_update()
        [rectangle] = update.rectangles
        assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (133, 57, 1, 1)
        assert same_pixels(viewer.framebuffer, source)


async def test_changes_between_requests_coalesce():
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake()
        await viewer.full_update()
        for value in range(5):
            source.pixels[10:20, 10:20] = value
            await trio.sleep(0.05)
        await viewer.request()
        await viewer.next_update()
        assert same_pixels(viewer.framebuffer, source)


async def assert_full_update_in(pixel_format: PixelFormat) -> None:
    """A viewer that asks for ``pixel_format`` gets the desktop in it, exactly."""
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake()
        await viewer.send(SetPixelFormat(pixel_format))
        await viewer.full_update()
        want = quantise(source.pixels, pixel_format)
        np.testing.assert_array_equal(viewer.framebuffer.pixels[..., :3], want[..., :3])


async def test_pixel_format_change_is_honoured():
    await assert_full_update_in(PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0))  # RGB565


async def test_wrong_password_is_refused_and_view_only_password_cannot_inject():
    source = ArraySource()
    async with running_hub(source, password="secret", view_only_password="look") as hub:
        result = await hub.connect().handshake(password="wrong")
        assert not result.ok and "authentication failed" in result.reason

        viewer = hub.connect()
        await viewer.handshake(password="look")
        await viewer.send(KeyEvent(True, 0x61), PointerEvent(1, 5, 5))
        await viewer.full_update()
        assert source.keys == [] and source.pointer == []

        viewer = hub.connect()
        await viewer.handshake(password="secret")
        await viewer.send(KeyEvent(True, 0x61), PointerEvent(1, 500, 5))
        await viewer.full_update()
        assert source.keys == [(0x61, True)]
        assert source.pointer == [(199, 5, 1)]  # clipped to the desktop


async def test_held_keys_and_buttons_are_released_when_the_viewer_leaves():
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake()
        await viewer.send(KeyEvent(True, 0xFFE1), KeyEvent(True, 0x41), KeyEvent(False, 0x41))
        await viewer.send(PointerEvent(0b101, 30, 40))
        await viewer.full_update()
        await viewer.stream.aclose()
        with trio.fail_after(5):
            while source.keys[-1] != (0xFFE1, False):
                await trio.sleep(0.01)
        assert source.keys == [(0xFFE1, True), (0x41, True), (0x41, False), (0xFFE1, False)]
        assert source.pointer == [(30, 40, 0b101), (30, 40, 0)]


async def test_a_viewer_that_never_reads_does_not_stall_the_others():
    source = ArraySource(640, 480)
    async with running_hub(source) as hub:
        stuck = hub.connect(lockstep=True)
        await stuck.handshake()
        await stuck.request(incremental=False)  # the answer is never read
        lively = hub.connect()
        await lively.handshake()
        await lively.full_update()
        for value in range(10):
            source.pixels[:100, :100] = value * 20
            await lively.request()
            await lively.next_update()
            assert same_pixels(lively.framebuffer, source)
        assert hub.hub.bus.statistics().frames_changed >= 10


async def test_garbage_from_one_viewer_closes_only_that_viewer():
    source = ArraySource()
    async with running_hub(source) as hub:
        good = hub.connect()
        await good.handshake()
        bad = hub.connect()
        await bad.handshake()
        await bad.stream.send_all(b"\x63garbage")
        with trio.fail_after(5):
            assert await bad.stream.receive_some(100) == b""  # closed by the server
        await good.full_update()
        assert same_pixels(good.framebuffer, source)


async def test_exclusive_viewer_disconnects_the_others():
    source = ArraySource()
    async with running_hub(source) as hub:
        first = hub.connect()
        await first.handshake()
        second = hub.connect()
        await second.handshake(shared=False)
        with trio.fail_after(5):
            assert await first.stream.receive_some(100) == b""
        await second.full_update()


async def test_max_connections_refuses_the_extra_viewer():
    source = ArraySource()
    async with running_hub(source, max_connections=1) as hub:
        first = hub.connect()
        await first.handshake()
        extra = hub.connect()
        with pytest.raises(Exception, match="too many connections"):
            await extra.handshake()


async def test_desktop_size_change_reaches_viewers_that_support_it():
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(Encoding.RAW, Encoding.DESKTOP_SIZE))
        await viewer.full_update()
        source.pixels = np.full((150, 300, 4), 77, dtype=np.uint8)
        await viewer.request()
        update = await viewer.next_update()
        assert update.rectangles[0].encoding == Encoding.DESKTOP_SIZE
        assert (viewer.framebuffer.width, viewer.framebuffer.height) == (300, 150)
        assert same_pixels(viewer.framebuffer, source)


async def test_colour_map_viewer_gets_a_palette_and_an_update():
    # quantise() maps to the server's 3-3-2 palette, which the viewer must have received.
    await assert_full_update_in(PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0))


LOSSY = {Encoding.JPEG, Encoding.OPEN_H264}
FORMATS_TO_TRY = [
    PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0),
    PixelFormat(32, 24, True, True, 255, 255, 255, 0, 8, 16),
    PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0),
    PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0),
]


@pytest.mark.parametrize("encoding", sorted(offered_encodings(h264=True)))
@pytest.mark.parametrize("pixel_format", FORMATS_TO_TRY, ids=["bgrx", "xbgr-be", "565", "map"])
async def test_every_encoding_keeps_the_viewer_exact_across_updates(encoding, pixel_format):
    """Each encoder, through a real session and the protocol's own decoders, over several
    updates (zlib streams and codec contexts carry over from one update to the next)."""
    source = ArraySource(150, 90)
    y, x = np.mgrid[0:90, 0:150]
    source.pixels[..., 0], source.pixels[..., 1], source.pixels[..., 2] = x, y, x + y
    source.pixels[60:80, 100:140] = source.capture()[0:20, 0:40]  # a few sharp edges
    if encoding not in LOSSY:
        source.pixels[5:25, 100:130] = np.random.default_rng(3).integers(0, 256, (20, 30, 4))
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(encoding,))
        await viewer.send(SetPixelFormat(pixel_format))
        update = await viewer.full_update()
        chosen = update.rectangles[0].encoding
        supported = getattr(ENCODERS[encoding], "supports", lambda pf: True)(pixel_format)
        assert chosen == (encoding if supported else Encoding.RAW)
        for step in range(3):
            source.pixels[10 + step * 20 : 30 + step * 20, 5:60] = (40 * step, 200, 90, 0)
            await viewer.request()
            await viewer.next_update()
            want = quantise(source.pixels, pixel_format)
            if chosen in LOSSY:
                assert psnr(viewer.framebuffer.pixels, want) > 28
            else:
                np.testing.assert_array_equal(viewer.framebuffer.pixels[..., :3], want[..., :3])


def test_h264_is_offered_only_when_configured():
    assert Encoding.OPEN_H264 not in offered_encodings(h264=False)
    assert Encoding.RAW in offered_encodings(h264=False)


# --- clipboard ----------------------------------------------------------------------------


async def test_viewer_text_goes_to_the_desktop_and_the_others_but_not_back(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        sender, other = hub.connect(), hub.connect()
        await sender.handshake()
        await other.handshake()
        await sender.send(ClientCutText("from the viewer\r\nline 2\n"))
        assert await other.next_cut_text() == "from the viewer\nline 2\n"
        assert source.clipboard_sets == ["from the viewer\nline 2\n"]
        await trio.sleep(3 * POLL_SECONDS)  # the desktop watcher sees the serial move too
        await sender.full_update()
        await other.full_update()
        assert sender.cut_texts == [] and other.cut_texts == []


async def test_desktop_text_reaches_every_viewer_as_latin1():
    source = ArraySource()
    async with running_hub(source) as hub:
        viewers = [hub.connect(), hub.connect()]
        for viewer in viewers:
            await viewer.handshake()
        await viewers[0].full_update()  # both sessions are serving before the copy
        await viewers[1].full_update()
        source.copy("naïve € 日本\r\nsecond line")
        for viewer in viewers:
            assert await viewer.next_cut_text() == "naïve ? ??\nsecond line"
        source.copy("again")
        for viewer in viewers:
            assert await viewer.next_cut_text() == "again"


async def test_a_viewer_that_sets_text_gets_later_desktop_changes():
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake()
        await viewer.send(ClientCutText("mine"))
        await viewer.full_update()
        source.copy("the desktop's")
        assert await viewer.next_cut_text() == "the desktop's"
        assert viewer.cut_texts == []


async def test_view_only_viewers_receive_the_clipboard_but_cannot_set_it():
    source = ArraySource()
    async with running_hub(source, password="secret", view_only_password="look") as hub:
        watcher, owner = hub.connect(), hub.connect()
        await watcher.handshake(password="look")
        await owner.handshake(password="secret")
        await watcher.send(ClientCutText("not allowed"))
        await watcher.full_update()
        await owner.full_update()
        assert source.clipboard_sets == [] and owner.cut_texts == []
        await owner.send(ClientCutText("allowed"))
        assert await watcher.next_cut_text() == "allowed"
        assert source.clipboard_sets == ["allowed"]


async def test_cut_text_over_the_limit_is_dropped_both_ways(autojump_clock):
    source = ArraySource()
    async with running_hub(source, max_cut_text=10) as hub:
        viewer = hub.connect()
        await viewer.handshake()
        await viewer.send(ClientCutText("x" * 11))  # read and skipped by the protocol
        await viewer.full_update()
        assert source.clipboard_sets == []
        source.copy("é" * 11)  # 11 Latin-1 bytes (22 in UTF-8): too long
        await trio.sleep(3 * POLL_SECONDS)
        source.copy("é" * 10)
        assert await viewer.next_cut_text() == "é" * 10
        assert viewer.cut_texts == []
        assert hub.hub.clipboard.statistics().too_long == 1


# --- remote resize: ExtendedDesktopSize and SetDesktopSize (rfbproto 7.5.11) --------------

RESIZING = (Encoding.RAW, Encoding.DESKTOP_SIZE, Encoding.EXTENDED_DESKTOP_SIZE)


async def next_layout(viewer) -> ScreenLayout:
    """The next update, which must be a lone ExtendedDesktopSize rectangle, decoded."""
    update = await viewer.next_update()
    [rectangle] = update.rectangles
    assert rectangle.encoding == Encoding.EXTENDED_DESKTOP_SIZE
    return screen_layout(rectangle)


def one_screen(width: int, height: int) -> SetDesktopSize:
    return SetDesktopSize(width, height, [Screen(0, 0, 0, width, height)])


def layout(reason: ResizeReason, status: ResizeStatus, size: tuple[int, int]) -> ScreenLayout:
    return ScreenLayout(reason, status, *size, [Screen(0, 0, 0, *size)])


async def resizing_viewer(hub, **handshake):
    """A viewer that supports ExtendedDesktopSize, past the announcement it gets."""
    viewer = hub.connect()
    await viewer.handshake(encodings=RESIZING, **handshake)
    assert await next_layout(viewer) == layout(ResizeReason.SERVER, ResizeStatus.OK, (200, 120))
    return viewer


async def test_extended_desktop_size_is_announced_and_repeated_for_full_requests():
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        viewer = await resizing_viewer(hub)
        await viewer.request(incremental=False)
        assert await next_layout(viewer) == layout(ResizeReason.SERVER, ResizeStatus.OK, (200, 120))
        await viewer.next_update()
        assert same_pixels(viewer.framebuffer, source)


async def test_viewer_without_extended_desktop_size_gets_no_layout():
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(Encoding.RAW, Encoding.DESKTOP_SIZE))
        update = await viewer.full_update()
        assert {r.encoding for r in update.rectangles} == {Encoding.RAW}


async def test_set_desktop_size_resizes_and_every_viewer_follows():
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        asker = await resizing_viewer(hub)
        other = await resizing_viewer(hub)
        basic = hub.connect()
        await basic.handshake(encodings=(Encoding.RAW, Encoding.DESKTOP_SIZE))
        await basic.full_update()
        await asker.send(one_screen(300, 150))
        # The answer comes without a request, before any pixels of the new size.
        assert await next_layout(asker) == layout(
            ResizeReason.THIS_CLIENT, ResizeStatus.OK, (300, 150)
        )
        assert source.resizes == [(300, 150)]
        assert await next_layout(other) == layout(
            ResizeReason.OTHER_CLIENT, ResizeStatus.OK, (300, 150)
        )
        for viewer in (asker, other, basic):
            await viewer.request()
            update = await viewer.next_update()
            encodings = [r.encoding for r in update.rectangles]
            assert Encoding.EXTENDED_DESKTOP_SIZE not in encodings
            # Only the viewer without ExtendedDesktopSize hears of the size by DesktopSize.
            assert (encodings[0] == Encoding.DESKTOP_SIZE) == (viewer is basic)
            assert (viewer.framebuffer.width, viewer.framebuffer.height) == (300, 150)
            assert same_pixels(viewer.framebuffer, source)


async def test_resize_to_the_same_size_is_still_answered():
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        viewer = await resizing_viewer(hub)
        await viewer.send(one_screen(200, 120))
        assert await next_layout(viewer) == layout(
            ResizeReason.THIS_CLIENT, ResizeStatus.OK, (200, 120)
        )


async def test_view_only_viewer_may_not_resize():
    source = ArraySource(200, 120)
    async with running_hub(source, password="secret", view_only_password="look") as hub:
        viewer = await resizing_viewer(hub, password="look")
        await viewer.send(one_screen(300, 150))
        answer = await next_layout(viewer)
        assert (answer.reason, answer.status) == (ResizeReason.THIS_CLIENT, ResizeStatus.PROHIBITED)
        assert source.resizes == []
        assert viewer.conn.framebuffer_size == (200, 120)  # a refusal changes nothing


@pytest.mark.parametrize(
    "request_",
    [
        SetDesktopSize(300, 150, []),
        SetDesktopSize(0, 150, [Screen(0, 0, 0, 0, 150)]),
        SetDesktopSize(300, 150, [Screen(0, 0, 0, 301, 150)]),
        SetDesktopSize(300, 150, [Screen(0, 10, 10, 300, 140)]),
        SetDesktopSize(300, 150, [Screen(0, 0, 0, 0, 150)]),
        SetDesktopSize(300, 150, [Screen(1, 0, 0, 150, 150), Screen(1, 150, 0, 150, 150)]),
        one_screen(MAX_DESKTOP_SIDE + 1, 100),
    ],
    ids=["no-screens", "zero-width", "wider", "outside", "empty-screen", "same-ids", "huge"],
)
async def test_invalid_layout_is_refused(request_):
    source = ArraySource(200, 120)
    async with running_hub(source) as hub:
        viewer = await resizing_viewer(hub)
        await viewer.send(request_)
        answer = await next_layout(viewer)
        assert answer.status == ResizeStatus.INVALID_LAYOUT
        assert (answer.width, answer.height) == (200, 120)
        assert source.resizes == []


@pytest.mark.parametrize(
    ("result", "status"),
    [(False, ResizeStatus.PROHIBITED), (SourceError("no memory"), ResizeStatus.OUT_OF_RESOURCES)],
)
async def test_a_source_that_cannot_resize_refuses(result, status):
    source = ArraySource(200, 120)
    source.resize_result = result
    async with running_hub(source) as hub:
        viewer = await resizing_viewer(hub)
        await viewer.send(one_screen(300, 150))
        assert (await next_layout(viewer)).status == status
        assert source.size == (200, 120) and viewer.conn.framebuffer_size == (200, 120)
        update = await viewer.full_update()  # the session carries on as before
        assert update.rectangles[0].encoding == Encoding.EXTENDED_DESKTOP_SIZE
        await viewer.next_update()
        assert same_pixels(viewer.framebuffer, source)


async def test_demo_desktop_is_redrawn_at_the_requested_size():
    source = DemoSource((320, 240), clock=lambda: 0.0)
    async with running_hub(source) as hub:
        viewer = hub.connect()
        # The demo's pointer stays out of the pixels of a viewer that draws it itself.
        await viewer.handshake(encodings=(*RESIZING, Encoding.CURSOR_WITH_ALPHA))
        await next_layout(viewer)
        await viewer.send(one_screen(480, 200))
        assert (await next_layout(viewer)).reason == ResizeReason.THIS_CLIENT
        await viewer.request()
        await viewer.next_update()
        np.testing.assert_array_equal(viewer.framebuffer.pixels[..., :3], source.capture()[..., :3])
        assert source.size == (480, 200)


# --- flow control: continuous updates and fences (rfbproto 7.5.8, 7.5.9, 7.6.5, 7.6.7) -----

FLOW = (Encoding.RAW, Encoding.FENCE, Encoding.CONTINUOUS_UPDATES)


async def next_message_of(viewer, kind: type | tuple[type, ...]):
    """The next message, which must be a ``kind``."""
    with trio.fail_after(5):
        message = await viewer.next_message()
    assert isinstance(message, kind), message
    return message


async def next_answering_pings(viewer, kind: type = FramebufferUpdate):
    """The next message but the server's pings (fences asking for an answer, which are
    answered); it must be a ``kind``."""
    while True:
        message = await next_message_of(viewer, (Fence, kind))
        if isinstance(message, kind):
            return message
        await viewer.send(Fence(message.flags & ~FenceFlag.REQUEST, message.payload))


async def test_continuous_updates_flow_without_requests_until_disabled(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=FLOW)
        # Announced: a fence (the first round-trip probe), then EndOfContinuousUpdates.
        probe = await next_message_of(viewer, Fence)
        assert probe.flags == FenceFlag.REQUEST | FenceFlag.BLOCK_BEFORE
        await next_message_of(viewer, EndOfContinuousUpdates)
        await viewer.send(Fence(FenceFlag.BLOCK_BEFORE, probe.payload))  # our answer
        await viewer.send(EnableContinuousUpdates(True, 0, 0, 200, 120))
        await next_answering_pings(viewer)  # the whole screen, which it lacks
        for value in range(3):  # no FramebufferUpdateRequest from here on
            source.pixels[10:20, 30:40] = value
            update = await next_answering_pings(viewer)
            [rectangle] = update.rectangles
            assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (30, 10, 10, 10)
        assert same_pixels(viewer.framebuffer, source)
        await viewer.send(EnableContinuousUpdates(False, 0, 0, 200, 120))
        await next_answering_pings(viewer, EndOfContinuousUpdates)
        source.pixels[0, 0] ^= 1
        with trio.move_on_after(1):
            message = await viewer.next_message()
            pytest.fail(f"an update without continuous updates or a request: {message}")


async def test_continuous_updates_only_cover_their_area(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=FLOW)
        await next_message_of(viewer, Fence)
        await next_message_of(viewer, EndOfContinuousUpdates)
        await viewer.request(incremental=False)
        await next_answering_pings(viewer)
        await viewer.send(EnableContinuousUpdates(True, 0, 0, 100, 120))
        source.pixels[5, 150] ^= 1  # outside: stays pending
        source.pixels[5, 50] ^= 1  # inside
        update = await next_answering_pings(viewer)
        assert all(r.x + r.width <= 100 for r in update.rectangles)
        assert viewer.framebuffer.pixels[5, 50, 0] == source.pixels[5, 50, 0]
        assert viewer.framebuffer.pixels[5, 150, 0] != source.pixels[5, 150, 0]
        await viewer.send(EnableContinuousUpdates(True, 0, 0, 200, 120))  # now all of it
        update = await next_answering_pings(viewer)
        assert all(r.x >= 100 for r in update.rectangles)
        assert same_pixels(viewer.framebuffer, source)


async def test_viewer_fences_are_answered_with_their_payload():
    async with running_hub(ArraySource()) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=FLOW)
        await next_message_of(viewer, Fence)
        await next_message_of(viewer, EndOfContinuousUpdates)
        flags = FenceFlag.REQUEST | FenceFlag.BLOCK_BEFORE | FenceFlag.BLOCK_AFTER | (1 << 5)
        await viewer.send(Fence(flags, b"order 66"))
        reply = await next_message_of(viewer, Fence)
        assert reply == Fence(FenceFlag.BLOCK_BEFORE | FenceFlag.BLOCK_AFTER, b"order 66")


async def test_continuous_updates_are_offered_only_with_fences():
    async with running_hub(ArraySource()) as hub:
        viewer = hub.connect()
        await viewer.handshake(encodings=(Encoding.RAW, Encoding.CONTINUOUS_UPDATES))
        update = await viewer.full_update()  # the first message is the answer, nothing before
        assert update.rectangles


@pytest.mark.parametrize("encoding", [Encoding.HEXTILE, Encoding.TIGHT])
async def test_viewers_with_the_same_settings_share_one_encoding(encoding):
    """Hextile keeps no state; Tight's shareable variant resets its zlib streams."""
    source = ArraySource()
    async with running_hub(source) as hub:
        viewers = [hub.connect() for _ in range(3)]
        for viewer in viewers:
            await viewer.handshake(encodings=(encoding,))
            await viewer.full_update()
        shared = hub.hub.shared_encodings
        misses = shared.misses
        for viewer in viewers:
            await viewer.request()
        source.pixels[40:60, 40:90] = 77
        for viewer in viewers:
            await viewer.next_update()
            assert same_pixels(viewer.framebuffer, source)
        assert shared.misses == misses + 1 and shared.hits >= 2


async def test_a_tight_viewer_left_alone_keeps_the_shared_streams():
    """Once a Tight viewer was sent the shareable variant (each rectangle resets its zlib
    stream), it keeps it after the others leave: noVNC 1.7 dropped the connection when a
    viewer went back to its own streams, reset on their next use, after shared ones."""
    source = ArraySource()
    async with running_hub(source) as hub:
        stays, leaves = hub.connect(), hub.connect()
        for viewer in (stays, leaves):
            await viewer.handshake(encodings=(Encoding.TIGHT,))
        await stays.full_update()
        for step in range(6):
            if step == 3:
                await leaves.stream.aclose()
                with trio.fail_after(5):
                    while len(hub.hub.sessions) > 1:
                        await trio.sleep(0.01)
            source.pixels[step * 10 : step * 10 + 30, :150] = (
                np.random.default_rng(step).integers(0, 4, (30, 150, 1), dtype=np.uint8) * 80
            )
            await stays.request()
            update = await stays.next_update()
            assert same_pixels(stays.framebuffer, source), f"step {step}"
            # rfbproto 7.7.6: bits 0-3 of the compression control reset the zlib streams;
            # zlib data (basic compression, bit 7 clear) with none is a stream's continuation.
            zlib_data = [r.payload[0] for r in update.rectangles if not r.payload[0] & 0x80]
            assert all(control & 0x0F for control in zlib_data), f"step {step}"


async def test_viewers_out_of_step_share_boxes_that_did_not_change_since():
    """The second viewer asks for the changed box only after the screen changed elsewhere:
    the box's pixels are those the first viewer was sent, so its encoding is reused."""
    source = ArraySource()
    async with running_hub(source) as hub:
        first, second = hub.connect(), hub.connect()
        for viewer in (first, second):
            await viewer.handshake(encodings=(Encoding.HEXTILE,))
            await viewer.full_update()
        shared = hub.hub.shared_encodings
        source.pixels[10:40, 10:60] = 50
        await first.request()
        await first.next_update()
        hits = shared.hits
        source.pixels[100:110, 150:190] = 90  # a later frame, elsewhere
        await trio.sleep(0.05)
        await second.send(FramebufferUpdateRequest(True, 0, 0, 100, 60))
        update = await second.next_update()
        assert [(r.x, r.y, r.width, r.height) for r in update.rectangles] == [(10, 10, 50, 30)]
        assert shared.hits == hits + 1
        shown, truth = second.framebuffer.pixels[..., :3], source.pixels[..., :3]
        assert np.array_equal(shown[:60, :100], truth[:60, :100])
        assert not np.array_equal(shown, truth)  # the later change is still to come
