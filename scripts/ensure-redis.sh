#!/usr/bin/env bash
# Makes sure Debian's `redis-server` binary is available for the test suite, which starts its
# own throw-away servers on free ports (tests/redis_server.py). Installs the package only when
# the binary is missing and we are root; otherwise it is a no-op (the redis tests then skip
# locally, or fail under CI=true). It never leaves a system Redis service running: the
# package's service is kept from starting during the install and stopped if it started anyway.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-redis: redis-server is missing and cannot be installed here (needs root and apt-get)" >&2
    exit 0
fi

# Debian starts a package's service through invoke-rc.d, which asks /usr/sbin/policy-rc.d first;
# exit code 101 means "action forbidden". Install a temporary policy only when none exists.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y redis-server

# Belt and braces: if a service manager started it anyway, stop and disable it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop redis-server >/dev/null 2>&1 || true
    systemctl disable redis-server >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
    service redis-server stop >/dev/null 2>&1 || true
fi
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]
