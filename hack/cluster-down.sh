#!/usr/bin/env bash
# Stop exactly what hack/cluster-up.sh started (by the pids it recorded) and remove its data.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
source "$here/lib/components.sh"
dir="$(cluster_dir)"
# The real node first, and always: it is found by name, so this also clears one a killed run left.
"$here/real-node-down.sh"
[[ -d "$dir" ]] || { log "no cluster in $dir"; exit 0; }
# Reverse start order: the clients first, etcd last.
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  stop_component "${COMPONENTS[i]}"
done
rm -rf "$dir"
log "cluster stopped and its data removed"
