"""Fixtures shared by the tests of X sources (each module provides its ``display``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import Xlib.display


@pytest.fixture
def x_client(display: str) -> Iterator[Xlib.display.Display]:
    """A plain X connection playing the part of a desktop application."""
    client = Xlib.display.Display(display)
    yield client
    client.close()
