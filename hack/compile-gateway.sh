#!/usr/bin/env bash
# The package as the image ships it, its gateway compiled by mypyc (setup.py), in a directory
# to put first on PYTHONPATH: `make test` runs its tests on it and the gateway benchmarks measure
# it. Built with the project's .venv (mypy and the dependencies are there), the way the
# Dockerfile builds the image's wheel, and unpacked.
#
#   hack/compile-gateway.sh        prints the directory's absolute path on stdout; logs on stderr
#
# Kept in $(cache_root)/compiled/, named by a hash of the sources, setup.py, pyproject.toml and
# the Python and mypy versions: a warm run takes a second, a cold one minutes (the C compiler).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

repo="$(repo_root)"
python="$repo/.venv/bin/python"
[[ -x "$python" ]] || { log "no $python: run make venv first"; exit 1; }

command -v gcc >/dev/null || { log "gcc missing (Debian: apt-get install gcc)"; exit 1; }
"$python" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || {
  log "Python's headers missing for $python (Debian's python3: apt-get install python3-dev)"
  exit 1
}

hash="$({ files_hash operator setup.py pyproject.toml
  "$python" -c 'import sys, mypy.version; print(sys.version, mypy.version.__version__)'; } |
  short_hash)"
out="$(cache_root)/compiled/gateway-$hash"
mkdir -p "$(dirname "$out")"
# Worktrees share the cache: one build at a time, the others then find it done.
exec 9>"$(dirname "$out")/.lock"
flock 9
if [[ ! -f "$out/.complete" ]]; then
  log "compiling the gateway with mypyc into $out (minutes)"
  work="$(mktemp -d "$(cache_root)/compiled-XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  # A copy of the sources: mypyc's build/ directory and its C files stay out of the checkout.
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard -- operator setup.py \
    pyproject.toml README.md | xargs -0 cp --parents -t "$work")
  (cd "$work" && MODELOPS_COMPILE=1 "$python" -m pip wheel -q --no-deps --no-build-isolation \
    -w wheel . >&2)
  "$python" -m zipfile -e "$work"/wheel/*.whl "$work/tree"
  rm -rf "$out"
  mv "$work/tree" "$out"
  touch "$out/.complete"
fi
# Its time of last use: a tree is in use for as long as the run that asked for it (make test,
# up to an hour and a half), while other worktrees may compile others meanwhile.
touch "$out"
# Trees of other sources go once they are neither among the four last used nor used in the
# last six hours (each is tens of megabytes). Pruning by count alone removed a tree under a
# running `make test` while other builds came and went (its imports then failed).
ls -1dt "$(cache_root)"/compiled/gateway-* | tail -n +5 |
  while read -r old; do
    if [[ -n "$(find "$old" -maxdepth 0 -mmin +360)" ]]; then rm -rf "$old"; fi
  done
echo "$out"
