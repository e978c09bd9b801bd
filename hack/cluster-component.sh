#!/usr/bin/env bash
# Stop, start or restart one component of the local control plane (for fault tests), with the
# exact flags hack/cluster-up.sh gave it (hack/lib/components.sh); its data stays.
#
#   hack/cluster-component.sh stop|start|restart etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok
#   (apiserver is accepted for kube-apiserver)
# `start` returns once etcd is healthy / the API server is ready; a running component is left as is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
source "$here/lib/components.sh"

usage() { log "usage: $0 stop|start|restart ${COMPONENTS[*]}"; exit 2; }
(( $# == 2 )) || usage
action=$1 name=$2
[[ $name == apiserver ]] && name=kube-apiserver
bin="$(bin_dir)"
dir="$(cluster_dir)"
pki="$dir/pki"
kubeconfig="$dir/kubeconfig"
[[ -f "$kubeconfig" ]] || { log "no cluster in $dir (run hack/cluster-up.sh)"; exit 1; }
component_command "$name" >/dev/null || usage

running() {
  local pidfile="$dir/pids/$name.pid"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
  if running; then
    log "$name already running"
  else
    launch "$name"
    log "$name started (pid $(cat "$dir/pids/$name.pid"))"
  fi
  wait_component_ready "$name"
}

case "$action" in
  stop) stop_component "$name"; log "$name stopped" ;;
  start) start ;;
  restart) stop_component "$name"; start ;;
  *) usage ;;
esac
