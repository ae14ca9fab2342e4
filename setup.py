"""The build hook: puts the web client (web/) and the noVNC files it loads into the sdist and
the wheel as vncd/web/, so that an installed vncd serves the browser page with no checkout and
no npm. Everything else about the project is in pyproject.toml.

From a checkout the files come from web/: the page, and from web/node_modules (installed by
`npm ci`, run here when noVNC is missing or is not the version web/package-lock.json pins) the
modules the page imports, found by following its imports, and noVNC's licence texts. Nothing
else of node_modules is shipped. An sdist already carries vncd/web/, which its wheel copies
as it is: building from an sdist needs no npm. The copy is written into the build and release
trees only, never into the checkout's vncd/, so a checkout keeps serving web/ as edited.
Editable installs copy nothing: they run from the checkout.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.errors import FileError

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
#: Where the copy lives in an sdist and in the wheel (and so in site-packages).
PACKAGED = Path("vncd", "web")
#: The page's own files that nothing imports; its modules are found from app.js.
PAGE = ("index.html", "style.css", "app.js")
NOVNC = Path("node_modules", "@novnc", "novnc")
#: noVNC's licence texts: LICENSE.txt names the rest (MPL 2.0 for core/, pako's MIT, ...).
NOVNC_LICENCES = ("AUTHORS", "LICENSE.txt", "docs/LICENSE.*", "vendor/pako/LICENSE")
#: A relative module specifier in `import ... from "./x.js"`, `export ... from` or `import "x"`.
RELATIVE_IMPORT = re.compile(r"""\b(?:from|import)\s*["'](\.\.?/[^"']+)["']""")


class WebClientMissing(FileError):
    """The build cannot find the web client: setuptools prints "error: " and the message
    (saying what to do about it), with no traceback."""


def imported_modules(entry: Path, root: Path) -> set[Path]:
    """``entry`` and every module it imports, directly or not, all of them inside ``root``."""
    found: set[Path] = set()
    pending = [entry.resolve()]
    while pending:
        module = pending.pop()
        if module in found:
            continue
        if not module.is_relative_to(root) or not module.is_file():
            raise WebClientMissing(f"{entry.name} imports {module}, which is not in {root}")
        found.add(module)
        for specifier in RELATIVE_IMPORT.findall(module.read_text(encoding="utf-8")):
            pending.append((module.parent / specifier).resolve())
    return found


def locked_novnc_version() -> str:
    lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
    return lock["packages"][NOVNC.as_posix()]["version"]


def installed_novnc_version() -> str | None:
    try:
        return json.loads((WEB / NOVNC / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_novnc() -> None:
    """Run `npm ci` in web/ unless web/node_modules has the noVNC the lock file pins."""
    wanted = locked_novnc_version()
    if installed_novnc_version() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise WebClientMissing(
            f"web/{NOVNC.as_posix()} {wanted} is not installed and npm is not on PATH: "
            "install npm (Debian: apt-get install npm) or run `npm ci` in web/ first"
        )
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True)
    if installed_novnc_version() != wanted:
        raise WebClientMissing(f"`npm ci` in web/ did not install {NOVNC.as_posix()} {wanted}")


def checkout_files() -> dict[Path, Path]:
    """The web client's files in a checkout: path under vncd/web/ -> file."""
    ensure_novnc()
    web = WEB.resolve()
    files = {web / name for name in PAGE} | imported_modules(web / "app.js", web)
    files |= {path for pattern in NOVNC_LICENCES for path in (web / NOVNC).glob(pattern)}
    return {path.relative_to(web): path for path in files}


def web_files() -> dict[Path, Path]:
    """What goes to vncd/web/: from the checkout's web/, or from an sdist's vncd/web/."""
    if (WEB / "package-lock.json").is_file():
        return checkout_files()
    packaged = ROOT / PACKAGED
    if not (packaged / "index.html").is_file():
        raise WebClientMissing(f"neither {WEB} (a checkout) nor {packaged} (an sdist) is here")
    return {path.relative_to(packaged): path for path in packaged.rglob("*") if path.is_file()}


def copy_web_client(destination: Path) -> None:
    for name, source in sorted(web_files().items()):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


class BuildPyWithWebClient(build_py):
    """build_py that also writes vncd/web/ into the wheel's tree."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            copy_web_client(Path(self.build_lib) / PACKAGED)


class SdistWithWebClient(sdist):
    """sdist that also writes vncd/web/ into the release tree."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        copy_web_client(Path(base_dir) / PACKAGED)


setup(cmdclass={"build_py": BuildPyWithWebClient, "sdist": SdistWithWebClient})
