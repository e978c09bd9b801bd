#!/usr/bin/env bash
# Installs the Debian packages of the commands missing from PATH, and nothing when none is.
# Usage: install-missing.sh COMMAND=PACKAGE[=VERSION_FLAG] ...  (VERSION_FLAG defaults to --version)
# A COMMAND given as an absolute path (a program kept off PATH, like the CNI plugins) is checked
# by that path.
set -euo pipefail

declare -A package=() flag=()
commands=()
for spec in "$@"; do
  IFS='=' read -r cmd pkg ver <<<"$spec"
  commands+=("$cmd")
  package[$cmd]=$pkg
  flag[$cmd]=${ver:---version}
done
have() { if [[ $1 == /* ]]; then [[ -x $1 ]]; else command -v "$1" >/dev/null 2>&1; fi; }
missing=()
for cmd in "${commands[@]}"; do
  if have "$cmd"; then
    echo "$cmd present: $("$cmd" "${flag[$cmd]}" 2>&1 | head -n1)"
  else
    missing+=("${package[$cmd]}")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
# Packages with services start them where systemd runs; the tests and benches start their own.
for cmd in "${commands[@]}"; do
  have "$cmd"
  echo "installed: $cmd $("$cmd" "${flag[$cmd]}" 2>&1 | head -n1)"
done
