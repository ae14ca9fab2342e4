"""vncd.moves: scrolls and drags found between two frames, every returned pixel exact.

Frames are synthetic and small: "photo-like" pixels each have their own colour (like the fine
texture of a photograph, so nothing matches by chance), terminal text is glyphs on a flat
background. Expected boxes are worked out in the comments.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vncd.moves import MAX_BOXES, Move, copy_order, find_move
from vncd.region import Box, subtract_all

from .cover import cover_count

HEIGHT, WIDTH = 480, 640
LINE = 16  # terminal line height; glyphs are 8 wide and inked on rows 2..13 of their line
GLYPHS = np.random.default_rng(7).random((26, 12, 8)) < 0.4


def photo_like(height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    frame = np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)
    frame[..., 3] = 0
    return frame


def flat(colour: tuple[int, int, int], height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    frame = np.zeros((height, width, 4), np.uint8)
    frame[..., :3] = colour
    return frame


def terminal(lines: int, columns: int, seed: int) -> np.ndarray:
    """Lines of random glyphs (a fifth of them spaces), light on dark, every line full."""
    rng = np.random.default_rng(seed)
    frame = flat((30, 24, 24), lines * LINE, columns * 8)
    for line in range(lines):
        for column in range(columns):
            if rng.random() < 0.2:
                continue
            ink = GLYPHS[rng.integers(len(GLYPHS))]
            cell = frame[line * LINE + 2 : line * LINE + 14, column * 8 : column * 8 + 8]
            cell[ink] = (200, 220, 200, 0)
    return frame


def paste(frame: np.ndarray, picture: np.ndarray, x: int, y: int) -> np.ndarray:
    pasted = frame.copy()
    pasted[y : y + picture.shape[0], x : x + picture.shape[1]] = picture
    return pasted


def window(width: int, height: int, seed: int, border=(90, 90, 96, 0)) -> np.ndarray:
    """A terminal with a one-pixel border."""
    picture = np.empty((height, width, 4), np.uint8)
    picture[...] = border
    picture[1:-1, 1:-1] = terminal(height // LINE + 1, width // 8 + 1, seed)[
        : height - 2, : width - 2
    ]
    return picture


def assert_exact(move: Move, old: np.ndarray, new: np.ndarray, changed: list[Box]) -> None:
    """Every box lies in the changed area, its source in the frame, its pixels are the old ones
    moved; and copying the boxes one after the other, as a viewer does, gives the new frame."""
    height, width = old.shape[:2]
    inside = np.zeros((height, width), bool)
    for box in changed:
        inside[box.slices()] = True
    viewer = old.copy()
    for box in move.boxes:
        source = move.source(box)
        assert not box.empty
        assert inside[box.slices()].all()
        assert Box(0, 0, width, height).contains(source)
        assert np.array_equal(new[box.slices()], old[source.slices()])
        viewer[box.slices()] = viewer[source.slices()]
    for box in move.boxes:
        assert np.array_equal(viewer[box.slices()], new[box.slices()])


def test_terminal_scrolls_up_three_lines() -> None:
    # A 64x24 terminal at (40, 32) scrolls by 3 lines: rows move up 48 pixels, 3 new lines.
    screen = photo_like()
    text = terminal(27, 64, seed=1)
    old = paste(screen, text[: 24 * LINE], 40, 32)
    new = paste(screen, text[3 * LINE :], 40, 32)
    changed = [Box(40, 32, 512, 384)]
    # Glyph rows 0-1 and 14-15 of every line are background, so the pixels that differ span
    # rows 34..413 (x 40..551). Moved up 48, the rows that have their source in there are
    # 34..365: one box of 512x332, every tile of it matching.
    assert find_move(old, new, changed) == Move(0, -48, (Box(40, 34, 512, 332),))


def test_window_dragged_over_photo() -> None:
    # A 240x160 window moves by (+37, -21) from (100, 120) to (137, 99); the whole screen is
    # reported. The differences span both places, (100, 99)-(377, 280); the destinations with
    # a source in there are exactly the new window (137, 99, 240, 160).
    screen = photo_like()
    picture = window(240, 160, seed=2)
    old, new = paste(screen, picture, 100, 120), paste(screen, picture, 137, 99)
    changed = [Box(0, 0, WIDTH, HEIGHT)]
    assert find_move(old, new, changed) == Move(37, -21, (Box(137, 99, 240, 160),))
    # The same seen through views of a part of the frames, in their coordinates.
    part = (slice(50, 400), slice(50, 500))
    moved = Move(37, -21, (Box(87, 49, 240, 160),))
    assert find_move(old[part], new[part], [Box(0, 0, 450, 350)]) == moved


def test_dragged_window_edges_found_to_the_pixel() -> None:
    # As above, but the window's border changes colour (it got the focus) and a clock at the
    # top left ticks. The differences now start at (8, 8), so the tiles are aligned to
    # (45, 8), not to the window: the tiles holding the border do not match, and the box grows
    # back pixel by pixel to the window's inside, (138, 100, 238, 158).
    screen = photo_like()
    old = paste(screen, window(240, 160, seed=2), 100, 120)
    new = paste(screen, window(240, 160, seed=2, border=(200, 120, 40, 0)), 137, 99)
    new[8:24, 8:48] = photo_like(16, 40, seed=3)
    changed = [Box(100, 99, 277, 181), Box(8, 8, 40, 16)]
    move = find_move(old, new, changed)
    assert move == Move(37, -21, (Box(138, 100, 238, 158),))


def test_window_dragged_over_flat_background() -> None:
    # Moved by (-30, +25): the changed boxes are the old and the new place, whose bounds are
    # (270, 200)-(500, 345). The uncovered background would match too (flat onto flat), but
    # the only destinations whose source lies in those bounds are the new window's.
    screen = flat((58, 110, 165))
    picture = window(200, 120, seed=4)
    old, new = paste(screen, picture, 300, 200), paste(screen, picture, 270, 225)
    changed = [Box(300, 200, 200, 120), Box(270, 225, 200, 120)]
    assert find_move(old, new, changed) == Move(-30, 25, (Box(270, 225, 200, 120),))


def test_horizontal_scroll() -> None:
    # A 400x200 timeline at (64, 64) scrolls 40 pixels left; its right 40 columns are new.
    screen = photo_like()
    strip = photo_like(200, 440, seed=5)
    old, new = paste(screen, strip[:, :400], 64, 64), paste(screen, strip[:, 40:], 64, 64)
    assert find_move(old, new, [Box(64, 64, 400, 200)]) == Move(-40, 0, (Box(64, 64, 360, 200),))


def test_nothing_moved() -> None:
    old = photo_like()
    # Unchanged, though the whole screen is reported.
    assert find_move(old, old.copy(), [Box(0, 0, WIDTH, HEIGHT)]) is None
    # New pixels from nowhere.
    noise = paste(old, photo_like(300, 400, seed=6), 100, 100)
    assert find_move(old, noise, [Box(100, 100, 400, 300)]) is None
    # The screen was resized: nothing to copy from, even where the pixels are the same.
    assert find_move(old, old[:, :600].copy(), [Box(0, 0, 600, HEIGHT)]) is None


def test_small_change_is_not_searched() -> None:
    # A 24x12 terminal scrolls one line. Its differences span rows 2..189 (columns 0..191):
    # the rows moved up 16 with a source in there are 2..173, one box. Reported as a box
    # smaller than 64x32, though, it is not worth a look.
    text = terminal(13, 24, seed=8)
    old, new = text[: 12 * LINE].copy(), text[LINE:].copy()
    assert find_move(old, new, [Box(0, 0, 192, 192)]) == Move(0, -16, (Box(0, 2, 192, 172),))
    assert find_move(old, new, [Box(0, 0, 60, 30)]) is None


def test_solid_area_moving_over_solid_area_is_not_a_move() -> None:
    # A red square moves by (30, 20) over grey: exact, but one colour is cheaper to encode.
    screen = flat((128, 128, 128))
    square = flat((200, 30, 30), 100, 100)
    old, new = paste(screen, square, 50, 50), paste(screen, square, 80, 70)
    assert find_move(old, new, [Box(50, 50, 130, 120)]) is None
    # The same with a detailed square is a move.
    detailed = photo_like(100, 100, seed=9)
    old, new = paste(screen, detailed, 50, 50), paste(screen, detailed, 80, 70)
    assert find_move(old, new, [Box(50, 50, 130, 120)]) == Move(30, 20, (Box(80, 70, 100, 100),))


def checkerboard(height: int, width: int) -> np.ndarray:
    """Black and white 4x4 squares: the same under any shift by a multiple of 8."""
    ys, xs = np.indices((height, width))
    board = flat((0, 0, 0), height, width)
    board[(ys // 4 + xs // 4) % 2 == 1] = (255, 255, 255, 0)
    return board


def test_periodic_pattern_takes_the_shift_of_its_landmark() -> None:
    # A 256x192 area of checkerboard at (32, 32) scrolls up 4 rows, with a detailed 48x32
    # landmark on it. Every shift by (4 + 8i, 8j) or (8i, 4 + 8j) moves the checkerboard onto
    # itself, but only (0, -4) moves the landmark: blocks of pattern are found in too many
    # places to propose anything. All 4-row shifts flip every row, so the differences span
    # the area: the move is the area less its 4 new bottom rows.
    area = checkerboard(196, 256)
    area[36:68, 40:88] = photo_like(32, 48, seed=10)
    screen = photo_like()
    old, new = paste(screen, area[:192], 32, 32), paste(screen, area[4:], 32, 32)
    assert find_move(old, new, [Box(32, 32, 256, 192)]) == Move(0, -4, (Box(32, 32, 256, 188),))
    # Without the landmark no shift can be told, whatever part of it would match.
    plain = checkerboard(196, 256)
    old, new = paste(screen, plain[:192], 32, 32), paste(screen, plain[4:], 32, 32)
    assert find_move(old, new, [Box(32, 32, 256, 192)]) is None


def test_fragmented_move_keeps_the_biggest_boxes() -> None:
    # A 1024x256 area at (32, 32) scrolls up 32 rows, and a one-pixel line is drawn every 48
    # columns from x = 52: the move splits into the 22 columns around the 21 lines, 20, 43
    # and twenty times 47 pixels wide, and the first 16 of the widest are kept.
    screen = photo_like(320, 1088)
    area = photo_like(288, 1024, seed=11)
    old, new = paste(screen, area[:256], 32, 32), paste(screen, area[32:], 32, 32)
    new[32:288, 32 + 20 : 32 + 1024 : 48] = (255, 0, 255, 0)
    changed = [Box(32, 32, 1024, 256)]
    move = find_move(old, new, changed)
    assert move is not None
    assert (move.dx, move.dy) == (0, -32)
    assert len(move.boxes) == MAX_BOXES
    assert {box.width for box in move.boxes} == {47}
    assert [box.x for box in move.boxes] == sorted(box.x for box in move.boxes)
    assert_exact(move, old, new, changed)


@st.composite
def moved_rectangles(draw: st.DrawFn) -> tuple[Box, int, int]:
    """A rectangle of at least 96x64 and an offset that keeps it in a 256x320 frame, moved by
    less than its size less an anchor, so that the middle of the change lies in its new place."""
    width = draw(st.integers(96, 224))
    height = draw(st.integers(64, 192))
    reach_x, reach_y = min(width - 32, 320 - width), min(height - 16, 256 - height)
    dx = draw(st.integers(-reach_x, reach_x))
    dy = draw(st.integers(-reach_y, reach_y))
    x = draw(st.integers(max(0, -dx), 320 - width - max(0, dx)))
    y = draw(st.integers(max(0, -dy), 256 - height - max(0, dy)))
    return Box(x, y, width, height), dx, dy


@given(moved_rectangles(), st.integers(0, 2**32 - 1), st.booleans())
@settings(max_examples=60, deadline=None)
def test_moved_rectangle_is_found_exactly(
    moved: tuple[Box, int, int], seed: int, separate_boxes: bool
) -> None:
    box, dx, dy = moved
    if (dx, dy) == (0, 0):
        return
    screen, picture = photo_like(256, 320, seed), photo_like(box.height, box.width, seed + 1)
    destination = Box(box.x + dx, box.y + dy, box.width, box.height)
    old, new = paste(screen, picture, box.x, box.y), paste(screen, picture, dx + box.x, dy + box.y)
    changed = [box, destination] if separate_boxes else [box.union(destination)]
    assert find_move(old, new, changed) == Move(dx, dy, (destination,))


@given(
    moved_rectangles(),
    st.integers(0, 2**32 - 1),
    st.lists(st.tuples(st.integers(0, 319), st.integers(0, 255)), max_size=40),
)
@settings(max_examples=60, deadline=None)
def test_every_returned_pixel_matches(
    moved: tuple[Box, int, int], seed: int, scribbles: list[tuple[int, int]]
) -> None:
    # The moved rectangle is scribbled over with small squares of new pixels, so the move
    # breaks into pieces, when it is still found.
    box, dx, dy = moved
    screen, picture = photo_like(256, 320, seed), photo_like(box.height, box.width, seed + 1)
    old, new = paste(screen, picture, box.x, box.y), paste(screen, picture, dx + box.x, dy + box.y)
    for index, (x, y) in enumerate(scribbles):
        new[y : y + 8, x : x + 8] = photo_like(8, 8, seed + index + 1)[: 256 - y, : 320 - x]
    changed = [Box(0, 0, 320, 256)]
    move = find_move(old, new, changed)
    if move is not None:
        assert (move.dx, move.dy) != (0, 0)
        assert_exact(move, old, new, changed)


@given(
    st.integers(-40, 40),
    st.integers(-40, 40),
    st.lists(st.tuples(st.integers(0, 150), st.integers(0, 100), st.integers(1, 60)), max_size=8),
)
@settings(max_examples=200, deadline=None)
def test_any_disjoint_boxes_of_a_move_copy_safely_in_copy_order(
    dx: int, dy: int, holes: list[tuple[int, int, int]]
) -> None:
    """What a viewer's copy becomes once stale parts are cut out of it: pieces in any order,
    which copy_order puts in an order that reads every source before it is overwritten."""
    frame = Box(0, 0, 200, 160)
    whole = frame.intersect(frame.moved(dx, dy))
    pieces = subtract_all([whole], [Box(x, y, size, size) for x, y, size in holes])
    ordered = copy_order(pieces, dx, dy)
    assert np.array_equal(cover_count(ordered, 160, 200), cover_count(pieces, 160, 200))
    old = photo_like(160, 200, seed=abs(dx * 100 + dy))
    viewer = old.copy()
    for box in ordered:
        source = box.moved(-dx, -dy)
        viewer[box.slices()] = viewer[source.slices()]
    for box in ordered:
        assert np.array_equal(viewer[box.slices()], old[box.moved(-dx, -dy).slices()])
