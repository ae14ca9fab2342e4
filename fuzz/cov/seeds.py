"""``python -m fuzz.cov.seeds DIR [TARGET...]``: write each target's seed corpus to
DIR/TARGET, one file per seed named by its hash (so reruns rewrite the same files). The seeds
are real traffic made by protocol's own writers and encoders, never stored in the repository.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

from . import TARGETS


def write_seeds(directory: Path, name: str) -> int:
    """Write target ``name``'s seeds into ``directory`` (created); returns how many."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in importlib.import_module(TARGETS[name]).seeds():
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        count += 1
    return count


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not set(argv[2:]) <= set(TARGETS):
        sys.exit(f"usage: python -m fuzz.cov.seeds DIR [{' '.join(TARGETS)}]")
    for name in argv[2:] or TARGETS:
        print(f"{name}: {write_seeds(Path(argv[1]) / name, name)} seeds")


if __name__ == "__main__":
    main(sys.argv)
