#!/usr/bin/env bash
# Argo Rollouts, the baseline bench/rollback.py compares our rollback with: its controller
# (cmd/rollouts-controller) built from its Go module and its CRDs taken from the same module,
# both once, into the cache outside the repository (nothing of Argo's enters the repository).
# Prints the directory holding `rollouts-controller` and `crds/`. Cached parts are never redone.
#
# argo-rollouts pins k8s.io/* with replace directives, which `go install module@version` refuses
# and which a requiring module ignores. So, as hack/build-binaries.sh does for Kubernetes, a
# wrapper module requires it and copies its replace block, read from that version's own go.mod.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.env
source "$here/versions.env"
source "$here/lib.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
version="$ARGO_ROLLOUTS_VERSION"
module=github.com/argoproj/argo-rollouts
out="$(cache_root)/argo-rollouts/$version"
work="$(cache_root)/build/argo-rollouts-$version"
mkdir -p "$out" "$work"

# `go mod download -json` of the module, one field of it (Dir, GoMod).
module_field() {
  (cd "$work" && go mod download -json "$module@$version") |
    python3 -c 'import json, sys; info = json.load(sys.stdin); sys.exit(info["Error"]) if info.get("Error") else print(info[sys.argv[1]])' "$1"
}

copy_crds() {
  if [[ -d "$out/crds" ]]; then return; fi
  log "argo-rollouts $version: copying its CRDs from the module"
  local src
  src="$(module_field Dir)/manifests/crds"
  rm -rf "$out/crds.tmp" && mkdir -p "$out/crds.tmp"
  cp "$src"/*-crd.yaml "$out/crds.tmp/"
  chmod u+w "$out/crds.tmp"/*.yaml  # the module cache is read-only
  mv "$out/crds.tmp" "$out/crds"  # last: an interrupted copy is never taken for a cached one
}

build_controller() {
  local binary="$out/rollouts-controller" gomod
  if [[ -x "$binary" ]]; then return; fi
  log "argo-rollouts $version: resolving its go.mod"
  gomod="$(module_field GoMod)"
  {
    echo "module modelops.local/argo-rollouts-build"
    echo
    grep -m1 -E '^go ' "$gomod"
    echo
    echo "require $module $version"
    echo
    # The whole `replace ( ... )` block, as the release builds with it.
    sed -n '/^replace (/,/^)/p' "$gomod"
  } > "$work/go.mod"
  cat > "$work/tools.go" <<GO
//go:build tools

// Package tools pins the command this wrapper module builds.
package tools

import _ "$module/cmd/rollouts-controller"
GO
  log "argo-rollouts $version: go mod tidy"
  (cd "$work" && go mod tidy)
  log "argo-rollouts $version: go build (minutes when cold)"
  # The version the controller logs comes from ldflags, as argo-rollouts' own Makefile sets it.
  (cd "$work" && go build -trimpath \
    -ldflags "-s -w -X $module/utils/version.version=${version#v} -X $module/utils/version.gitTreeState=clean" \
    -o "$binary.tmp" "$module/cmd/rollouts-controller")
  mv "$binary.tmp" "$binary"  # last: an interrupted build is never taken for a cached one
}

copy_crds
build_controller
log "argo-rollouts $version: ready in $out"
echo "$out"
