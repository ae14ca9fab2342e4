"""What a test needs from the machine, and what happens when it is missing.

On a developer's machine a missing tool or package skips the test with a reason. Under CI
(``CI=true``) the same absence *fails* the test, naming what is missing: CI installs
everything (``scripts/test``), so a skip there would hide a test that never ran. The only
exception is an optional extra that CI deliberately leaves out, named as such.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

#: Optional extras that CI does not install on purpose (none today: CI installs h264 too).
EXTRAS_LEFT_OUT_BY_CI: frozenset[str] = frozenset()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str, *, extra: str | None = None) -> NoReturn:
    """Skip with ``reason`` on a developer's machine; fail under CI, unless ``extra`` names an
    optional extra that CI deliberately does not install. Called at a test module's top level
    it skips the whole module (under CI: a collection error, which stops the run)."""
    if in_ci() and (extra is None or extra not in EXTRAS_LEFT_OUT_BY_CI):
        pytest.fail(f"missing in CI (scripts/test must install it): {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def venv_bin() -> Path:
    """The directory of the running interpreter's console scripts (the venv's bin/)."""
    return Path(sys.executable).parent


def which(program: str) -> str | None:
    """``program`` on PATH, or installed next to the running interpreter (vncdo, just)."""
    return shutil.which(program) or shutil.which(program, path=str(venv_bin()))


def program_path(name: str) -> str:
    """The path to run ``name`` by (found as by ``which``), for programs that may live in the
    venv only; skips (fails under CI) when it is not installed."""
    path = which(name)
    if path is None:
        unavailable(f"not installed: {name}")
    return path


def require_programs(*programs: str) -> None:
    """Skip (fail under CI) unless every program is installed."""
    missing = [program for program in programs if which(program) is None]
    if missing:
        unavailable(f"not installed: {', '.join(missing)}")
