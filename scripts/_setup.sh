# Sourced by scripts/serve and scripts/test (run from the repository root): the project's
# virtualenv and the Debian packages, each set up only when missing or out of date.

# Install Debian packages without questions, as root or through sudo.
apt_install() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "$0: please install these packages as root: $*" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    echo "$0: installing $* with apt-get" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# Print those of the given Debian packages that are not installed.
missing_packages() {
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q ' installed$' \
            || echo "$package"
    done
}

make_venv() {
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "$0: vncd needs Python 3.11 or newer; python3 is $(python3 -V 2>&1)" >&2
        exit 1
    fi
    if ! python3 -m venv .venv; then
        # Debian ships venv's ensurepip separately, in python3-venv.
        rm -rf .venv
        apt_install python3-venv
        python3 -m venv .venv
    fi
}

# Create .venv if needed and install the project into it (editable) when pyproject.toml has
# changed since the last install. $1: what to install ("." or ".[test]"); $2: a stamp name.
ensure_venv() {
    local stamp=".venv/$2.stamp" hash
    hash=$(sha256sum pyproject.toml)
    [[ -x .venv/bin/python ]] || make_venv
    if [[ $(cat "$stamp" 2>/dev/null) != "$hash" ]]; then
        echo "$0: installing $1 into .venv" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$1"
        echo "$hash" >"$stamp"
    fi
}

# Install the browser client's dependency (noVNC, pinned in web/package-lock.json) into
# web/node_modules when it is missing or the lock file has changed since the last install.
ensure_web() {
    local stamp="web/node_modules/.vncd.stamp" hash
    hash=$(cat web/package.json web/package-lock.json | sha256sum)
    if [[ $(cat "$stamp" 2>/dev/null) != "$hash" ]]; then
        echo "$0: installing the web client's packages (npm ci in web/)" >&2
        (cd web && npm ci --no-audit --no-fund --loglevel=error)
        echo "$hash" >"$stamp"
    fi
}
