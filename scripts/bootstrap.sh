#!/usr/bin/env bash
# Makes the two tools everything else runs on (uv and nox) available, without touching the
# Python it is given: they go into a private folder of the checkout, `.tools/`. So it works on a
# system Python that refuses `pip install` (PEP 668: "externally-managed-environment").
# Sourced from the checkout's root by test.sh and demo.sh; exports NOX (the command that runs
# nox) and puts uv on PATH.
#
# Ways, first that works wins (each one measured by scripts/check_bootstrap.py):
#   venv        `python -m venv .tools`, then its own pip installs uv and nox;
#   venv+pip    no ensurepip (Debian without python3-venv): `python -m venv --without-pip .tools`,
#               filled by the interpreter's own pip (`pip --python .tools/bin/python install`);
#   target      no venv module at all: `pip install --target .tools/site` (nox is started
#               with that folder on sys.path, never through PYTHONPATH, so the sessions'
#               interpreters never see it);
#   user        last resort: `pip install --user --break-system-packages`.
# A `.tools/` that already answers `nox --version` and `uv --version` is reused as it is.
#
# Environment: PYTHON (the interpreter to use; default python3, else python), TWAT_TOOLS_DIR
# (default .tools), TWAT_BOOTSTRAP (force one way: venv, venv+pip, target or user).
set -euo pipefail

PY=${PYTHON:-$(command -v python3 || command -v python || true)}
if [ -z "$PY" ]; then
    echo "bootstrap: no python3 or python on PATH (set PYTHON=/path/to/python)" >&2
    return 1 2>/dev/null || exit 1
fi
TOOLS_DIR=${TWAT_TOOLS_DIR:-$PWD/.tools}
TOOLS_REQS=("uv>=0.5" "nox>=2024.10.9")
PIP_QUIET=(--quiet --disable-pip-version-check --no-input)

_tw_bin() { # the scripts folder of a venv (bin, or Scripts on Windows)
    if [ -d "$1/Scripts" ] && [ ! -d "$1/bin" ]; then echo "$1/Scripts"; else echo "$1/bin"; fi
}

_tw_ready_venv() { # .tools is a working venv with both tools
    local bin
    bin=$(_tw_bin "$TOOLS_DIR")
    [ -x "$bin/python" ] && "$bin/python" -m nox --version >/dev/null 2>&1 \
        && [ -x "$bin/uv" ] && "$bin/uv" --version >/dev/null 2>&1
}

_tw_ready_target() { # .tools/site holds both tools for this interpreter
    [ -x "$TOOLS_DIR/nox" ] && "$TOOLS_DIR/nox" --version >/dev/null 2>&1 \
        && [ -x "$TOOLS_DIR/site/bin/uv" ] && "$TOOLS_DIR/site/bin/uv" --version >/dev/null 2>&1
}

_tw_use_venv() {
    local bin
    bin=$(_tw_bin "$TOOLS_DIR")
    export PATH="$bin:$PATH"
    NOX="$bin/python -m nox"
}

_tw_use_target() {
    export PATH="$TOOLS_DIR/site/bin:$PATH"
    NOX="$TOOLS_DIR/nox"
}

_tw_install_venv() {
    rm -rf "$TOOLS_DIR"
    "$PY" -m venv "$TOOLS_DIR" >/dev/null 2>&1 || return 1
    local bin
    bin=$(_tw_bin "$TOOLS_DIR")
    "$bin/python" -m pip install "${PIP_QUIET[@]}" "${TOOLS_REQS[@]}"
}

_tw_install_venv_pip() {
    rm -rf "$TOOLS_DIR"
    "$PY" -m venv --without-pip "$TOOLS_DIR" >/dev/null 2>&1 || return 1
    local bin
    bin=$(_tw_bin "$TOOLS_DIR")
    # pip >= 22.3 installs into another interpreter's environment; the PEP 668 check then
    # applies to that environment, a venv, which is never externally managed.
    "$PY" -m pip --python "$bin/python" install "${PIP_QUIET[@]}" "${TOOLS_REQS[@]}"
}

