#!/usr/bin/env bash
# Build the project's images (hack/build-images.sh: cached by a hash of their inputs) and import
# them into the real node's containerd, when this cluster has one running. Imports replace the
# :dev tags, so pods created afterwards run what the checkout holds; running pods keep theirs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
source "$here/lib/net.sh"

"$here/build-images.sh" >&2
sock="$NODE_SOCK"
if [[ ! -S $sock ]]; then
  log "no real node running (NET_ID $NET_ID): images built, nothing imported"
  exit 0
fi
# A socket nobody answers on is what a killed run left behind (hack/real-node-up.sh clears it
# and imports the images once its own containerd answers), not a node to import into.
if ! node_containerd_answers; then
  log "$sock does not answer (a killed run's leftover, NET_ID $NET_ID): images built, nothing imported"
  exit 0
fi
# Archives are named by the hash of their inputs: one imported into this node's containerd
# (recorded beside its state, removed with it) is never imported again.
imported="$NODE_ROOT/imported-images"
touch "$imported"
count=0
while read -r archive; do
  grep -qxF "$archive" "$imported" && continue
  ctr --address "$sock" -n k8s.io images import "$archive" >/dev/null
  echo "$archive" >>"$imported"
  count=$((count + 1))
done < <("$here/build-images.sh" --list)
log "$count image(s) imported into $NODE_NAME's containerd (the others were already there)"
