"""vncd.policy: sharing, input control, time limits and view-only, as rules and as sessions
over memory streams (the autojump clock stands in for minutes of waiting)."""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path

import pytest
import trio

from protocol import (
    ClientCutText,
    ClientInit,
    Event,
    FramebufferUpdateRequest,
    KeyEvent,
    PointerEvent,
    ProtocolVersion,
    QemuExtendedKeyEvent,
    RemoteProtocolError,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
)
from protocol.encodings.pseudo import ResizeStatus
from vncd.config import parse_config
from vncd.policy import InputControl, SharingDecision, TimeLimits, ViewerPolicy, decide_sharing
from vncd.server import viewer_policy

from .harness import ArraySource, running_hub
from .test_session import next_layout, one_screen, resizing_viewer
from .viewer import Viewer

README = Path(__file__).resolve().parents[2] / "README.md"

# --- the rules ----------------------------------------------------------------------------

REFUSED_WHILE_EXCLUSIVE = SharingDecision(refusal="another viewer has exclusive access")
REFUSED_WHILE_OTHERS = SharingDecision(
    refusal="exclusive access asked while other viewers are connected"
)


@pytest.mark.parametrize(
    ("sharing", "asked_shared", "others", "exclusive_present", "decision"),
    [
        # TigerVNC's DisconnectClients (its default, and vncd's).
        ("disconnect-others", True, 2, False, SharingDecision()),
        ("disconnect-others", True, 1, True, SharingDecision()),
        ("disconnect-others", False, 0, False, SharingDecision(exclusive=True)),
        ("disconnect-others", False, 2, True, SharingDecision(exclusive=True, close_others=True)),
        # DisconnectClients=0, and a viewer that has the desktop alone keeps it.
        ("refuse-new", True, 0, False, SharingDecision()),
        ("refuse-new", True, 2, False, SharingDecision()),
        ("refuse-new", False, 0, False, SharingDecision(exclusive=True)),
        ("refuse-new", False, 1, False, REFUSED_WHILE_OTHERS),
        ("refuse-new", False, 1, True, REFUSED_WHILE_EXCLUSIVE),
        ("refuse-new", True, 1, True, REFUSED_WHILE_EXCLUSIVE),
        # AlwaysShared.
        ("always-shared", False, 3, False, SharingDecision()),
        ("always-shared", True, 0, False, SharingDecision()),
    ],
)
def test_sharing_decisions(sharing, asked_shared, others, exclusive_present, decision):
    assert decide_sharing(sharing, asked_shared, others, exclusive_present) == decision


def test_shared_input_lets_everyone_drive():
    control = InputControl[str]()
    assert control.claim("a", 0).granted and control.claim("b", 0).granted
    assert control.controller is None and control.allows("c", 0)


def test_single_controller_the_first_to_send_input_drives_until_it_leaves():
    control = InputControl[str](single=True)
    first = control.claim("a", 0)
    assert first.granted and first.taken and first.displaced is None
    assert not control.claim("b", 1e6).granted  # takeover_idle None: never
    assert not control.allows("b", 1e6)
    assert control.claim("a", 1e6) == control.claim("a", 1e6 + 1)  # granted, nothing new
    control.leave("b")  # not the controller: changes nothing
    assert control.controller == "a"
    control.leave("a")
    assert control.allows("b", 0)  # nobody drives
    assert control.controller is None  # ...and allows() took nothing
    assert control.claim("b", 2).taken


def test_single_controller_takeover_after_the_controller_is_idle():
    control = InputControl[str](single=True, takeover_idle=30)
    control.claim("a", 100)
    assert control.claim("a", 120).granted  # input keeps control...
    assert not control.claim("b", 149).granted  # ...29 s later it is still a's
    assert not control.allows("b", 149)
    assert control.allows("b", 150)
    claim = control.claim("b", 150)
    assert claim.granted and claim.taken and claim.displaced == "a"
    assert not control.claim("a", 151).granted  # a is now the one who waits


def test_for_policy():
    policy = ViewerPolicy(input="single-controller", takeover_idle=5)
    control = InputControl.for_policy(policy)
    assert (control.single, control.takeover_idle) == (True, 5)
    assert not InputControl.for_policy(ViewerPolicy()).single


