"""The README's minimal client ("Using `protocol` on its own") runs as printed against a real
`vncd run`: a reader who copies it gets the desktop's name and size, then an update."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.interop.vncd_process import vncd_launcher

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Using `protocol` on its own"


def readme_example() -> str:
    """The first Python code block of the README's section on `protocol`."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SECTION) :]
    found = re.search(r"^```python\n(.*?)^```$", section, re.M | re.S)
    assert found, f"no Python example under {SECTION!r}"
    return found[1]


def test_the_protocol_example_talks_to_vncd(tmp_path: Path) -> None:
    example = readme_example()
    assert '("127.0.0.1", 5900)' in example
    config = 'name = "README demo"\n[source]\nkind = "demo"\ngeometry = "320x200"\n'
    with vncd_launcher(tmp_path) as start:
        port = start(config).port
        code = example.replace('("127.0.0.1", 5900)', f'("127.0.0.1", {port})')
        # Only appended, so the example itself stays as printed: what its last line got.
        code += "print(type(update).__name__, len(update.rectangles) > 0)\n"
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "README demo 320 200\nFramebufferUpdate True\n"
