"""Where a viewer's picture is lossy and when it is sent again exactly (no I/O, no clock)."""

from __future__ import annotations

from vncd.refresh import MAX_AREAS, REFRESH_DELAY, LossyAreas
from vncd.region import Box


def test_a_lossy_area_is_due_once_it_stood_still_for_the_delay():
    lossy = LossyAreas()
    lossy.sent(Box(0, 0, 100, 50), lossy=True, now=1.0)
    assert lossy.due_at() == 1.0 + REFRESH_DELAY
    assert lossy.due(1.0 + REFRESH_DELAY / 2) == []
    assert lossy.due(1.0 + REFRESH_DELAY) == [Box(0, 0, 100, 50)]


def test_sending_an_area_again_restarts_its_wait_or_makes_it_exact():
    lossy = LossyAreas()
    lossy.sent(Box(0, 0, 100, 50), lossy=True, now=1.0)
    lossy.sent(Box(0, 0, 100, 50), lossy=True, now=2.0)  # it changed: lossy again, later
    assert lossy.due(2.0) == [] and lossy.due_at() == 2.0 + REFRESH_DELAY
    lossy.sent(Box(0, 0, 60, 50), lossy=False, now=2.1)  # part of it went exact
    assert lossy.boxes == [Box(60, 0, 40, 50)]
    lossy.sent(Box(60, 0, 40, 50), lossy=False, now=2.2)
    assert not lossy and lossy.due_at() is None


def test_a_refresh_is_bounded_and_takes_the_oldest_areas_first():
    lossy = LossyAreas()
    lossy.sent(Box(0, 500, 1000, 400), lossy=True, now=2.0)
    lossy.sent(Box(0, 0, 100, 10), lossy=True, now=1.0)
    assert lossy.due(3.0, budget=11_000) == [Box(0, 0, 100, 10), Box(0, 500, 1000, 10)]


def test_copied_pixels_carry_their_lossiness():
    lossy = LossyAreas()
    lossy.sent(Box(0, 40, 100, 20), lossy=True, now=1.0)
    # Scroll up by 30 rows over the area 0..100 x 0..70: rows 30..70 move to 0..40.
    lossy.copied(0, -30, (Box(0, 0, 100, 40),))
    assert sorted(lossy.boxes, key=lambda box: box.y) == [Box(0, 10, 100, 20), Box(0, 40, 100, 20)]
    # Exact pixels copied over a lossy area make it exact.
    lossy.copied(0, -100, (Box(0, 0, 100, 40),))
    assert lossy.boxes == [Box(0, 40, 100, 20)]


def test_many_areas_are_merged_but_none_is_forgotten():
    lossy = LossyAreas()
    for index in range(MAX_AREAS + 1):
        lossy.sent(Box(index * 10, 0, 5, 5), lossy=True, now=float(index))
    assert len(lossy.boxes) <= MAX_AREAS
    covered = lossy.boxes
    for index in range(MAX_AREAS + 1):
        assert any(box.contains(Box(index * 10, 0, 5, 5)) for box in covered)


def test_with_the_refresh_off_nothing_is_kept():
    lossy = LossyAreas(delay=None)
    lossy.sent(Box(0, 0, 100, 50), lossy=True, now=1.0)
    assert not lossy and lossy.due_at() is None and lossy.due(100.0) == []
