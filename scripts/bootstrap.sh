#!/usr/bin/env bash
# Installs the two tools everything else runs on (uv and nox) with pip, and makes the pyenv
# interpreters (if any) visible to them. Sourced by test.sh and demo.sh.
set -euo pipefail
PY=${PYTHON:-$(command -v python3 || command -v python)}
TOOLS=("uv>=0.5" "nox>=2024.10.9")
"$PY" -m pip install --quiet --disable-pip-version-check "${TOOLS[@]}" 2>/dev/null \
    || "$PY" -m pip install --quiet --disable-pip-version-check --user "${TOOLS[@]}"
if [ -z "${PYENV_VERSION:-}" ] && [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
    versions=""
    for v in 3.11 3.10 3.12 3.13; do
        found=$(ls "${PYENV_ROOT:-$HOME/.pyenv}/versions" | grep -E "^${v//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
        [ -n "$found" ] && versions="${versions:+$versions:}$found"
    done
    [ -n "$versions" ] && export PYENV_VERSION="$versions"
fi
export NOX="$PY -m nox"
