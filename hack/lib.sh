# Shared helpers for hack/*.sh; sourced after versions.env.
cache_root() { echo "${MODELOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops}"; }
bin_dir() { echo "$(cache_root)/k8s/$K8S_VERSION/bin"; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
