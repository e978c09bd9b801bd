# Shared helpers for hack/*.sh; sourced after versions.env.
cache_root() { echo "${MODELOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops}"; }
bin_dir() { echo "$(cache_root)/k8s/$K8S_VERSION/bin"; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }
cluster_dir() { echo "${MODELOPS_CLUSTER_DIR:-$(repo_root)/.cluster}"; }

# Ports on 127.0.0.1, away from the usual ones so a developer's own cluster does not clash.
: "${ETCD_PORT:=23790}" "${ETCD_PEER_PORT:=23800}" "${APISERVER_PORT:=26443}"
: "${KCM_PORT:=20257}" "${SCHEDULER_PORT:=20259}" "${KWOK_PORT:=20247}"

# The cluster named by $1, else $KUBECONFIG; then `kube ARGS...` runs kubectl against it (the
# cached build when there is one).
target_cluster() {
  TARGET_KUBECONFIG="${1:-${KUBECONFIG:-}}"
  [[ -n "$TARGET_KUBECONFIG" ]] || { log "usage: $0 KUBECONFIG (or set KUBECONFIG)"; exit 2; }
}
kube() {
  local bin
  bin="$(bin_dir)/kubectl"
  [[ -x "$bin" ]] || bin=kubectl
  "$bin" --kubeconfig "$TARGET_KUBECONFIG" "$@"
}

short_hash() { sha256sum | cut -c1-16; }

# The files under the given repository paths (names and contents), as one hash: those git
# tracks or would track (committed or not), so caches and bytecode that .gitignore names are not
# inputs.
files_hash() {
  (cd "$(repo_root)" && git ls-files -z --cached --others --exclude-standard -- "$@" |
    while IFS= read -r -d '' f; do if [[ -f "$f" ]]; then printf '%s\0' "$f"; fi; done |
    LC_ALL=C sort -zu | xargs -0 -r sha256sum) | short_hash
}
