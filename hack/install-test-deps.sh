#!/usr/bin/env bash
# Installs what the tests need beyond Python packages: redis-server for the gateway's shared
# rate-limit tests. Idempotent: does nothing when redis-server is already on PATH.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server present: $(redis-server --version | head -n1)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends redis-server
# The package starts a system service where systemd runs; the tests start their own servers.
command -v redis-server >/dev/null
echo "installed: $(redis-server --version | head -n1)"