def test_time_limits():
    assert TimeLimits().deadline() is None and TimeLimits().expired(1e9) is None
    idle = TimeLimits(idle_timeout=60)
    idle.start(1000)
    assert idle.deadline() == 1060
    idle.input(1030)
    assert idle.deadline() == 1090 and idle.expired(1089.9) is None
    assert idle.expired(1090) == "idle for 60 s (viewers.idle_timeout_seconds)"
    both = TimeLimits(idle_timeout=60, max_session=100)
    both.start(0)
    for now in range(0, 100, 10):
        both.input(now)  # input does not extend the session
    assert both.deadline() == 100
    assert both.expired(100) == "session time is up (100 s, viewers.max_session_seconds)"


def test_viewer_policy_from_config():
    config = parse_config(
        '[viewers]\ninput = "single-controller"\ntakeover_idle_seconds = 7\n'
        'sharing = "refuse-new"\nidle_timeout_seconds = 60\nview_only = true\n',
        "test.toml",
    )
    assert viewer_policy(config) == ViewerPolicy(
        "single-controller", 7, "refuse-new", 60, None, True
    )
    assert viewer_policy(parse_config("", "x")) == ViewerPolicy()


def test_readme_example_is_valid():
    readme = README.read_text()
    [example] = re.findall(r"```toml\n(\[viewers\].*?)```", readme, re.S)
    config = parse_config(example, "README.md")
    assert config.viewers.input == "single-controller"
    assert config.warnings() == []


# --- input control in sessions ------------------------------------------------------------

SINGLE = ViewerPolicy(input="single-controller")
A, B = 0x61, 0x62  # keysyms of "a" and "b"


async def connected(hub, **handshake) -> Viewer:
    viewer = hub.connect()
    await viewer.handshake(**handshake)
    return viewer


async def test_single_controller_ignores_the_others_until_the_controller_leaves(caplog):
    caplog.set_level(logging.INFO, logger="vncd")
    source = ArraySource()
    async with running_hub(source, SINGLE) as hub:
        first, second = await connected(hub), await connected(hub)
        await first.send(KeyEvent(True, A), KeyEvent(False, A))
        await first.full_update()  # a round trip: the keys were handled
        await second.send(KeyEvent(True, B), PointerEvent(1, 10, 10), ClientCutText("from b"))
        await second.send(QemuExtendedKeyEvent(True, B, 0x30))
        await second.full_update()
        assert source.keys == [(A, True), (A, False)]
        assert source.pointer == [] and source.clipboard_sets == []
        await first.stream.aclose()
        with trio.fail_after(5):
            while hub.hub.control.controller is not None:
                await trio.sleep(0.01)
        await second.send(PointerEvent(0, 20, 20))
        await second.full_update()
        assert source.pointer == [(20, 20, 0)]
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("test viewer: takes control of the keyboard and pointer") == 2
    # Logged once for all the input ignored in a row.
    assert messages.count("test viewer: input ignored: test viewer has control") == 1


async def test_clipboard_needs_control_but_does_not_take_it():
    source = ArraySource()
    async with running_hub(source, SINGLE) as hub:
        first, second = await connected(hub), await connected(hub)
        await first.send(ClientCutText("nobody drives"))
        await first.full_update()
        assert source.clipboard_sets == ["nobody drives"]
        await second.send(KeyEvent(True, B))  # the first never took control
        await second.full_update()
        assert source.keys == [(B, True)]
        await first.send(ClientCutText("not the controller"))
        await first.full_update()
        await second.send(ClientCutText("the controller"))
        await second.full_update()
        assert source.clipboard_sets == ["nobody drives", "the controller"]


async def test_an_idle_controller_is_taken_over_and_its_held_keys_released(autojump_clock):
    source = ArraySource()
    policy = ViewerPolicy(input="single-controller", takeover_idle=30)
    async with running_hub(source, policy) as hub:
        first, second = await connected(hub), await connected(hub)
        await first.send(KeyEvent(True, 0xFFE1), PointerEvent(1, 5, 5))  # Shift and a button
        await first.full_update()
        await trio.sleep(29)
        await second.send(KeyEvent(True, B))
        await second.full_update()
        assert source.keys == [(0xFFE1, True)]  # still the first viewer's
        await trio.sleep(1)
        await second.send(KeyEvent(True, B), KeyEvent(False, B))
        await second.full_update()
        assert source.keys == [(0xFFE1, True), (0xFFE1, False), (B, True), (B, False)]
        assert source.pointer == [(5, 5, 1), (5, 5, 0)]
        await first.send(KeyEvent(True, A))  # now the first one waits
        await first.full_update()
        assert source.keys[-1] == (B, False)


