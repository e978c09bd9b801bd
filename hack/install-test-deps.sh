#!/usr/bin/env bash
# Installs what the tests need beyond Python packages: redis-server, redis-sentinel and openssl
# (a test CA for TLS) for the gateway's shared rate-limit tests, prometheus for the
# canary-analysis presets run against a real Prometheus (and its promtool for manifests/monitoring's rules), lua5.4 for the Argo CD health check.
# Idempotent: installs only the commands missing from PATH, and nothing when none is.
set -euo pipefail
exec "$(dirname "$0")/lib/install-missing.sh" redis-server=redis-server \
  redis-sentinel=redis-sentinel openssl=openssl=version prometheus=prometheus \
  promtool=prometheus lua5.4=lua5.4=-v
