"""Coverage-guided fuzz targets (atheris, libFuzzer) for the parts of ``protocol`` that read
what a peer sends: the server's and the client's connection, every decoder, the security
handlers and the Extended Clipboard.

``python -m fuzz.cov TARGET [libFuzzer options] [CORPUS...]`` runs one target with only
``protocol`` instrumented; ``python -m fuzz.cov.seeds DIR`` writes the seed corpora, made
from real traffic by protocol's own writers and encoders. ``just fuzz-cov`` wraps both.
"""

from __future__ import annotations

#: Target name → its module; each defines ``test_one_input(data)`` and ``seeds()``.
TARGETS = {
    "server": "fuzz.cov.server",
    "client": "fuzz.cov.client",
    "decoders": "fuzz.cov.decoders",
    "security": "fuzz.cov.security",
    "clipboard": "fuzz.cov.clipboard",
}
