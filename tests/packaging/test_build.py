"""The sdist and wheel that `python -m build` makes (setup.py's hook) carry the web client and
the noVNC files it loads, with noVNC's licences, taken from web/ and web/node_modules (after
`npm ci` when noVNC is missing or not the pinned version); a wheel built from the sdist
needs no npm (README: "Install from a wheel"). tests/browser/test_wheel.py installs the wheel
and loads the page."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.requirements import unavailable, venv_bin
from vncd.transports.http import DEFAULT_WEB_ROOT

from .builds import (
    LICENCES,
    NOVNC,
    ROOT,
    built_from_checkout,
    built_one,
    checkout_copy,
    environment,
    python_build,
    web_files,
)


def test_sdist_and_wheels_carry_the_page_with_noVNC_and_its_licences(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The same files in the sdist, its wheel (built with no npm on PATH) and the wheel built
    straight from the checkout, each one the checkout's file at the same place below web/
    (the page imports noVNC by that relative path)."""
    built = built_from_checkout(tmp_path_factory)
    carried = web_files(built.sdist)
    assert web_files(built.wheel) == carried
    assert web_files(built.direct_wheel) == carried
    assert {"index.html", "app.js", f"{NOVNC}core/rfb.js"} | LICENCES <= carried.keys()
    for name, content in carried.items():
        assert (ROOT / "web" / name).read_bytes() == content, name


@pytest.mark.parametrize("node_modules", ["missing", "another noVNC"])
def test_a_build_runs_npm_ci_unless_web_has_the_pinned_noVNC(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, node_modules: str
) -> None:
    """With npm on PATH, a checkout whose web/node_modules lacks noVNC, or has a version other
    than web/package-lock.json's, gets `npm ci` and the same sdist."""
    if shutil.which("npm") is None:
        unavailable("npm is not installed (./scripts/test installs it)")
    source = checkout_copy(tmp_path / "checkout", node_modules=node_modules != "missing")
    if node_modules == "another noVNC":
        package = source / "web" / NOVNC / "package.json"
        package.write_text(json.dumps({**json.loads(package.read_text()), "version": "1.0.0"}))
    done = python_build(source, tmp_path / "dist", "--sdist", env=dict(os.environ))
    assert done.returncode == 0, f"python -m build failed:\n{done.stdout}\n{done.stderr}"
    sdist = built_one(tmp_path / "dist", "vncd-*.tar.gz")
    assert web_files(sdist) == web_files(built_from_checkout(tmp_path_factory).sdist)


def test_a_build_without_noVNC_or_npm_stops_saying_so(tmp_path: Path) -> None:
    source = checkout_copy(tmp_path / "checkout", node_modules=False)
    done = python_build(source, tmp_path / "dist", "--sdist", env=environment(venv_bin()))
    assert done.returncode != 0
    lock = json.loads((ROOT / "web/package-lock.json").read_text())
    version = lock["packages"][NOVNC.removesuffix("/")]["version"]
    assert (
        f"error: web/{NOVNC.removesuffix('/')} {version} is not installed and npm is not on "
        "PATH: install npm (Debian: apt-get install npm) or run `npm ci` in web/ first"
    ) in done.stdout + done.stderr


def test_a_checkout_serves_its_web_directory() -> None:
    assert DEFAULT_WEB_ROOT == ROOT / "web"
