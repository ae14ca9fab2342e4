"""``python -m fuzz.cov TARGET [libFuzzer options] [CORPUS...]``: run one target under
libFuzzer with ``protocol`` instrumented for coverage (the harness itself is not).

Only ProtocolError may leave a target; any other exception, a timeout or the memory limit
is a crash that libFuzzer reports and saves (``-artifact_prefix``).
"""

from __future__ import annotations

import importlib
import sys

import atheris

from . import TARGETS

#: Modules only encoders use (no peer's bytes reach them; the server target still runs them,
#: uninstrumented). atheris 3.0 leaks the result of every instrumented comparison that is not
#: a bool, and these compare numpy arrays by the thousand: instrumented, they grew the server
#: target by about a MB every thousand inputs.
ENCODER_ONLY = [
    f"protocol.encodings.{name}"
    for name in (
        "_hextile_choice",
        "_rle_palettes",
        "_rle_tiles",
        "_tight_encode",
        "_tight_palette",
        "_tight_plan",
        "_tight_runs",
        "_tight_solid",
    )
]


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: python -m fuzz.cov {{{','.join(TARGETS)}}} [libFuzzer options]")
    # Instrument protocol (and only it) as it is imported: the target module is the first
    # to import it, so nothing may import protocol before this block.
    with atheris.instrument_imports(include=["protocol"], exclude=ENCODER_ONLY):
        target = importlib.import_module(TARGETS[argv[1]])
    atheris.Setup([argv[0], *argv[2:]], target.test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
