#!/usr/bin/env bash
# Install the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs (only the CRDs: no
# Prometheus runs), so that `kubectl apply --dry-run=server` of manifests/monitoring and of the
# chart's monitoring templates is checked by the API server against their real schemas.
#
# The YAML comes from the Go module github.com/prometheus-operator/prometheus-operator
# (example/prometheus-operator-crd), pinned in versions.env and cached in $(cache_root)/crds,
# as hack/install-routing-crds.sh does for the routing CRDs. Idempotent.
#
#   hack/install-monitoring-crds.sh [KUBECONFIG]     (default: $KUBECONFIG)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"

target_cluster "${1:-}"
crds="$(cache_root)/crds"
dir="$crds/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
kinds=(servicemonitors prometheusrules)

if [[ ! -d "$dir" ]]; then
  command -v go >/dev/null || { log "go is needed to download the CRDs once (a warm cache needs none)"; exit 1; }
  log "fetching Prometheus Operator $PROMETHEUS_OPERATOR_VERSION CRDs (its Go module)"
  wrapper="$crds/gomod"
  mkdir -p "$wrapper"
  [[ -f "$wrapper/go.mod" ]] || printf 'module modelops.local/crds\n\ngo 1.21\n' > "$wrapper/go.mod"
  src="$(cd "$wrapper" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json \
    "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
    python3 -c 'import json, sys; info = json.load(sys.stdin); sys.exit(info.get("Error")) if info.get("Error") else print(info["Dir"])')"
  tmp="$dir.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  for kind in "${kinds[@]}"; do
    cp "$src/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$tmp/"
  done
  chmod u+w "$tmp"/*.yaml  # the module cache is read-only
  mv "$tmp" "$dir"  # last: an interrupted copy is never taken for a cached one
fi

kube apply --server-side --force-conflicts --field-manager=modelops-hack -f "$dir" >/dev/null
for kind in "${kinds[@]}"; do
  # A CRD created a moment ago may have no conditions yet: `kubectl wait` then errors; retry.
  for _ in $(seq 1 60); do
    kube wait --for=condition=Established --timeout=30s "crd/$kind.monitoring.coreos.com" >/dev/null 2>&1 && break
    sleep 0.5
  done
  kube wait --for=condition=Established --timeout=5s "crd/$kind.monitoring.coreos.com" >/dev/null
done
log "monitoring CRDs established: ${kinds[*]/%/.monitoring.coreos.com}"
