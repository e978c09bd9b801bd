#!/usr/bin/env bash
# Install the routing CRDs the Gateway API and Istio providers render against: Gateway API's
# standard channel (HTTPRoute and friends) and Istio's VirtualService. Only the CRDs: the
# cluster tests check that what we render is accepted and read back, no mesh runs here.
#
# The YAML comes from the projects' Go modules (the Go module proxy is the one source we may
# download from), pinned in versions.env and cached in $(cache_root)/crds; a warm cache
# downloads nothing. Idempotent: server-side apply, then wait for Established.
#
#   hack/install-routing-crds.sh [KUBECONFIG]     (default: $KUBECONFIG)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"

kubeconfig="${1:-${KUBECONFIG:-}}"
[[ -n "$kubeconfig" ]] || { log "usage: $0 KUBECONFIG (or set KUBECONFIG)"; exit 2; }
kubectl_bin="$(bin_dir)/kubectl"
[[ -x "$kubectl_bin" ]] || kubectl_bin="kubectl"
kubectl=("$kubectl_bin" --kubeconfig "$kubeconfig")

crds="$(cache_root)/crds"
gateway_dir="$crds/gateway-api-$GATEWAY_API_VERSION"
istio_file="$crds/istio-$ISTIO_API_VERSION-virtualservices.yaml"

# The Dir of MODULE@VERSION in the Go module cache, downloading it when missing. A throwaway
# wrapper module keeps `go` from reading or changing any go.mod of ours.
module_dir() {
  local wrapper="$crds/gomod"
  command -v go >/dev/null || { log "go is needed to download $1@$2 (a warm cache needs none)"; exit 1; }
  mkdir -p "$wrapper"
  [[ -f "$wrapper/go.mod" ]] || printf 'module modelops.local/crds\n\ngo 1.21\n' > "$wrapper/go.mod"
  (cd "$wrapper" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$1@$2") |
    python3 -c 'import json, sys; info = json.load(sys.stdin); sys.exit(info.get("Error")) if info.get("Error") else print(info["Dir"])'
}

# Python with PyYAML: the repo's venv when there is one, else the system's.
python_yaml() {
  local venv_python
  venv_python="$(repo_root)/.venv/bin/python"
  if [[ -x "$venv_python" ]]; then echo "$venv_python"; else echo python3; fi
}

if [[ ! -d "$gateway_dir" ]]; then
  log "fetching Gateway API $GATEWAY_API_VERSION CRDs (Go module sigs.k8s.io/gateway-api)"
  src="$(module_dir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")/config/crd/standard"
  tmp="$gateway_dir.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # Only the CRDs (the directory also holds a kustomization).
  cp "$src"/gateway.networking.k8s.io_*.yaml "$tmp/"
  chmod u+w "$tmp"/*.yaml  # the module cache is read-only
  mv "$tmp" "$gateway_dir"  # last: an interrupted copy is never taken for a cached one
fi

if [[ ! -f "$istio_file" ]]; then
  log "fetching Istio $ISTIO_API_VERSION VirtualService CRD (Go module istio.io/api)"
  src="$(module_dir istio.io/api "$ISTIO_API_VERSION")/kubernetes/customresourcedefinitions.gen.yaml"
  # The file holds every Istio CRD; keep the one we render, and refuse one that cannot serve
  # the networking.istio.io/v1 our provider writes.
  "$(python_yaml)" - "$src" "$istio_file.tmp" <<'PY'
import sys

import yaml

source, target = sys.argv[1], sys.argv[2]
with open(source) as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
found = [d for d in docs if d.get("metadata", {}).get("name") == "virtualservices.networking.istio.io"]
if len(found) != 1:
    sys.exit(f"{source}: expected one virtualservices.networking.istio.io CRD, found {len(found)}")
served = [v["name"] for v in found[0]["spec"]["versions"] if v.get("served")]
if "v1" not in served:
    sys.exit(f"virtualservices.networking.istio.io serves {served}, not v1")
with open(target, "w") as f:
    yaml.safe_dump(found[0], f, sort_keys=False)
PY
  mv "$istio_file.tmp" "$istio_file"
fi

log "applying routing CRDs"
"${kubectl[@]}" apply --server-side --force-conflicts --field-manager=modelops-hack \
  -f "$gateway_dir" -f "$istio_file" >/dev/null
names=(virtualservices.networking.istio.io)
for f in "$gateway_dir"/gateway.networking.k8s.io_*.yaml; do
  base="$(basename "$f" .yaml)"
  names+=("${base#gateway.networking.k8s.io_}.gateway.networking.k8s.io")
done
# Polled rather than `kubectl wait --for=condition=Established`, which fails at once ("accessor
# error") when it reads a CRD whose status has no conditions yet instead of waiting.
established() {
  [[ "$("${kubectl[@]}" get "crd/$1" \
    -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" == True ]]
}
for name in "${names[@]}"; do
  deadline=$((SECONDS + 60))
  until established "$name"; do
    (( SECONDS < deadline )) || { log "CRD $name not Established within 60 s"; exit 1; }
    sleep 0.2
  done
done
log "routing CRDs established: ${names[*]}"
