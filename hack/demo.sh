#!/usr/bin/env bash
# The main job, end to end on a fresh machine: a local control plane, the operator, and a
# sample ModelService through a canary promotion and an automatic rollback.
# The cluster stays up afterwards for exploring (make cluster-down removes it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
cd "$root"

"$here/cluster-up.sh" >/dev/null
export KUBECONFIG="$(cluster_dir)/kubeconfig"
kubectl() { "$(bin_dir)/kubectl" "$@"; }
modelops() { "$root/.venv/bin/modelops" "$@"; }
title() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
until_phase() {  # phase, version field, version, timeout
  local deadline=$((SECONDS + $4))
  while (( SECONDS < deadline )); do
    kubectl get msvc summarizer -n demo --no-headers
    local got
    got=$(kubectl get msvc summarizer -n demo -o jsonpath="{.status.phase}/{.status.$2}")
    [[ "$got" == "$1/$3" ]] && return 0
    sleep 2
  done
  echo "timed out waiting for $1 $3" >&2; return 1
}

kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
# Polled: `kubectl wait --for=condition=Established` fails at once while the CRD has no
# conditions yet.
for _ in $(seq 1 300); do
  [[ "$(kubectl get crd/modelservices.modelops.dev \
    -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" == True ]] && break
  sleep 0.2
done
log_file="$(cluster_dir)/operator.log"
# The binary itself (not the shell function) so that $! is the operator's pid, and the trap
# below stops the operator rather than a subshell.
"$root/.venv/bin/modelops" run --standalone --metrics-port 18080 >"$log_file" 2>&1 &
operator_pid=$!
trap 'kill $operator_pid 2>/dev/null || true' EXIT
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl delete msvc summarizer -n demo --ignore-not-found >/dev/null

title "1. Deploy summarizer 1.0.0"
kubectl apply -n demo -f manifests/samples/canary.yaml
kubectl wait -n demo --for=condition=Ready msvc/summarizer --timeout=90s
kubectl get msvc,deploy,svc,pdb -n demo

title "2. Version 1.1.0 goes out as a canary: 20%, then 50%, then promoted"
kubectl patch msvc summarizer -n demo --type merge -p \
  '{"spec":{"model":{"version":"1.1.0","image":"registry.example.com/summarizer:1.1.0"}}}'
until_phase Stable stableVersion 1.1.0 120

title "3. Version 1.2.0 crash-loops (KWOK simulates it): rolled back automatically"
kubectl patch msvc summarizer -n demo --type merge -p \
  '{"spec":{"model":{"version":"1.2.0","image":"registry.example.com/summarizer:1.2.0"},"podTemplate":{"labels":{"modelops.dev/simulate":"crash-loop"}}}}'
until_phase RolledBack stableVersion 1.1.0 120
modelops status summarizer -n demo
kubectl get events -n demo --field-selector involvedObject.kind=ModelService \
  --sort-by=.lastTimestamp -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message

title "Done. The operator is stopped; the cluster is still up:"
echo "  export KUBECONFIG=$KUBECONFIG"
echo "  make cluster-down    # to remove it (operator log: $log_file)"
