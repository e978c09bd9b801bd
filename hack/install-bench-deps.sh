#!/usr/bin/env bash
# Installs what `make bench-gateway` needs beyond Python packages: nginx (the reference proxy with
# limit_req), wrk (the closed-loop load generator), redis-server (the shared-counter backend),
# taskset (util-linux, to pin processes to cores) and valgrind (callgrind counts instructions for
# bench/gateway_instructions.py). The tests need none of them but redis-server.
# Idempotent: installs only the commands missing from PATH, and nothing when none is.
set -euo pipefail
exec "$(dirname "$0")/lib/install-missing.sh" \
  nginx=nginx=-v wrk=wrk=-v redis-server=redis-server taskset=util-linux valgrind=valgrind
