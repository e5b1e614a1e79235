#!/usr/bin/env bash
# The README's demo command: sets up uv and nox, then runs every decorator on every backend.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
$NOX -s demo "$@"
