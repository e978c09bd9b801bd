#!/usr/bin/env bash
# Installs the Debian packages of the commands missing from PATH, and nothing when none is.
# Usage: install-missing.sh COMMAND=PACKAGE[=VERSION_FLAG] ...  (VERSION_FLAG defaults to --version)
set -euo pipefail

declare -A package=() flag=()
commands=()
for spec in "$@"; do
  IFS='=' read -r cmd pkg ver <<<"$spec"
  commands+=("$cmd")
  package[$cmd]=$pkg
  flag[$cmd]=${ver:---version}
done
missing=()
for cmd in "${commands[@]}"; do
  if command -v "$cmd" >/dev/null 2>&1; then
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
  command -v "$cmd" >/dev/null
  echo "installed: $cmd $("$cmd" "${flag[$cmd]}" 2>&1 | head -n1)"
done
