"""The CI rules of tests/conftest.py and tests/requirements.py, applied to a small suite of the
same shape (tests/interop, tests/browser) run by pytest in a subprocess: under CI=true a
missing tool fails its test, and a run in which no test of one of those packages passed is
red even when nothing failed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

PASSES = "def test_passes():\n    pass\n"
NEEDS_A_TOOL = (
    "from tests.requirements import require_programs\n\n\n"
    "def test_needs_a_tool():\n    require_programs('no-such-tool-here')\n"
)


def run_suite(tmp_path: Path, interop: str, *arguments: str, ci: bool) -> tuple[int, str]:
    """pytest on a copy of our rules with one test in tests/interop (``interop``) and a
    passing one in tests/browser; its exit status and output."""
    suite = tmp_path / "tests"
    for package, test in ((suite / "interop", interop), (suite / "browser", PASSES)):
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
        (package / f"test_{package.name}.py").write_text(test)
    (suite / "__init__.py").write_text("")
    for name in ("conftest.py", "requirements.py"):
        shutil.copy(TESTS / name, suite / name)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci:
        env["CI"] = "true"
    # Without the plugins that the small suite does not need (pytest-trio imports Hypothesis,
    # which takes seconds to load).
    plugins = ("-p", "no:cacheprovider", "-p", "no:trio", "-p", "no:hypothesispytest")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", *plugins, *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout


def test_a_missing_tool_skips_locally_and_fails_under_ci(tmp_path: Path) -> None:
    status, output = run_suite(tmp_path, NEEDS_A_TOOL, "tests/interop", ci=False)
    assert status == 0, output
    assert "SKIPPED [1] " in output and "not installed: no-such-tool-here" in output
    status, output = run_suite(tmp_path, NEEDS_A_TOOL, "tests/interop", ci=True)
    assert status == 1, output
    assert "missing in CI (scripts/test must install it): not installed: no-such-tool-here" in (
        output
    )


def test_a_ci_run_without_a_passing_interop_test_is_red(tmp_path: Path) -> None:
    skipped = "import pytest\n\n\ndef test_skipped():\n    pytest.skip('no viewer')\n"
    status, output = run_suite(tmp_path, skipped, "tests", ci=True)
    assert status == 1, output
    assert "CI: no test in tests/interop/ passed" in output
    assert "1 passed, 1 skipped" in output  # the summary line is still there
    # Not under CI; not when the run leaves the package out on purpose; not when one passes.
    assert run_suite(tmp_path, skipped, "tests", ci=False)[0] == 0
    assert run_suite(tmp_path, skipped, "tests", "-k", "not skipped", ci=True)[0] == 0
    assert run_suite(tmp_path, skipped, "tests/browser", ci=True)[0] == 0
    assert run_suite(tmp_path, PASSES, "tests", ci=True)[0] == 0
