#!/usr/bin/env bash
# Installs what the real node and the local images need, from Debian's packages: containerd and
# runc (the container runtime), the CNI plugins (bridge, host-local, loopback, portmap), iptables
# and conntrack (kube-proxy), mmdebstrap (the Python base image's rootfs) and buildah (builds the
# project's Dockerfile without a daemon). Idempotent: installs only what is missing.
set -euo pipefail
exec "$(dirname "$0")/lib/install-missing.sh" containerd=containerd=--version runc=runc \
  /usr/lib/cni/bridge=containernetworking-plugins=--version iptables=iptables \
  conntrack=conntrack mmdebstrap=mmdebstrap buildah=buildah gcc=gcc
