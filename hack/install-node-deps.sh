#!/usr/bin/env bash
# Installs what the real node and the local images need, from Debian's packages: containerd and
# runc (the container runtime), the CNI plugins (bridge, host-local, loopback, portmap), iptables
# and conntrack (kube-proxy), socat (the node's path to the API server on loopback), mmdebstrap
# (the Python base image's rootfs), buildah (builds the project's Dockerfile without a daemon)
# and gcc. Idempotent: installs only what is missing.
set -euo pipefail
exec "$(dirname "$0")/lib/install-missing.sh" containerd=containerd=--version runc=runc \
  /usr/lib/cni/bridge=containernetworking-plugins=--version iptables=iptables \
  conntrack=conntrack socat=socat=-V mmdebstrap=mmdebstrap buildah=buildah gcc=gcc
