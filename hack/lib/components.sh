# The control-plane components' command lines, in one place: hack/cluster-up.sh starts them
# and hack/cluster-component.sh stops and restarts single ones (fault tests) with the very
# same flags. Sourced after versions.env and lib.sh; needs $bin, $dir, $pki, $kubeconfig, $here.
source "$(dirname "${BASH_SOURCE[0]}")/net.sh"

# KWOK renews the node leases, but the readiness the node controller takes from pods when a
# lease goes stale (the API server stopped for a fault test, a box too busy to renew in time)
# is never given back, as a kubelet would: a grace period well beyond any outage the tests
# make keeps the simulated nodes and their pods as they were.
: "${NODE_MONITOR_GRACE:=300s}"

# Reverse of this order stops the clients first and etcd last.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# With a real node, pods reach the API server through the `kubernetes` Service, whose endpoint is
# this machine's end of the node link (a forwarder there leads to 127.0.0.1, where the API server
# alone listens); `kubectl logs/exec` reach the kubelet with a client certificate of their own.
# Whether the cluster has one is recorded at cluster-up, so a restart (fault tests) keeps it.
real_node_apiserver_flags() {  # -> the flags in the array `node_flags` (none without a node)
  node_flags=()
  [[ $(cat "$dir/real-nodes" 2>/dev/null || echo "$REAL_NODES") == 0 ]] && return
  node_flags=(--advertise-address "$LINK_HOST_IP"
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt"
    --kubelet-client-key "$pki/apiserver-kubelet-client.key"
    --kubelet-preferred-address-types InternalIP)
}

component_command() {  # name -> the command line in the array `cmd`
  case "$1" in
    etcd)
      cmd=("$bin/etcd" --name local --data-dir "$dir/etcd"
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT"
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
        --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT"
        --unsafe-no-fsync --quota-backend-bytes 8589934592 --log-level warn) ;;
    kube-apiserver)
      real_node_apiserver_flags
      cmd=("$bin/kube-apiserver"
        --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log"
        --audit-log-maxsize 200 --audit-log-maxbackup 2
        --etcd-servers "http://127.0.0.1:$ETCD_PORT"
        --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT"
        --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key"
        --client-ca-file "$pki/ca.crt"
        --service-account-issuer https://kubernetes.default.svc.cluster.local
        --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key"
        --service-cluster-ip-range "$SERVICE_CIDR"
        "${node_flags[@]}"
        --authorization-mode Node,RBAC --allow-privileged=true
        --max-requests-inflight 2000 --max-mutating-requests-inflight 1000
        --profiling=false) ;;
    kube-controller-manager)
      cmd=("$bin/kube-controller-manager"
        --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig"
        --bind-address 127.0.0.1 --secure-port "$KCM_PORT"
        --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt"
        --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key"
        --leader-elect=false --kube-api-qps 500 --kube-api-burst 1000
        --concurrent-deployment-syncs 20 --concurrent-replicaset-syncs 20
        --concurrent-gc-syncs 50 --horizontal-pod-autoscaler-sync-period 5s
        --node-monitor-grace-period "$NODE_MONITOR_GRACE"
        --profiling=false) ;;
    kube-scheduler)
      cmd=("$bin/kube-scheduler" --config "$dir/scheduler.yaml"
        --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig"
        --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --profiling=false) ;;
    kwok)
      cmd=("$bin/kwok" --kubeconfig "$kubeconfig" --config "$here/kwok/stages.yaml"
        --server-address "127.0.0.1:$KWOK_PORT" --cidr "$KWOK_POD_CIDR") ;;
    *) log "unknown component: $1 (one of: ${COMPONENTS[*]})"; return 2 ;;
  esac
}

launch() {  # name: start detached, remember the pid, log to .cluster/logs (appended)
  local name=$1 cmd
  component_command "$name" || return
  setsid "${cmd[@]}" >>"$dir/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/pids/$name.pid"
}

stop_component() {  # name: TERM the recorded pid, KILL after 5 s; quiet when not running
  local pidfile="$dir/pids/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

wait_for() {  # what, timeout seconds, command...
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then
      log "timed out waiting for $what; last log lines:"
      tail -n 12 "$dir"/logs/*.log >&2 || true
      return 1
    fi
    sleep 0.3
  done
}

wait_component_ready() {  # name: until it serves (only etcd and the API server have a check)
  case "$1" in
    etcd) wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health" ;;
    kube-apiserver) wait_for kube-apiserver 60 "$bin/kubectl" --kubeconfig "$kubeconfig" get --raw=/readyz ;;
    *) return 0 ;;
  esac
}
