#!/usr/bin/env bash
# The README's test command: sets up uv and nox, then runs the default nox sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
bash scripts/ensure-servers.sh   # the network tests start their own servers on 127.0.0.1
$NOX "$@"
