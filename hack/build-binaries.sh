#!/usr/bin/env bash
# Build the local control plane's binaries from their Go modules, once, into a cache outside
# the repository. Every step is restartable: a binary already in the cache is never rebuilt.
#
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
#   kubelet, kube-proxy (the real node)                               <- k8s.io/kubernetes
#   etcd                                                              <- go.etcd.io/etcd/server/v3
#   kwok, kwokctl                                                     <- sigs.k8s.io/kwok
#   helm                                                              <- helm.sh/helm/v3
#
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/client-go, ...) with local
# paths, so `go install k8s.io/kubernetes/cmd/...@vX` fails. A wrapper module requires
# k8s.io/kubernetes and replaces every staging module with its published v0.X.Y tag; the list is
# read from that version's own go.mod, never hard-coded.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.env
source "$here/versions.env"
source "$here/lib.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
bin="$(bin_dir)"
work="$(cache_root)/build"
mkdir -p "$bin" "$work"

have_all() { for b in "$@"; do [[ -x "$bin/$b" ]] || return 1; done; }

build_kubernetes() {
  local names=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
  if have_all "${names[@]}"; then log "kubernetes $K8S_VERSION: cached"; return; fi
  local dir="$work/kubernetes-$K8S_VERSION" minor staging_version gomod
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  staging_version="v0.${K8S_VERSION#v1.}"
  mkdir -p "$dir"
  log "kubernetes $K8S_VERSION: resolving its go.mod"
  gomod="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  {
    echo "module modelops.local/k8s-build"
    echo
    grep -m1 -E '^go ' "$gomod"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # Every "k8s.io/<staging> => ./staging/src/k8s.io/<staging>" becomes a published tag.
    sed -n -E 's#^[[:space:]]*(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+$#replace \1 => \1 '"$staging_version"'#p' "$gomod"
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<GO
//go:build tools

// Package tools pins the commands this wrapper module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
  log "kubernetes $K8S_VERSION: go mod tidy ($(grep -c '^replace' "$dir/go.mod") staging modules)"
  (cd "$dir" && go mod tidy)
  local ldflags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  log "kubernetes $K8S_VERSION: go build (the long step: 15-30 min cold on 2 cores)"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
}

build_etcd() {
  if have_all etcd; then log "etcd $ETCD_VERSION: cached"; return; fi
  local dir="$work/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  # etcd's server module replaces its sibling modules with local paths too; requiring it from a
  # wrapper module makes those replaces inert and resolves the siblings by their tags.
  cat > "$dir/go.mod" <<MOD
module modelops.local/etcd-build

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat > "$dir/tools.go" <<'GO'
//go:build tools

// Package tools pins the command this wrapper module builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  log "etcd $ETCD_VERSION: building"
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  if have_all kwok kwokctl; then log "kwok $KWOK_VERSION: cached"; return; fi
  log "kwok $KWOK_VERSION: building"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
}

build_helm() {
  if have_all helm; then log "helm $HELM_VERSION: cached"; return; fi
  log "helm $HELM_VERSION: building"
  # The version helm prints comes from an ldflag, as its own Makefile sets it.
  GOBIN="$bin" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

start=$SECONDS
case "${1:-all}" in
  all) build_etcd; build_kwok; build_helm; build_kubernetes ;;
  helm) build_helm ;;
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  *) echo "usage: $0 [all|kubernetes|etcd|kwok|helm]" >&2; exit 2 ;;
esac
log "binaries ready in $bin ($((SECONDS - start)) s)"
