# Developer recipes; `just` itself comes with the test extra (.venv/bin/just after
# ./scripts/test). `just --list` shows them.

set positional-arguments

bin := ".venv/bin"

# Serve etc/vncd.toml (arguments go to `vncd run`)
serve *args:
    ./scripts/serve "$@"

# Install what is missing, lint, run the tests (arguments go to pytest)
test *args:
    ./scripts/test "$@"

# Only the browser client's end-to-end tests (headless Chromium; arguments go to pytest)
test-browser *args:
    ./scripts/test tests/browser "$@"

# Lint and check formatting without changing files
lint:
    {{ bin }}/ruff check .
    {{ bin }}/ruff format --check .

# Fix what ruff can fix and format the code
fmt:
    {{ bin }}/ruff check --fix .
    {{ bin }}/ruff format .

# Run the Hypothesis state machines long (arguments go to pytest)
fuzz *args:
    FUZZ_EXAMPLES=20000 {{ bin }}/python -m pytest fuzz/ "$@"

# Coverage-guided fuzzing with atheris, each target in turn (or those named), e.g.
# `just fuzz-cov --runs 200000 client`; --runs N inputs and/or --time SECONDS per target
fuzz-cov *args:
    {{ bin }}/python -m fuzz.cov.run "$@"

# Run every benchmark (each module of benchmarks/ with a main block)
bench:
    #!/usr/bin/env bash
    set -euo pipefail
    for path in $(grep -l '^if __name__ == "__main__":' benchmarks/*.py); do
        module="benchmarks.$(basename "$path" .py)"
        echo "== $module"
        {{ bin }}/python -m "$module"
    done

# vncd beside x0vncserver and x11vnc on one Xvfb; a full run rewrites docs/performance.md
bench-side *args:
    {{ bin }}/python -m benchmarks.sidebyside "$@"
