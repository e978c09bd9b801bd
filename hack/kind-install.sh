#!/usr/bin/env bash
# For users with Docker: build the image, load it into the kind cluster of `make kind-up`, and
# install the chart (CRDs included). Not runnable on machines without a Docker engine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
root="$(repo_root)"
image="modelops:$(sed -n -E 's/^appVersion: "?([^"]+)"?$/\1/p' "$root/charts/modelops/Chart.yaml")"
helm_bin="$(bin_dir)/helm"
[[ -x "$helm_bin" ]] || helm_bin=helm
export KUBECONFIG="$root/.cluster/kind-kubeconfig"
[[ -f "$KUBECONFIG" ]] || { log "no kind cluster: run make kind-up first"; exit 1; }
docker build -t "$image" "$root"
kind load docker-image "$image" --name modelops
"$helm_bin" upgrade --install modelops "$root/charts/modelops" \
  --namespace modelops-system --create-namespace --wait --timeout 3m "$@"
log "installed: kubectl apply -f $root/manifests/samples/sentiment.yaml; kubectl get msvc -w"
