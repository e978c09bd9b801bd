#!/usr/bin/env bash
# A kind cluster for users with Docker. Not runnable on machines without a Docker engine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v kind >/dev/null || { echo "kind is not installed (go install sigs.k8s.io/kind@latest)" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "no Docker engine is reachable; use 'make cluster-up' instead" >&2; exit 1; }
mkdir -p "$here/../.cluster"
kind create cluster --config "$here/kind.yaml" --kubeconfig "$here/../.cluster/kind-kubeconfig" --wait 120s
echo "export KUBECONFIG=$here/../.cluster/kind-kubeconfig"
