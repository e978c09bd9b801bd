#!/usr/bin/env bash
# Stop exactly what hack/cluster-up.sh started (by the pids it recorded) and remove its data.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
dir="$(cluster_dir)"
[[ -d "$dir" ]] || { log "no cluster in $dir"; exit 0; }
# Reverse start order: the clients first, etcd last.
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  pidfile="$dir/pids/$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
done
rm -rf "$dir"
log "cluster stopped and its data removed"
