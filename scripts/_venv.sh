# Shared by scripts/run and scripts/test: find Python 3.11 and create .venv when missing.
# shellcheck shell=bash

find_python() {
    for candidate in "${PYTHON:-}" python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "Vanguard needs Python 3.11 (set PYTHON=/path/to/python3.11)." >&2
    return 1
}

ensure_venv() {
    # $1: the lock to install, "base" (runtime: requirements/base.txt) or "dev" (runtime + the dev extras:
    # requirements/dev.txt). Every package comes pinned with its hashes (scripts/lock writes both files), so each
    # install resolves to the same files; then the project itself, from this checkout, adding nothing: the lock
    # holds its dependencies and the setuptools that builds it.
    local lock="requirements/$1.txt"
    if [ ! -f "$lock" ]; then
        echo "No lock file $lock (expected base or dev)." >&2
        return 1
    fi
    if [ ! -x .venv/bin/python ]; then
        local python
        python="$(find_python)"
        echo "==> creating .venv with $python"
        "$python" -m venv .venv
    fi
    echo "==> installing $lock"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock" || return 1
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . || return 1
}
