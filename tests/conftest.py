"""Rules for a whole test run. Under CI, a run that includes the real-viewer tests
(tests/interop) or the browser tests (tests/browser) must see at least one of them pass:
those packages depend on tools that CI installs, and "all skipped" or "none collected" would
otherwise end green without having tested anything against a real client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.requirements import in_ci

TESTS = Path(__file__).resolve().parent
#: Packages of which a CI run that includes them must see a test pass.
MUST_PASS = (TESTS / "interop", TESTS / "browser")
#: Options that leave tests out, or run none, on purpose: such a run is not held to MUST_PASS.
PARTIAL_RUN_OPTIONS = (
    "keyword", "markexpr", "deselect", "ignore", "ignore_glob", "lf", "stepwise",
    "collectonly", "setuponly", "setupplan",
)  # fmt: skip


class PackagesMustPass:
    """Counts passed tests per package of MUST_PASS; ends the run red if one that the run
    included has none."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.included = [package for package in MUST_PASS if self.includes(package)]
        self.passed: set[Path] = set()
        self.unrun: list[Path] = []

    def includes(self, package: Path) -> bool:
        """Whether the run's arguments name ``package`` or a directory above it, with nothing
        chosen out (``pytest`` alone runs the testpaths: tests/ and fuzz/)."""
        if any(self.config.getoption(option, None) for option in PARTIAL_RUN_OPTIONS):
            return False
        here = self.config.invocation_params.dir
        for argument in self.config.args:
            path = (here / argument.split("::")[0]).resolve()
            if package.is_relative_to(path):
                return True
        return False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            path = (self.config.rootpath / report.nodeid.split("::")[0]).resolve()
            self.passed.update(p for p in self.included if path.is_relative_to(p))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.unrun = [package for package in self.included if package not in self.passed]
        if self.unrun and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for package in self.unrun:
            name = package.relative_to(TESTS.parent)
            terminalreporter.write_sep(
                "=", f"CI: no test in {name}/ passed; see the skips and errors above", red=True
            )


def pytest_configure(config: pytest.Config) -> None:
    if in_ci():
        config.pluginmanager.register(PackagesMustPass(config), "packages-must-pass")
