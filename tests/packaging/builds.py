"""Building the sdist and wheel as the README says (`python -m build`), from a copy of the
checkout in tmp (git's files, and web/node_modules unless a test leaves it out), so the
checkout itself is never written to; with `--no-isolation`: the test extra's setuptools, no
downloads. Reading the web client's files back out of what was built."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import attrs
import pytest

from tests.requirements import unavailable, venv_bin

try:
    import build  # noqa: F401  (run as `python -m build`)
except ImportError:
    unavailable("build is not installed (the test extra has it: ./scripts/test)")

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = "vncd/web/"
NOVNC = "node_modules/@novnc/novnc/"
#: noVNC's licence overview and the texts of the licences of what the page loads: MPL 2.0
#: (noVNC's core) and MIT (its copy of pako).
LICENCES = {f"{NOVNC}LICENSE.txt", f"{NOVNC}docs/LICENSE.MPL-2.0", f"{NOVNC}vendor/pako/LICENSE"}
BUILD_SECONDS = 120


@attrs.frozen
class Built:
    """What `python -m build` made from a checkout."""

    sdist: Path
    #: `python -m build`'s wheel, which it builds from the sdist (here: with no npm on PATH).
    wheel: Path
    #: `python -m build --wheel`: straight from the checkout.
    direct_wheel: Path


def checkout_copy(destination: Path, *, node_modules: bool) -> Path:
    """What a clone of the checkout holds (git's files, tracked or new, not ignored), with
    web/node_modules as `npm ci` left it when ``node_modules``: a checkout to build from."""
    if shutil.which("git") is None:
        unavailable("git is not installed")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # not deleted in the work tree
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    if node_modules:
        if not (ROOT / "web" / NOVNC).is_dir():
            unavailable("noVNC is not installed: run `npm ci` in web/ (./scripts/test does)")
        shutil.copytree(ROOT / "web/node_modules", destination / "web/node_modules")
    return destination


def environment(path: Path) -> dict[str, str]:
    """This process's environment with ``path`` as the whole PATH (no npm there), and nothing
    that points Python at the checkout or at the project's venv."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env["PATH"] = str(path)
    assert shutil.which("npm", path=env["PATH"]) is None
    return env


def python_build(
    source: Path, outdir: Path, *options: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`python -m build --no-isolation` in ``source``; the caller checks how it went."""
    return subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), *options],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
    )


def built_one(outdir: Path, pattern: str) -> Path:
    (path,) = outdir.glob(pattern)
    return path


def built_from_checkout(factory: pytest.TempPathFactory) -> Built:
    """The README's `python -m build` (sdist, then a wheel from it) and `--wheel` alone, from
    a copy of the checkout, with no npm on PATH: once per test session (its base temporary
    directory), for the tests here and in tests/browser."""
    return _built_under(factory.getbasetemp())


@functools.cache
def _built_under(basetemp: Path) -> Built:
    tmp = basetemp / "build"
    tmp.mkdir()
    source = checkout_copy(tmp / "checkout", node_modules=True)
    env = environment(venv_bin())
    for outdir, options in ((tmp / "dist", ()), (tmp / "direct", ("--wheel",))):
        done = python_build(source, outdir, *options, env=env)
        assert done.returncode == 0, f"python -m build failed:\n{done.stdout}\n{done.stderr}"
    dist = tmp / "dist"
    assert len(list(dist.iterdir())) == 2
    return Built(
        sdist=built_one(dist, "vncd-*.tar.gz"),
        wheel=built_one(dist, "vncd-*-py3-none-any.whl"),
        direct_wheel=built_one(tmp / "direct", "vncd-*-py3-none-any.whl"),
    )


def web_files(archive: Path) -> dict[str, bytes]:
    """The files under vncd/web/ in a wheel or an sdist: path below it -> content."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return {
                name.removeprefix(PACKAGED): wheel.read(name)
                for name in wheel.namelist()
                if name.startswith(PACKAGED)
            }
    with tarfile.open(archive) as sdist:
        found = {}
        for member in sdist.getmembers():
            name = PurePosixPath(*PurePosixPath(member.name).parts[1:]).as_posix()
            if member.isfile() and name.startswith(PACKAGED):
                found[name.removeprefix(PACKAGED)] = sdist.extractfile(member).read()
        return found