_tw_install_target() {
    rm -rf "$TOOLS_DIR"
    mkdir -p "$TOOLS_DIR"
    "$PY" -m pip install "${PIP_QUIET[@]}" --target "$TOOLS_DIR/site" "${TOOLS_REQS[@]}" || return 1
    # A launcher that puts the folder on sys.path of nox's own process only.
    cat >"$TOOLS_DIR/nox" <<EOF
#!/bin/sh
exec "$PY" -c 'import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = "nox"; runpy.run_module("nox", run_name="__main__", alter_sys=True)' "$TOOLS_DIR/site" "\$@"
EOF
    chmod +x "$TOOLS_DIR/nox"
}

_tw_install_user() {
    "$PY" -m pip install "${PIP_QUIET[@]}" --user "${TOOLS_REQS[@]}" 2>/dev/null \
        || "$PY" -m pip install "${PIP_QUIET[@]}" --user --break-system-packages "${TOOLS_REQS[@]}"
}

TWAT_BOOTSTRAP_USED=""
case "${TWAT_BOOTSTRAP:-}" in
    "" | venv | venv+pip | target | user) ;;
    *)
        echo "bootstrap: TWAT_BOOTSTRAP=${TWAT_BOOTSTRAP} is not one of venv, venv+pip, target, user" >&2
        return 1 2>/dev/null || exit 1
        ;;
esac
if [ -z "${TWAT_BOOTSTRAP:-}" ] && _tw_ready_venv; then
    TWAT_BOOTSTRAP_USED="venv (reused)"
    _tw_use_venv
elif [ -z "${TWAT_BOOTSTRAP:-}" ] && _tw_ready_target; then
    TWAT_BOOTSTRAP_USED="target (reused)"
    _tw_use_target
else
    for way in venv venv+pip target user; do
        if [ -n "${TWAT_BOOTSTRAP:-}" ] && [ "$way" != "$TWAT_BOOTSTRAP" ]; then
            continue
        fi
        case "$way" in
            venv) _tw_install_venv && _tw_ready_venv && _tw_use_venv && TWAT_BOOTSTRAP_USED=$way ;;
            venv+pip) _tw_install_venv_pip && _tw_ready_venv && _tw_use_venv && TWAT_BOOTSTRAP_USED=$way ;;
            target) _tw_install_target && _tw_ready_target && _tw_use_target && TWAT_BOOTSTRAP_USED=$way ;;
            user)
                if _tw_install_user; then
                    export PATH="$("$PY" -m site --user-base)/bin:$PATH"
                    NOX="$PY -m nox"
                    $NOX --version >/dev/null 2>&1 && TWAT_BOOTSTRAP_USED=$way
                fi
                ;;
        esac
        [ -n "$TWAT_BOOTSTRAP_USED" ] && break
    done
fi
if [ -z "$TWAT_BOOTSTRAP_USED" ]; then
    echo "bootstrap: could not install uv and nox with $PY (tried: venv, venv+pip, target, user)" >&2
    return 1 2>/dev/null || exit 1
fi
echo "bootstrap: uv and nox ready ($TWAT_BOOTSTRAP_USED, $TOOLS_DIR, with $PY)" >&2

# The pyenv interpreters (if any) for the sessions: 3.11 first, then the other supported ones.
if [ -z "${PYENV_VERSION:-}" ] && [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
    versions=""
    for v in 3.11 3.10 3.12 3.13; do
        found=$(ls "${PYENV_ROOT:-$HOME/.pyenv}/versions" | grep -E "^${v//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
        [ -n "$found" ] && versions="${versions:+$versions:}$found"
    done
    [ -n "$versions" ] && export PYENV_VERSION="$versions"
fi

# The sessions run on Python 3.11. Without one (and no choice made by the caller), run them on
# this interpreter when it is a supported version, rather than failing to find 3.11.
if [ -z "${NOXFORCEPYTHON:-}" ] && ! command -v python3.11 >/dev/null 2>&1 \
    && ! uv python find 3.11 >/dev/null 2>&1; then
    own=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    case "$own" in
        3.10 | 3.12 | 3.13)
            export NOXFORCEPYTHON="$own"
            echo "bootstrap: no Python 3.11 found; the sessions run on Python $own" >&2
            ;;
    esac
fi
export NOX