async def test_a_controller_that_never_goes_idle_enough_keeps_control(autojump_clock):
    source = ArraySource()
    async with running_hub(source, SINGLE) as hub:
        first, second = await connected(hub), await connected(hub)
        await first.send(KeyEvent(True, A))
        await trio.sleep(60)  # virtual time, but each second costs the frame bus 200 polls
        await second.send(KeyEvent(True, B))
        await second.full_update()
        assert source.keys == [(A, True)]


async def test_resize_is_not_tied_to_control():
    source = ArraySource(200, 120)
    async with running_hub(source, SINGLE) as hub:
        driver = await connected(hub)
        await driver.send(KeyEvent(True, A))
        watcher = await resizing_viewer(hub)
        await watcher.send(one_screen(300, 150))
        assert (await next_layout(watcher)).status == ResizeStatus.OK
        assert source.resizes == [(300, 150)]


# --- sharing in sessions ------------------------------------------------------------------


async def refused(hub, shared: bool) -> None:
    """A viewer whose handshake ends in a closed connection instead of ServerInit."""
    viewer = hub.connect()
    with pytest.raises(RemoteProtocolError, match="connection closed during SERVER_INIT"):
        await viewer.handshake(shared=shared)
    assert await viewer.stream.receive_some(100) == b""


async def still_served(viewer: Viewer) -> None:
    with trio.fail_after(5):
        await viewer.full_update()


async def test_refuse_new_keeps_the_connected_viewers(caplog):
    caplog.set_level(logging.INFO, logger="vncd")
    source = ArraySource()
    async with running_hub(source, ViewerPolicy(sharing="refuse-new")) as hub:
        shared = await connected(hub)
        await refused(hub, shared=False)
        also_shared = await connected(hub)
        for viewer in (shared, also_shared):
            await still_served(viewer)
        assert len(hub.hub.sessions) == 2
    assert (
        "test viewer: refused: exclusive access asked while other viewers are connected"
        in caplog.messages
    )


async def test_refuse_new_keeps_an_exclusive_viewer_alone(caplog):
    caplog.set_level(logging.INFO, logger="vncd")
    source = ArraySource()
    async with running_hub(source, ViewerPolicy(sharing="refuse-new")) as hub:
        alone = await connected(hub, shared=False)
        await refused(hub, shared=True)
        await refused(hub, shared=False)
        await still_served(alone)
        await alone.stream.aclose()
        with trio.fail_after(5):
            while hub.hub.sessions:
                await trio.sleep(0.01)
        await still_served(await connected(hub, shared=False))  # free again
    assert caplog.messages.count("test viewer: refused: another viewer has exclusive access") == 2


async def test_always_shared_never_disconnects_anyone():
    source = ArraySource()
    async with running_hub(source, ViewerPolicy(sharing="always-shared")) as hub:
        first = await connected(hub, shared=False)
        second = await connected(hub, shared=False)
        for viewer in (first, second):
            await still_served(viewer)
        assert not any(session.exclusive for session in hub.hub.sessions)


async def handshake_until_client_init(viewer: Viewer, shared: bool) -> None:
    """The handshake up to and including ClientInit, without reading ServerInit."""
    assert isinstance(await viewer.next_event(), ProtocolVersion)
    await viewer.send(ProtocolVersion(3, 8))
    assert isinstance(await viewer.next_event(), SecurityTypes)
    await viewer.send(SecurityTypeChosen(1))
    assert (await viewer.next_event()) == SecurityResult(ok=True)
    await viewer.send(ClientInit(shared=shared))


async def test_exclusive_access_counts_from_client_init_not_server_init():
    """A viewer that has been granted the desktop alone holds it even before its ServerInit
    is sent: two viewers asking at once cannot both get it."""
    source = ArraySource()
    async with running_hub(source, ViewerPolicy(sharing="refuse-new")) as hub:
        slow = hub.connect(lockstep=True)  # ServerInit cannot go until it reads
        await handshake_until_client_init(slow, shared=False)
        with trio.fail_after(5):
            while not hub.hub.sessions:
                await trio.sleep(0.01)
        await refused(hub, shared=False)


