#!/usr/bin/env bash
# Installs what the tests need beyond Python packages: redis-server for the gateway's shared
# rate-limit tests, prometheus for the canary-analysis presets run against a real Prometheus.
# Idempotent: installs only the commands missing from PATH, and nothing when none is.
set -euo pipefail

# command -> Debian package
declare -A wanted=([redis-server]=redis-server [prometheus]=prometheus)
missing=()
for cmd in redis-server prometheus; do
  if command -v "$cmd" >/dev/null 2>&1; then
    echo "$cmd present: $("$cmd" --version 2>&1 | head -n1)"
  else
    missing+=("${wanted[$cmd]}")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
# The packages start system services where systemd runs; the tests start their own servers.
for cmd in redis-server prometheus; do
  command -v "$cmd" >/dev/null
  echo "installed: $cmd $("$cmd" --version 2>&1 | head -n1)"
done
