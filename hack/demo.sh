#!/usr/bin/env bash
# The main job, end to end on a fresh machine: a local control plane with a real node, the
# operator installed from the Helm chart as real pods, and the demo model (examples/demo-model)
# through a canary promotion and an automatic rollback of a version that crashes; then real
# answers through the Service, which version gave them, and a 429 past the free tier's limit.
# The cluster stays up afterwards for exploring (make cluster-down removes it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
cd "$root"

[[ ${REAL_NODES:-1} != 0 ]] || { log "make demo runs on the real node: unset REAL_NODES"; exit 2; }
"$here/cluster-up.sh" >/dev/null
export KUBECONFIG="$(cluster_dir)/kubeconfig"
kubectl() { "$(bin_dir)/kubectl" "$@"; }
modelops() { "$root/.venv/bin/modelops" "$@"; }
title() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
until_phase() {  # phase, version field, version, timeout
  local deadline=$((SECONDS + $4)) got
  while (( SECONDS < deadline )); do
    got=$(kubectl get msvc summarizer -n demo -o jsonpath="{.status.phase}/{.status.$2}")
    [[ "$got" == "$1/$3" ]] && { kubectl get msvc summarizer -n demo; return 0; }
    sleep 2
  done
  kubectl get msvc summarizer -n demo
  echo "timed out waiting for $1 $3" >&2; return 1
}
service_ip() { kubectl get svc summarizer -n demo -o jsonpath='{.spec.clusterIP}'; }
ask() {  # API key: one chat completion through the Service's ClusterIP; prints status, version, answer
  curl -sS -o /tmp/modelops-demo-answer.json -D /tmp/modelops-demo-headers.txt \
    -w '%{http_code}' "http://$(service_ip)/v1/chat/completions" \
    -H "X-API-Key: $1" -H 'Content-Type: application/json' \
    -d '{"model": "summarizer", "messages": [{"role": "user", "content": "Summarize: the canary passed."}]}'
}
versions_answering() {  # n requests with the team key -> a count per X-Model-Version
  local i
  for ((i = 0; i < $1; i++)); do
    ask team-key >/dev/null
    sed -n -E 's/^[Xx]-[Mm]odel-[Vv]ersion: ([^[:space:]]+).*/\1/p' /tmp/modelops-demo-headers.txt
  done | sort | uniq -c | sed 's/^/    /'
}

title "0. The operator, from the Helm chart, as 2 real pods on $(kubectl get nodes -l modelops.dev/real-node -o name)"
# The image's input hash as a pod annotation: a rebuilt image (same :dev tag) restarts the pods.
"$here/node-images.sh" 2>/dev/null
image_id=$(basename "$("$here/build-images.sh" --list | grep '/modelops-[0-9a-f]*\.oci\.tar$')" .oci.tar)
"$(bin_dir)/helm" upgrade --install modelops charts/modelops --namespace modelops-system \
  --create-namespace -f "$here/real-node-values.yaml" \
  --set-string "podAnnotations.modelops\.dev/image=$image_id" --wait --timeout 3m >/dev/null
kubectl get pods -n modelops-system -o wide
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl delete msvc summarizer -n demo --ignore-not-found --wait >/dev/null

title "1. Deploy summarizer 1.0.0: real pods, the gateway sidecar in front of the demo model"
kubectl apply -n demo -f manifests/samples/real-node.yaml
kubectl wait -n demo --for=condition=Ready msvc/summarizer --timeout=180s
kubectl get msvc,deploy,svc,pdb -n demo
kubectl get pods -n demo -o wide

title "2. Version 1.1.0 goes out as a canary at 50%, then is promoted"
kubectl patch msvc summarizer -n demo --type merge -p \
  '{"spec":{"model":{"version":"1.1.0","env":[{"name":"MODEL_VERSION","value":"1.1.0"}]}}}'
for _ in $(seq 1 120); do
  [[ $(kubectl get msvc summarizer -n demo -o jsonpath='{.status.canaryWeight}') == 50 &&
     $(kubectl get deploy summarizer-canary -n demo -o jsonpath='{.status.readyReplicas}' 2>/dev/null) -ge 1 ]] && break
  sleep 1
done
echo "  during the 50% step, 20 requests were answered by:"
versions_answering 20
until_phase Stable stableVersion 1.1.0 180

title "3. Version 1.2.0 crashes on start (a real CrashLoopBackOff): rolled back automatically"
kubectl patch msvc summarizer -n demo --type merge -p \
  '{"spec":{"model":{"version":"1.2.0","env":[{"name":"MODEL_VERSION","value":"1.2.0"},{"name":"CRASH_ON_START","value":"1"}]}}}'
until_phase RolledBack stableVersion 1.1.0 180
modelops status summarizer -n demo
kubectl get events -n demo --field-selector involvedObject.kind=ModelService \
  --sort-by=.lastTimestamp -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message

title "4. Real answers through the Service's ClusterIP ($(service_ip))"
echo "  status $(ask team-key), X-Model-Version: $(sed -n -E 's/^[Xx]-[Mm]odel-[Vv]ersion: ([^[:space:]]+).*/\1/p' /tmp/modelops-demo-headers.txt)"
python3 -m json.tool /tmp/modelops-demo-answer.json | sed 's/^/    /'
echo "  10 requests after the rollback were answered by:"
versions_answering 10

title "5. The free tier allows 5 requests a minute per client (one replica: without rateLimit.redis, admission refuses more): then 429"
code=""
for i in $(seq 1 20); do
  code=$(ask free-client-$$)
  echo "  request $i: $code $(grep -i -E '^(retry-after|x-ratelimit-remaining)' /tmp/modelops-demo-headers.txt | tr -d '\r' | tr '\n' ' ')"
  [[ $code == 429 ]] && break
done
[[ $code == 429 ]] || { echo "expected a 429 within 20 requests" >&2; exit 1; }

title "Done. The cluster is still up:"
echo "  export KUBECONFIG=$KUBECONFIG"
echo "  make cluster-down    # to remove it (operator logs: kubectl logs -n modelops-system deploy/modelops)"
