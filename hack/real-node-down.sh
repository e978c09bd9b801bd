#!/usr/bin/env bash
# Remove the real node of the cluster whose settings are in the environment (NET_ID, or the
# APISERVER_PORT it derives from): its kubelet, kube-proxy, cluster DNS and API forwarder, every
# container and containerd, the mounts under its data directory, its network namespace (which
# takes the bridge, the pods' links and all of kube-proxy's iptables rules with it), the link and
# routes on this machine, its cgroups and its data. Everything is found by name, not by pid files,
# so this also clears what a killed run (of any checkout) left behind. Quiet and idempotent.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
source "$here/lib/net.sh"

kill_all() {  # pids...: TERM, then KILL what is left after 3 s
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null
  for _ in $(seq 1 30); do
    local alive=0 pid
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}

# 1. The node's own processes: those in its network namespace (kubelet, kube-proxy, containerd),
#    and on this machine its cluster DNS and API forwarder, which name the node's data or address.
node_pids() {
  { [[ -e /run/netns/$NODE_NETNS ]] && ip netns pids "$NODE_NETNS" 2>/dev/null
    pgrep -f "bind=$LINK_HOST_IP[,:]" 2>/dev/null
    pgrep -f -- "-conf $NODE_ROOT/" 2>/dev/null
  } | sort -u
}
# Containers first (by the cgroups the kubelet made), so no shim restarts one meanwhile.
container_pids() {
  local d
  for d in /sys/fs/cgroup/*/"$NODE_CGROUP"; do
    [[ -d $d ]] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
}
# shellcheck disable=SC2046
kill_all $(pgrep -f "containerd-shim.*-address $NODE_ROOT/" 2>/dev/null)
# shellcheck disable=SC2046
kill_all $(container_pids)
# shellcheck disable=SC2046
kill_all $(node_pids)
# Once more, now that no kubelet or containerd is left to start one: between the first sweep
# and their end, the kubelet restarted a container it saw die, and its new shim outlived the
# teardown (seen once, 2026-12-02, after `make demo`).
# shellcheck disable=SC2046
kill_all $(pgrep -f "containerd-shim.*-address $NODE_ROOT/" 2>/dev/null) $(container_pids)

# 2. Mounts under the node's data (container root filesystems, volumes, the pods' namespaces),
#    deepest first.
findmnt -rn -o TARGET 2>/dev/null | grep -F "$NODE_ROOT/" | sort -r | while read -r target; do
  umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
done

# 3. Network: the namespace (bridge, pod links, iptables inside it), the link, the routes.
[[ -e /run/netns/$NODE_NETNS ]] && ip netns delete "$NODE_NETNS" 2>/dev/null
ip link show "$NODE_LINK" >/dev/null 2>&1 && ip link delete "$NODE_LINK" 2>/dev/null
ip route del blackhole "$KWOK_POD_CIDR" 2>/dev/null

# 4. cgroups, deepest first, and the data (logs of the node's pods included).
for d in /sys/fs/cgroup/*/"$NODE_CGROUP"; do
  [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
done
find /var/log/containers -maxdepth 1 -lname "$NODE_ROOT/*" -delete 2>/dev/null
rm -rf "$NODE_ROOT"
rmdir /var/lib/modelops 2>/dev/null
exit 0
