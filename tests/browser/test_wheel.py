"""The wheel, installed with pip into a fresh venv, serves a working page from `vncd run` with
no checkout and no npm (README: "Install from a wheel"). It lives here, not in
tests/packaging, because it needs this directory's Chromium: Playwright's sync API runs one
instance per process."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import attrs
import pytest

from tests.interop.vncd_process import VncdProcess, x11_source
from tests.interop.xclients import busy_desktop
from tests.packaging.builds import LICENCES, NOVNC, built_from_checkout, environment, web_files
from tests.requirements import unavailable

from .test_web_client import assert_page_shows_the_desktop, few_colour_scene

try:
    from playwright.sync_api import Page
except ImportError:  # ./scripts/test installs it
    unavailable("playwright is not installed (./scripts/test installs it)")

pytestmark = pytest.mark.browser

#: Prints where vncd and protocol are imported from, and vncd's web root.
WHERE_FROM = """
import json, protocol, vncd, vncd.transports.http as http
print(json.dumps([vncd.__file__, protocol.__file__, str(http.DEFAULT_WEB_ROOT)]))
"""


@attrs.frozen
class Installed:
    """A venv with the wheel installed, and the environment to run it in."""

    bin: Path
    site_packages: Path
    env: dict[str, str]


def install(wheel: Path, venv: Path) -> Installed:
    """A fresh venv with ``wheel`` installed by pip. The README's `pip install` fetches vncd's
    dependencies too; here the venv finds them in the project's venv instead (offline, and
    seconds instead of a minute)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-index", wheel], check=True)
    env = environment(venv / "bin")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A path line, so that the project venv's own .pth files (its editable vncd, which is the
    # checkout) are not read.
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return Installed(bin=venv / "bin", site_packages=Path(site), env=env)


def test_installed_wheel_serves_the_page_with_no_checkout_and_no_npm(
    tmp_path_factory: pytest.TempPathFactory, xvfb: str, page: Page, tmp_path: Path
) -> None:
    """`vncd run` from the venv, started outside the checkout with no npm on PATH, serves a
    page on which noVNC draws the desktop pixel for pixel. The page loads every file the
    wheel carries under vncd/web/ but the licences, and nothing else; `[http] web_root` still
    overrides the packaged copy."""
    wheel = built_from_checkout(tmp_path_factory).wheel
    installed = install(wheel, tmp_path / "venv")
    probe = subprocess.run(
        [installed.bin / "python", "-c", WHERE_FROM],
        cwd=tmp_path,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    )
    vncd_file, protocol_file, web_root = map(Path, json.loads(probe.stdout))
    assert vncd_file == installed.site_packages / "vncd" / "__init__.py"
    assert protocol_file == installed.site_packages / "protocol" / "__init__.py"
    assert web_root == installed.site_packages / "vncd" / "web"

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    server = VncdProcess(
        tmp_path / "vncd",
        x11_source(xvfb),
        command=[str(installed.bin / "vncd")],
        cwd=tmp_path,
        env=installed.env,
    )
    try:
        with busy_desktop(xvfb, few_colour_scene()):
            server.start()
            assert_page_shows_the_desktop(page, server.url(), xvfb)
        # The checkout's web/node_modules has noVNC's documentation; the wheel has not.
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{server.url()}{NOVNC}docs/API.md", timeout=10)
        assert missing.value.code == 404

        server.stop()
        own = tmp_path / "own-page"
        own.mkdir()
        (own / "index.html").write_text("<title>own page</title>\n")
        server.config += f'[http]\nweb_root = "{own}"\n'
        server.start()
        with urllib.request.urlopen(server.url(), timeout=10) as response:
            assert response.read() == b"<title>own page</title>\n"
    finally:
        server.stop()

    loaded = {
        urlsplit(url).path.removeprefix("/") or "index.html"
        for url in requested
        if url.startswith(server.url())
    }
    carried = web_files(wheel).keys()
    assert loaded <= carried
    unloaded = carried - loaded
    assert unloaded >= LICENCES
    assert all(PurePosixPath(name).name.startswith(("LICENSE", "AUTHORS")) for name in unloaded)