# --- view-only ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "access", "password"),
    [
        (ViewerPolicy(view_only=True), {}, ""),
        (ViewerPolicy(view_only=True), {"password": "secret"}, "secret"),
        (ViewerPolicy(), {"password": "secret", "view_only_password": "look"}, "look"),
    ],
    ids=["everyone", "everyone-even-with-the-full-password", "view-only-password"],
)
async def test_view_only_holds_for_every_input_path(policy, access, password):
    source = ArraySource(200, 120)
    async with running_hub(source, policy, **access) as hub:
        viewer = await resizing_viewer(hub, password=password)
        await viewer.send(KeyEvent(True, A), KeyEvent(False, A))
        await viewer.send(QemuExtendedKeyEvent(True, B, 0x30), QemuExtendedKeyEvent(False, B, 0x30))
        await viewer.send(PointerEvent(1, 10, 10), PointerEvent(0, 10, 10))
        await viewer.send(ClientCutText("pasted"))
        await viewer.send(one_screen(300, 150))
        assert (await next_layout(viewer)).status == ResizeStatus.PROHIBITED
        await viewer.full_update()
        assert source.keys == [] and source.pointer == []
        assert source.clipboard_sets == [] and source.resizes == []
        assert [session.view_only for session in hub.hub.sessions] == [True]


async def test_full_password_drives_every_input_path():
    """The positive control of the test above: the same messages all arrive."""
    source = ArraySource(200, 120)
    async with running_hub(source, password="secret", view_only_password="look") as hub:
        viewer = await resizing_viewer(hub, password="secret")
        await viewer.send(KeyEvent(True, A), QemuExtendedKeyEvent(True, B, 0x30))
        await viewer.send(PointerEvent(1, 10, 10), ClientCutText("pasted"))
        await viewer.send(one_screen(300, 150))
        assert (await next_layout(viewer)).status == ResizeStatus.OK
        assert source.keys == [(A, True), (B, True)] and source.pointer == [(10, 10, 1)]
        assert source.clipboard_sets == ["pasted"] and source.resizes == [(300, 150)]


# --- time limits in sessions --------------------------------------------------------------


async def closed_at(viewer: Viewer, timeout: float = 100) -> float:
    """When the server closes ``viewer``'s connection (whatever it sent before)."""
    with trio.fail_after(timeout):
        while await viewer.stream.receive_some(65536):
            pass
    return trio.current_time()


async def keep_sending(viewer: Viewer, seconds: float, *events: Event) -> None:
    """Send ``events`` every ``seconds`` until the server closes the connection."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while True:
            await trio.sleep(seconds)
            await viewer.send(*events)


async def test_idle_viewers_are_disconnected_and_active_ones_stay(autojump_clock, caplog):
    caplog.set_level(logging.INFO, logger="vncd")
    source = ArraySource()
    policy = ViewerPolicy(idle_timeout=6)
    async with running_hub(source, policy, password="secret", view_only_password="look") as hub:
        idle, requesting, pointing = [await connected(hub, password="secret") for _ in range(3)]
        watching = await connected(hub, password="look")
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            request = FramebufferUpdateRequest(False, 0, 0, 200, 120)
            nursery.start_soon(keep_sending, requesting, 2.5, request)  # not input
            nursery.start_soon(keep_sending, pointing, 2.5, PointerEvent(0, 1, 1))
            # A view-only viewer's input is ignored, but someone is there.
            nursery.start_soon(keep_sending, watching, 2.5, PointerEvent(0, 1, 1))
            assert await closed_at(idle) == pytest.approx(start + 6, abs=0.1)
            assert await closed_at(requesting) == pytest.approx(start + 6, abs=0.1)
            await trio.sleep(54)
            nursery.cancel_scope.cancel()
        for viewer in (pointing, watching):
            assert start + 60 < await closed_at(viewer) <= start + 66.1
    assert "test viewer: closing: idle for 6 s (viewers.idle_timeout_seconds)" in caplog.messages


async def test_sessions_end_after_the_maximum_time_each_on_its_own(autojump_clock, caplog):
    caplog.set_level(logging.INFO, logger="vncd")
    source = ArraySource()
    async with running_hub(source, ViewerPolicy(max_session=10)) as hub:
        early = await connected(hub)
        start = trio.current_time()
        await trio.sleep(4)
        late = await connected(hub)
        async with trio.open_nursery() as nursery:
            for viewer in (early, late):  # input does not make a session longer
                nursery.start_soon(keep_sending, viewer, 1, KeyEvent(True, A), KeyEvent(False, A))
            assert await closed_at(early) == pytest.approx(start + 10, abs=0.1)
            assert await closed_at(late) == pytest.approx(start + 14, abs=0.1)
    assert (
        "test viewer: closing: session time is up (10 s, viewers.max_session_seconds)"
        in caplog.messages
    )
