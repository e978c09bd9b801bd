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
sock="$NODE_ROOT/run/containerd.sock"
if [[ ! -S $sock ]]; then
  log "no real node running (NET_ID $NET_ID): images built, nothing imported"
  exit 0
fi
while read -r archive; do
  ctr --address "$sock" -n k8s.io images import "$archive" >/dev/null
done < <("$here/build-images.sh" --list)
log "images imported into $NODE_NAME's containerd"
