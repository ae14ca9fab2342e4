"""The coverage-guided targets (fuzz/cov) run briefly, as CI does: each over its seeds and a
fixed number of inputs, in a process of its own, under the same limits as a long campaign.
Any crash, hang or memory blow-up fails the test with libFuzzer's report; a long run is
``just fuzz-cov``."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest

from fuzz.cov import TARGETS
from tests.requirements import unavailable

if importlib.util.find_spec("atheris") is None:
    unavailable("not installed: atheris (the test extra)")

from fuzz.cov.run import ROOT, command, from_a_small_parent  # after the check: needs atheris
from fuzz.cov.seeds import write_seeds

#: Inputs per target beyond its seeds: a few seconds each on this 2-core machine.
RUNS = 3000


@pytest.mark.parametrize("target", TARGETS)
def test_target_survives(target: str, tmp_path) -> None:
    seeds, corpus = tmp_path / "seeds", tmp_path / "corpus"
    write_seeds(seeds, target)
    corpus.mkdir()
    # A fixed seed makes a failure repeatable.
    argv = from_a_small_parent(command(target, [corpus, seeds], f"{tmp_path}/", runs=RUNS, seed=1))
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    # libFuzzer's progress lines ("#123 NEW ...") and the instrumentation notices would bury
    # the traceback.
    report = "\n".join(
        line for line in result.stderr.splitlines() if not line.startswith(("#", "INFO:"))
    )
    assert result.returncode == 0, f"{target} crashed:\n{report[-6000:]}"
    assert f"Done {RUNS} runs" in report, report[-3000:]
