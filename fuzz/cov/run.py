"""``python -m fuzz.cov.run [--runs N] [--time SECONDS] [TARGET...]``: write the seeds, then
run each target (all by default) one after the other, each in its own process, with
libFuzzer's bounds on time, memory and input size. New inputs collect in
fuzz/cov/corpus/TARGET (kept between runs, not in git); a crash is saved in
fuzz/cov/findings/ and makes the exit status 1. ``just fuzz-cov`` calls this.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from . import TARGETS
from .seeds import write_seeds

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: Resident memory a target may reach: the interpreter with numpy, PyAV and the keys takes
#: about 90 MB; what an input adds must stay a few MB (_harness also caps address space).
RSS_LIMIT_MB = 256
#: An input that takes longer than this is a hang (libFuzzer's -timeout, seconds).
TIMEOUT = 10
#: The largest input: bigger than every seed, small enough to keep thousands of runs a
#: second (every length check in protocol is reachable within it).
MAX_LEN = 16384


def command(
    target: str,
    corpora: list[Path],
    artifacts: str,
    *,
    runs: int | None = None,
    seconds: int | None = None,
    seed: int | None = None,
) -> list[str]:
    """The command line that runs ``target`` over ``corpora`` (the first one collects new
    inputs); a crash is written to ``artifacts`` + its name."""
    options = [
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-malloc_limit_mb={RSS_LIMIT_MB}",
        f"-timeout={TIMEOUT}",
        f"-max_len={MAX_LEN}",
        f"-artifact_prefix={artifacts}",
        "-print_final_stats=1",
    ]
    for name, value in (("runs", runs), ("max_total_time", seconds), ("seed", seed)):
        if value is not None:
            options.append(f"-{name}={value}")
    return [sys.executable, "-m", "fuzz.cov", target, *options, *map(str, corpora)]


def from_a_small_parent(argv: list[str]) -> list[str]:
    """``argv`` run by a small Python process in between. Linux keeps a process's peak RSS
    (what -rss_limit_mb checks) across fork and exec, so a target started straight from a
    big process (pytest at the end of the suite: 450 MB) would start over the limit; a
    grandchild starts from the small process's peak."""
    relay = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
    return [sys.executable, "-c", relay, *argv]


def run(target: str, *, runs: int | None, seconds: int | None) -> int:
    """Fuzz one target over its seeds and its kept corpus; libFuzzer's exit status."""
    seeds, corpus = HERE / "corpus" / "seeds" / target, HERE / "corpus" / target
    write_seeds(seeds, target)
    corpus.mkdir(parents=True, exist_ok=True)
    findings = HERE / "findings"
    findings.mkdir(exist_ok=True)
    start = time.monotonic()
    argv = command(target, [corpus, seeds], f"{findings}/{target}-", runs=runs, seconds=seconds)
    status = subprocess.call(argv, cwd=ROOT)
    print(f"== {target}: exit status {status} after {time.monotonic() - start:.0f} s", flush=True)
    return status


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fuzz.cov.run", description=__doc__)
    parser.add_argument("--runs", type=int, help="inputs per target (libFuzzer -runs)")
    parser.add_argument("--time", type=int, help="seconds per target (-max_total_time)")
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], metavar="TARGET")
    args = parser.parse_args(argv)
    failed = [
        name
        for name in args.targets or TARGETS
        if run(name, runs=args.runs, seconds=args.time) != 0
    ]
    if failed:
        sys.exit(f"crashed: {' '.join(failed)} (see fuzz/cov/findings/)")


if __name__ == "__main__":
    main(sys.argv[1:])
