#!/usr/bin/env bash
# Start a real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and the KWOK controller (simulated nodes and pods).
#
# Our own script rather than `kwokctl --runtime=binary`: kwokctl downloads whatever it is not
# handed, and this way every process, port, flag and certificate is visible in one file.
# Idempotent: when the cluster in .cluster/ is already up and healthy it only says so.
#
# With REAL_NODES=1 (the default) it then joins one real node (hack/real-node-up.sh).
#
#   NODES=3 GPU_NODES=2 hack/cluster-up.sh      -> .cluster/kubeconfig
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
source "$here/lib/components.sh"

: "${NODES:=3}" "${GPU_NODES:=2}" "${READY_TIMEOUT:=90}"
bin="$(bin_dir)"
dir="$(cluster_dir)"
pki="$dir/pki"
kubeconfig="$dir/kubeconfig"
kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")
start=$SECONDS

healthy() {
  [[ -f "$kubeconfig" ]] && "${kubectl[@]}" get --raw=/readyz >/dev/null 2>&1 || return 1
  [[ $REAL_NODES == 0 ]] || [[ $("${kubectl[@]}" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

if healthy; then
  log "cluster already up: export KUBECONFIG=$kubeconfig"
  exit 0
fi
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
  if [[ ! -x "$bin/$b" ]]; then
    log "building missing binaries first (hack/build-binaries.sh)"
    "$here/build-binaries.sh" all
    break
  fi
done

# A half-started cluster from an earlier run is stopped and wiped first (and a real node that a
# killed run of any checkout left behind).
"$here/cluster-down.sh" >/dev/null 2>&1 || true
mkdir -p "$pki" "$dir/logs" "$dir/pids" "$dir/etcd"
echo "$REAL_NODES" >"$dir/real-nodes"

# --- certificates: one CA, a serving cert for the API server, one admin client cert ---------
ossl() { openssl "$@" >/dev/null 2>&1; }
ossl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=modelops-local-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
cat > "$pki/serving.ext" <<EXT
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:$SERVICE_FIRST_IP,IP:$LINK_HOST_IP
extendedKeyUsage=serverAuth
EXT
ossl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr"
ossl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 3650 -extfile "$pki/serving.ext" -out "$pki/apiserver.crt"
printf 'extendedKeyUsage=clientAuth\n' > "$pki/client.ext"
client_cert() {  # file stem, subject
  ossl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
  ossl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/client.ext" -out "$pki/$1.crt"
}
# One admin identity (system:masters) for every local component and the tests: this cluster
# lives on loopback for the length of a test run. RBAC is still on, so the operator's own
# ServiceAccount can be tested for least privilege by impersonation.
client_cert admin "/O=system:masters/CN=modelops-admin"
# The real node's parts (hack/real-node-up.sh): the kubelet as its Node identity, kube-proxy as
# the user the default system:node-proxier binding names, and the API server's own identity when
# it calls the kubelet (logs, exec, port-forward).
client_cert node "/O=system:nodes/CN=system:node:$NODE_NAME"
client_cert kube-proxy "/CN=system:kube-proxy"
client_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
ossl genrsa -out "$pki/sa.key" 2048
ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

cat > "$kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: modelops-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $pki/ca.crt
users:
- name: modelops-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: modelops-local
  context: {cluster: modelops-local, user: modelops-admin}
current-context: modelops-local
KC

launch etcd
wait_component_ready etcd

# Every write, by whom and with which user agent: how tests count the operator's writes.
cat > "$dir/audit-policy.yaml" <<AUDIT
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
# bench/reconcile.py runs the operator as this ServiceAccount: all its requests, reads and
# watches too, so they can be counted by verb (nobody else uses this identity).
- level: Metadata
  users: ["system:serviceaccount:modelops-system:modelops-bench"]
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
AUDIT

launch kube-apiserver
wait_component_ready kube-apiserver

launch kube-controller-manager

cat > "$dir/scheduler.yaml" <<SCHED
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: "$kubeconfig", qps: 500, burst: 1000}
leaderElection: {leaderElect: false}
SCHED
launch kube-scheduler
launch kwok

# --- fake nodes: some advertise GPUs so nvidia.com/gpu requests schedule ---------------------
nodes_yaml() {
  local i gpu
  for ((i = 0; i < NODES; i++)); do
    gpu=$(( i >= NODES - GPU_NODES ))
    cat <<NODE
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
$( ((gpu)) && echo "    nvidia.com/gpu.product: A100" )
status:
  allocatable: {cpu: "256", memory: 2Ti, pods: "20000"$( ((gpu)) && echo ', nvidia.com/gpu: "8"' )}
  capacity: {cpu: "256", memory: 2Ti, pods: "20000"$( ((gpu)) && echo ', nvidia.com/gpu: "8"' )}
NODE
  done
}
nodes_yaml > "$dir/nodes.yaml"
"${kubectl[@]}" apply -f "$dir/nodes.yaml" >/dev/null

nodes_ready() {
  local ready
  ready=$("${kubectl[@]}" get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')
  (( ready == NODES ))
}
wait_for "nodes Ready" "$READY_TIMEOUT" nodes_ready || exit 1
wait_for "default ServiceAccount" "$READY_TIMEOUT" "${kubectl[@]}" get serviceaccount default -n default || exit 1
# Gateway API and Istio VirtualService CRDs, for the mesh routing providers.
"$here/install-routing-crds.sh" "$kubeconfig" >/dev/null
# One real node beside the simulated ones (REAL_NODES=0 skips it).
[[ $REAL_NODES == 0 ]] || "$here/real-node-up.sh"

log "cluster up in $((SECONDS - start)) s ($K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION, $NODES simulated nodes, $GPU_NODES with GPUs, $([[ $REAL_NODES == 0 ]] && echo no || echo one) real node)"
echo "export KUBECONFIG=$kubeconfig"
