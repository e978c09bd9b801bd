#!/usr/bin/env bash
# Which control-plane processes run, and what the API server says of itself and its nodes.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
dir="$(cluster_dir)"
[[ -d "$dir/pids" ]] || { echo "no cluster (run: make cluster-up)"; exit 1; }
status=0
for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
  pid=$(cat "$dir/pids/$name.pid" 2>/dev/null)
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    printf '%-24s running (pid %s)\n' "$name" "$pid"
  else
    printf '%-24s NOT running (log: %s)\n' "$name" "$dir/logs/$name.log"; status=1
  fi
done
kubectl=("$(bin_dir)/kubectl" --kubeconfig "$dir/kubeconfig")
"${kubectl[@]}" version 2>/dev/null | sed 's/^/  /'
"${kubectl[@]}" get --raw='/readyz' >/dev/null 2>&1 && echo "readyz: ok" || { echo "readyz: failing"; status=1; }
"${kubectl[@]}" get nodes -L nvidia.com/gpu.product 2>/dev/null
echo "export KUBECONFIG=$dir/kubeconfig"
exit $status
