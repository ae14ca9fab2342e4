"""The demo desktop reacts to input (its clock and its damage reports: test_damage.py); keysym
helpers; open_source's choice of source."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vncd import keysyms
from vncd.sources import DemoSource, SourceError, open_source

from .sourcekit import changed_box, press, source_config, type_text

WIDTH, HEIGHT = 800, 600
WHITE = (255, 255, 255)
CANVAS_POINT = (600, 300)  # well inside the canvas (right part of the body)


def stopped_clock() -> float:
    """A wall clock that never moves: these tests are about input alone."""
    return 1_700_000_000.25


@pytest.fixture
def demo() -> DemoSource:
    return DemoSource((WIDTH, HEIGHT), clock=stopped_clock)


def rgb(frame: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    blue, green, red, _ = frame[y, x]
    return int(red), int(green), int(blue)


# --- frames -------------------------------------------------------------------------------


def test_capture_is_a_new_bgrx_array_each_time(demo: DemoSource) -> None:
    first = demo.capture()
    assert first.shape == (HEIGHT, WIDTH, 4)
    assert first.dtype == np.uint8
    assert first.flags.c_contiguous
    assert demo.size == (WIDTH, HEIGHT)
    first[...] = 0
    second = demo.capture()
    assert second.any()
    assert not np.shares_memory(first, second)


def test_frames_are_stable_without_input_or_time(demo: DemoSource) -> None:
    assert np.array_equal(demo.capture(), demo.capture())


# --- keys ---------------------------------------------------------------------------------


def test_typing_shows_text_in_the_pad_and_backspace_removes_it(demo: DemoSource) -> None:
    before = demo.capture()
    type_text(demo, "Hi!")
    typed = demo.capture()
    box = changed_box(before, typed)
    assert box is not None
    assert box[2] <= WIDTH * 2 // 5 + 20 and box[1] > 40  # inside the text pad, below the title
    for _ in "Hi!":
        press(demo, keysyms.BACKSPACE)
    type_text(demo, "Hi!")
    assert np.array_equal(typed, demo.capture())


def test_return_starts_a_line_below(demo: DemoSource) -> None:
    empty = demo.capture()
    type_text(demo, "first")
    first_line = changed_box(empty, demo.capture())
    press(demo, keysyms.RETURN)
    new_line = demo.capture()
    type_text(demo, "second")
    second_line = changed_box(new_line, demo.capture())
    assert first_line is not None and second_line is not None
    assert second_line[1] >= first_line[3]  # entirely below the first line


@pytest.mark.parametrize(
    "keysym",
    [0xE9, 0xFF, 0x20AC, 0x01000416, 0x0100263A, 0xFFB7, 0xFFAB],
    ids=["eacute", "ydiaeresis", "EuroSign", "U+0416", "U+263A", "KP_7", "KP_Add"],
)
def test_non_ascii_and_keypad_keysyms_type_something(demo: DemoSource, keysym: int) -> None:
    before = demo.capture()
    press(demo, keysym)
    assert changed_box(before, demo.capture()) is not None


@pytest.mark.parametrize(
    "keysym", [keysyms.SHIFT_L, keysyms.CONTROL_L, 0xFFBE, 0xFF51, 0, 0xFFFFFFFF, 0x0100D800]
)
def test_keys_without_characters_change_nothing(demo: DemoSource, keysym: int) -> None:
    before = demo.capture()
    press(demo, keysym)
    assert np.array_equal(before, demo.capture())


def test_key_release_alone_types_nothing(demo: DemoSource) -> None:
    before = demo.capture()
    demo.inject_key(ord("x"), False)
    assert np.array_equal(before, demo.capture())


def test_long_text_wraps_and_scrolls_without_error(demo: DemoSource) -> None:
    for _ in range(60):
        type_text(demo, "lorem ipsum dolor sit amet ")
        press(demo, keysyms.RETURN)
    before = demo.capture()
    type_text(demo, "tail")
    box = changed_box(before, demo.capture())
    assert box is not None and box[3] < HEIGHT - 28  # still above the status bar


# --- pointer ------------------------------------------------------------------------------


def test_drag_with_button_1_draws_a_line(demo: DemoSource) -> None:
    (x, y) = CANVAS_POINT
    demo.inject_pointer(x, y, 0)
    assert rgb(demo.capture(), x + 50, y) == WHITE
    demo.inject_pointer(x, y, 1)
    demo.inject_pointer(x + 100, y, 1)
    demo.inject_pointer(x + 100, y, 0)
    frame = demo.capture()
    for sample in (x, x + 33, x + 50, x + 77, x + 100):  # along the line, not just its ends
        assert rgb(frame, sample, y) != WHITE
    assert rgb(frame, x + 50, y + 20) == WHITE


def test_moving_without_button_only_updates_the_readout(demo: DemoSource) -> None:
    demo.inject_pointer(*CANVAS_POINT, 0)
    before = demo.capture()
    demo.inject_pointer(CANVAS_POINT[0] + 80, CANVAS_POINT[1] + 40, 0)
    box = changed_box(before, demo.capture())
    assert box is not None
    assert box[1] >= HEIGHT - 28  # only the status bar changed


def test_button_3_clears_the_canvas(demo: DemoSource) -> None:
    x, y = CANVAS_POINT
    demo.inject_pointer(x, y, 0)
    clean = demo.capture()
    demo.inject_pointer(x, y, 1)
    demo.inject_pointer(x + 60, y + 60, 1)
    demo.inject_pointer(x + 60, y + 60, 0)
    demo.inject_pointer(x, y, 4)
    demo.inject_pointer(x, y, 0)
    assert np.array_equal(clean[: HEIGHT - 28], demo.capture()[: HEIGHT - 28])


def test_wheel_changes_the_pen_colour(demo: DemoSource) -> None:
    x, y = CANVAS_POINT

    def stroke(y: int) -> tuple[int, int, int]:
        demo.inject_pointer(x, y, 1)
        demo.inject_pointer(x + 40, y, 1)
        demo.inject_pointer(x + 40, y, 0)
        return rgb(demo.capture(), x + 20, y)

    first = stroke(y)
    demo.inject_pointer(x, y, 8)  # wheel up: button 4 pressed...
    demo.inject_pointer(x, y, 0)  # ...and released
    second = stroke(y + 30)
    assert WHITE not in (first, second)
    assert first != second


def test_dragging_outside_the_canvas_draws_nothing(demo: DemoSource) -> None:
    demo.inject_pointer(50, 200, 0)  # over the text pad
    before = demo.capture()
    demo.inject_pointer(50, 200, 1)
    demo.inject_pointer(150, 250, 1)
    demo.inject_pointer(150, 250, 0)
    box = changed_box(before, demo.capture())
    assert box is not None and box[1] >= HEIGHT - 28  # the readout, nothing else


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.one_of(
            st.tuples(st.just("key"), st.integers(0, 0xFFFFFFFF), st.booleans()),
            st.tuples(
                st.just("pointer"),
                st.integers(-100_000, 100_000),
                st.integers(-100_000, 100_000),
                st.integers(0, 0xFFFF),
            ),
        ),
        max_size=20,
    ),
    geometry=st.sampled_from([(1, 1), (37, 23), (160, 120), (WIDTH, HEIGHT)]),
)
def test_any_input_is_harmless(events: list[tuple], geometry: tuple[int, int]) -> None:
    source = DemoSource(geometry, clock=stopped_clock)
    for kind, *arguments in events:
        if kind == "key":
            source.inject_key(*arguments)
        else:
            source.inject_pointer(*arguments)
    assert source.capture().shape == (geometry[1], geometry[0], 4)
    stats = source.statistics()
    assert stats.key_events + stats.pointer_events == len(events)
    assert stats.frames_captured == 1


def test_rejects_empty_geometry() -> None:
    with pytest.raises(SourceError):
        DemoSource((0, 10))


# --- keysym helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keysym", "char"),
    [
        (0x41, "A"),
        (0x20, " "),
        (0xE9, "é"),
        (0xA0, "\u00a0"),
        (0x01000416, "Ж"),
        (0x0101F600, "😀"),
        (0xFFB0, "0"),
        (0xFFAF, "/"),
        (0x20AC, "€"),
        (keysyms.RETURN, None),
        (keysyms.SHIFT_L, None),
        (0x7F, None),
        (0x01000007, None),
        (0x0100D800, None),
        (0x01000378, None),
        (0x010000AD, "\u00ad"),
        (0xAD, "\u00ad"),
        (0x01002003, "\u2003"),
        (0x01110000, None),
    ],
)
def test_keysym_to_char(keysym: int, char: str | None) -> None:
    assert keysyms.keysym_to_char(keysym) == char


def test_keysym_names() -> None:
    assert keysyms.keysym_name(keysyms.RETURN) == "Return"
    assert keysyms.keysym_name(0xE9) == "eacute"
    assert keysyms.keysym_name(0x0100263A) == "U+263A"
    assert keysyms.keysym_name(0xDEADBEEF) == "0xdeadbeef"


def test_modifier_set() -> None:
    assert keysyms.SHIFT_KEYSYMS <= keysyms.MODIFIER_KEYSYMS
    assert {keysyms.CONTROL_L, keysyms.ALT_L, keysyms.ISO_LEVEL3_SHIFT} <= keysyms.MODIFIER_KEYSYMS
    assert ord("a") not in keysyms.MODIFIER_KEYSYMS


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFFFFFF))
def test_keysym_helpers_accept_any_u32(keysym: int) -> None:
    char = keysyms.keysym_to_char(keysym)
    assert char is None or (len(char) == 1 and unicodedata.category(char) not in {"Cc", "Cs"})
    assert keysyms.keysym_name(keysym)


# --- open_source --------------------------------------------------------------------------


async def test_open_source_demo() -> None:
    async with open_source(source_config("demo")) as source:
        assert isinstance(source, DemoSource)
        assert source.size == (320, 200)
        assert source.name == "vncd demo"


async def test_auto_without_display_is_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    async with open_source(source_config("auto", display="")) as source:
        assert isinstance(source, DemoSource)


async def test_unknown_kind_is_refused() -> None:
    with pytest.raises(SourceError, match="unknown source kind"):
        async with open_source(source_config("vnc")):
            pass
