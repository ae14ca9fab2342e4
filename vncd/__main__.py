"""``python -m vncd``: the same as the ``vncd`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
