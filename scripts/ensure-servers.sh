#!/usr/bin/env bash
# Makes sure the server binaries the network tests start themselves (tests/servers.py) exist:
#   redis-server  (Debian package redis-server; also runs Sentinel as `redis-server --sentinel`,
#                  so the redis-sentinel package, which only adds a service and a symlink, is
#                  not needed)
#   redis-cli     (redis-tools; builds the test Redis Cluster with `redis-cli --cluster create`)
#   memcached     (memcached)
# Installs only what is missing, and only as root with apt-get; when everything is present it
# is a no-op (no apt-get update). Otherwise it says what is missing and exits 0: those tests
# then skip locally; under CI=true it exits 1 (the tests would fail, never skip). It never
# leaves a system service running: the packages' services are kept from starting during the
# install and stopped if they started anyway, so the tests' own servers on free ports are the
# only ones.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ] || [ -x "/usr/sbin/$1" ]; }

packages=()
have redis-server || packages+=(redis-server)
have redis-cli || packages+=(redis-tools)
have memcached || packages+=(memcached)
if [ "${#packages[@]}" = 0 ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-servers: missing ${packages[*]} and cannot install here (needs root and apt-get)" >&2
    # CI must run the network tests, never skip them: stop here rather than later in pytest.
    if [ "${CI:-}" = "true" ]; then exit 1; fi
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

echo "ensure-servers: installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

# Belt and braces: if a service manager started them anyway, stop and disable them.
for service in redis-server memcached; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl stop "$service" >/dev/null 2>&1 || true
        systemctl disable "$service" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
        service "$service" stop >/dev/null 2>&1 || true
    fi
done

for tool in redis-server redis-cli memcached; do
    have "$tool" || { echo "ensure-servers: $tool is still missing after the install" >&2; exit 1; }
done
