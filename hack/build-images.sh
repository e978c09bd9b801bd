#!/usr/bin/env bash
# Build the images the real node runs, with no registry and no Docker daemon (buildah, as root):
#
#   localhost/pause:3.10                  build/pause/linux/pause.c from the k8s.io/kubernetes
#                                         module ($K8S_VERSION), gcc -static, from scratch
#   localhost/modelops-python-base:HASH   Debian bookworm's python3 (mmdebstrap), from scratch;
#                                         only a local base, the Dockerfile's default stays the
#                                         official python image
#   localhost/modelops-python-build-base:HASH   the same with gcc and Python's headers: the
#                                         Dockerfile's build stage, which compiles the gateway
#   localhost/modelops:dev                the project's Dockerfile on those bases
#   localhost/modelops-demo-model:dev     examples/demo-model/Containerfile on that base
#
# Each image is kept as an OCI archive in $(cache_root)/images/, named by a hash of its inputs
# (the files it is built from, its base's hash, the compiler's version, and the text of the shell
# functions that build it), and rebuilt only when that hash changes: a warm run takes seconds.
# buildah's storage lives in $(cache_root)/buildah, never in the repository. The base's hash
# covers its recipe, not the day's Debian archive: to pick up Debian's security updates, remove
# $(cache_root)/images/python-*base-*.oci.tar and run again.
#
#   hack/build-images.sh          build what is stale; logs on stderr
#   hack/build-images.sh --list   the current archives' absolute paths, one per line on stdout
#                                 (pause, modelops, demo model), for `ctr images import`; exits 1
#                                 when one is missing or stale
#
# This network re-signs TLS, so pip inside the Dockerfile's build stage trusts the host's CA
# bundle: it is bind-mounted read-only for the build's RUN steps and named by a build argument,
# never copied into an image; each built image is checked for it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.env
source "$here/versions.env"
source "$here/lib.sh"

repo="$(repo_root)"
images="$(cache_root)/images"
store="$(cache_root)/buildah"
HOST_CA=/etc/ssl/certs/ca-certificates.crt
PAUSE_IMAGE=localhost/pause:3.10
MODELOPS_IMAGE=localhost/modelops:dev
MODELOPS_BUILD_STAGE=localhost/modelops-build-stage:dev
DEMO_IMAGE=localhost/modelops-demo-model:dev
BASE_REPO=localhost/modelops-python-base
BASE_SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates,passwd
# The Dockerfile's build stage compiles the gateway with mypyc: a C compiler and Python's headers.
BUILD_BASE_REPO=localhost/modelops-python-build-base
BUILD_BASE_PACKAGES="$BASE_PACKAGES,python3-dev,gcc,libc6-dev"

# The text of the functions that build an image: changing a recipe rebuilds only its image.
recipe() { declare -f archive_image "$@"; }

pause_source() {
  local dir
  dir="$(GOFLAGS= GOPROXY=off go mod download -json "k8s.io/kubernetes@$K8S_VERSION" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' 2>/dev/null)" ||
    dir="$(GOFLAGS= go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  echo "$dir/build/pause/linux/pause.c"
}

compute_hashes() {
  PAUSE_C="$(pause_source)"
  pause_hash="$({ sha256sum <"$PAUSE_C"; gcc --version | head -n1; recipe build_pause; } |
    short_hash)"
  base_hash="$({ echo "$BASE_SUITE $BASE_PACKAGES"; recipe build_base; } | short_hash)"
  build_base_hash="$({ echo "$BASE_SUITE $BUILD_BASE_PACKAGES"; recipe build_base; } | short_hash)"
  modelops_hash="$({ echo "$base_hash $build_base_hash"; files_hash Dockerfile .dockerignore \
    pyproject.toml setup.py README.md operator
    recipe build_modelops check_no_host_ca host_only_cert_lines; } | short_hash)"
  demo_hash="$({ echo "$base_hash"; files_hash examples/demo-model
    recipe build_demo check_no_host_ca host_only_cert_lines; } | short_hash)"
  pause_archive="$images/pause-$pause_hash.oci.tar"
  base_archive="$images/python-base-$base_hash.oci.tar"
  build_base_archive="$images/python-build-base-$build_base_hash.oci.tar"
  modelops_archive="$images/modelops-$modelops_hash.oci.tar"
  demo_archive="$images/demo-model-$demo_hash.oci.tar"
  BASE_IMAGE="$BASE_REPO:$base_hash"
  BUILD_BASE_IMAGE="$BUILD_BASE_REPO:$build_base_hash"
}

list() {
  compute_hashes
  local f missing=0
  for f in "$pause_archive" "$modelops_archive" "$demo_archive"; do
    [[ -f "$f" ]] || { log "missing or stale: $f (run hack/build-images.sh)"; missing=1; }
  done
  [[ "$missing" -eq 0 ]] || exit 1
  printf '%s\n' "$pause_archive" "$modelops_archive" "$demo_archive"
}

# buildah with its storage under the cache. overlay when the kernel allows it, else vfs; the
# choice is remembered, since one storage root cannot switch drivers.
bh() {
  buildah --root "$store/root" --runroot "$store/run" --storage-driver "$STORAGE_DRIVER" "$@"
}
pick_storage_driver() {
  mkdir -p "$store"
  if [[ -z "${STORAGE_DRIVER:-}" && -f "$store/driver" ]]; then
    STORAGE_DRIVER="$(cat "$store/driver")"
  fi
  if [[ -z "${STORAGE_DRIVER:-}" ]]; then
    STORAGE_DRIVER=overlay
    if ! bh info >/dev/null 2>&1; then STORAGE_DRIVER=vfs; fi
    echo "$STORAGE_DRIVER" >"$store/driver"
  fi
  export TMPDIR="$store/tmp"
  mkdir -p "$TMPDIR"
}

# Save IMAGE as an OCI archive at FILE (written beside it, then renamed: never half a file).
# Worktrees share this cache and may want different hashes at once, so the newest
# $KEEP_ARCHIVES archives of each image are kept (a path --list just gave out stays valid), and
# older ones are removed.
KEEP_ARCHIVES=4
archive_image() {
  local image="$1" file="$2" stem="$3"
  rm -f "$file.partial"
  bh push -q "$image" "oci-archive:$file.partial:$image" >&2
  mv "$file.partial" "$file"
  ls -1t "$images/$stem"-*.oci.tar | tail -n +$((KEEP_ARCHIVES + 1)) | xargs -r rm -f
}

# The image in buildah's storage, loaded from its archive when the storage was emptied.
ensure_in_storage() {
  local image="$1" file="$2" id
  bh inspect --type image "$image" >/dev/null 2>&1 && return
  id="$(bh pull -q "oci-archive:$file" | tail -n1)"
  bh tag "$id" "$image"
}

build_pause() {
  local work="$TMPDIR/pause" ctr
  rm -rf "$work" && mkdir -p "$work"
  gcc -Os -Wall -Werror -static -DVERSION=v3.10-modelops -o "$work/pause" "$PAUSE_C"
  strip "$work/pause"
  ctr="$(bh from scratch)"
  bh copy "$ctr" "$work/pause" /pause >/dev/null
  bh config --entrypoint '["/pause"]' --user 65535:65535 --os linux --arch amd64 "$ctr"
  bh commit -q --rm "$ctr" "$PAUSE_IMAGE" >/dev/null
  rm -rf "$work"
}

# build_base IMAGE PACKAGES: Debian's Python and the given packages, from scratch.
build_base() {
  local image="$1" packages="$2" work="$TMPDIR/base" ctr
  rm -rf "$work" && mkdir -p "$work"
  # Documentation and translations are dropped (copyright files stay); apt's lists are not kept.
  # The merged-usr hook makes the /usr symlinks itself, as debootstrap does: otherwise apt
  # installs the usrmerge package, which brings perl (50 MB) into every image.
  mmdebstrap --quiet --variant=apt --include="$packages" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$BASE_SUITE" "$work/rootfs.tar" >&2
  ctr="$(bh from scratch)"
  bh add "$ctr" "$work/rootfs.tar" / >/dev/null
  bh config --os linux --arch amd64 --cmd '["python3"]' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    "$ctr"
  bh commit -q --rm "$ctr" "$image" >/dev/null
  rm -rf "$work"
}

build_modelops() {
  # PIP_CERT reaches only the build stage's RUN (a build argument, not ENV); the bundle is a
  # read-only bind mount during RUN steps, so no layer holds it.
  # --layers: the Dockerfile's dependency layer is reused while pyproject.toml is unchanged, so
  # an edit to operator/ does not reinstall every dependency. The build stage gets a tag of its
  # own first, so that pruning dangling images keeps that layer.
  local args=(--quiet --layers --isolation chroot --network host --pull=never
    -v "$HOST_CA:$HOST_CA:ro" --build-arg "PIP_CERT=$HOST_CA"
    --build-arg "PYTHON_IMAGE=$BASE_IMAGE" --build-arg "BUILD_IMAGE=$BUILD_BASE_IMAGE"
    -f "$repo/Dockerfile")
  bh bud "${args[@]}" --target build -t "$MODELOPS_BUILD_STAGE" "$repo" >&2
  bh bud "${args[@]}" -t "$MODELOPS_IMAGE" "$repo" >&2
}

build_demo() {
  bh bud --quiet --isolation chroot --pull=never --build-arg "PYTHON_IMAGE=$BASE_IMAGE" \
    -t "$DEMO_IMAGE" -f "$repo/examples/demo-model/Containerfile" "$repo/examples/demo-model" >&2
}

# One line from the middle of each certificate this machine added to its bundle (the re-signing
# CA, from /usr/local/share/ca-certificates): in the host's bundle, but neither among the
# certificates Debian packages (/usr/share/ca-certificates) nor in the base image's own bundle.
# Public roots are not looked for: pip's vendored certifi holds them too, rightly.
host_only_cert_lines() {
  local ctr root
  ctr="$(bh from -q --pull=never "$BASE_IMAGE")"
  root="$(bh mount "$ctr")"
  python3 - "$HOST_CA" "$root/etc/ssl/certs/ca-certificates.crt" <<'PY'
import pathlib, re, sys
def certs(text):
    return set(re.findall(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END", text, re.S))
def read(path):
    return pathlib.Path(path).read_text(encoding="ascii", errors="replace")
packaged = set()
for crt in pathlib.Path("/usr/share/ca-certificates").rglob("*.crt"):
    packaged |= certs(read(crt))
for cert in sorted(certs(read(sys.argv[1])) - packaged - certs(read(sys.argv[2]))):
    lines = cert.splitlines()  # a middle line of the base64 body is unique to its certificate
    print(lines[len(lines) // 2])
PY
  bh umount "$ctr" >/dev/null
  bh rm "$ctr" >/dev/null
}

# Fails when any file in IMAGE holds one of those certificates: the host's CA must never leave
# this machine in an image.
check_no_host_ca() {
  local image="$1" ctr root extra line found=""
  extra="$(host_only_cert_lines)"
  ctr="$(bh from -q --pull=never "$image")"
  root="$(bh mount "$ctr")"
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    found+="$(grep -rlF -e "$line" "$root" 2>/dev/null | sed "s|^$root||" || true) "
  done <<<"$extra"
  bh umount "$ctr" >/dev/null
  bh rm "$ctr" >/dev/null
  if [[ -n "${found// /}" ]]; then
    log "$image holds a certificate of the host's bundle that Debian's lacks: $found"
    return 1
  fi
  log "$image: holds none of the $(grep -c . <<<"$extra") certificates this machine added"
}

# base_in_storage IMAGE ARCHIVE STEM PACKAGES: the base from its archive, built first if missing.
base_in_storage() {
  local image="$1" archive="$2" stem="$3" packages="$4"
  if [[ -f "$archive" ]]; then
    ensure_in_storage "$image" "$archive"
  else
    timed "$stem (${image##*:})" build_base "$image" "$packages"
    archive_image "$image" "$archive" "$stem"
  fi
}

timed() {
  local what="$1" start=$SECONDS
  shift
  log "$what: building"
  "$@"
  log "$what: built in $((SECONDS - start)) s"
}

main() {
  if [[ "${1:-}" == "--list" ]]; then list; return; fi
  [[ $# -eq 0 ]] || { log "usage: $0 [--list]"; exit 2; }
  mkdir -p "$images"
  exec 9>"$images/.lock"
  flock 9
  compute_hashes
  local started=$SECONDS
  if [[ -f "$pause_archive" && -f "$modelops_archive" && -f "$demo_archive" ]]; then
    log "images: cached (pause $pause_hash, modelops $modelops_hash, demo-model $demo_hash)"
    return
  fi
  [[ "$(id -u)" -eq 0 ]] || { log "needs root (buildah with chroot isolation)"; exit 1; }
  for cmd in buildah mmdebstrap gcc; do
    command -v "$cmd" >/dev/null || { log "$cmd missing: run hack/install-node-deps.sh"; exit 1; }
  done
  pick_storage_driver
  log "buildah storage: $store ($STORAGE_DRIVER)"
  # Working containers left by a run that was killed (builds hold the lock, so none is live).
  bh rm --all >/dev/null 2>&1 || true
  if [[ ! -f "$pause_archive" ]]; then
    timed "pause ($pause_hash)" build_pause
    archive_image "$PAUSE_IMAGE" "$pause_archive" pause
  fi
  if [[ ! -f "$modelops_archive" || ! -f "$demo_archive" ]]; then
    base_in_storage "$BASE_IMAGE" "$base_archive" python-base "$BASE_PACKAGES"
  fi
  if [[ ! -f "$modelops_archive" ]]; then
    base_in_storage "$BUILD_BASE_IMAGE" "$build_base_archive" python-build-base \
      "$BUILD_BASE_PACKAGES"
    timed "modelops ($modelops_hash)" build_modelops
    check_no_host_ca "$MODELOPS_IMAGE"
    archive_image "$MODELOPS_IMAGE" "$modelops_archive" modelops
  fi
  if [[ ! -f "$demo_archive" ]]; then
    timed "demo model ($demo_hash)" build_demo
    check_no_host_ca "$DEMO_IMAGE"
    archive_image "$DEMO_IMAGE" "$demo_archive" demo-model
  fi
  # Intermediate stages, replaced tags and older bases are not kept in the storage (the
  # archives are the cache).
  local name
  bh images --noheading --format '{{.Name}}:{{.Tag}}' |
    grep -e "^$BASE_REPO:" -e "^$BUILD_BASE_REPO:" | grep -vxF -e "$BASE_IMAGE" -e "$BUILD_BASE_IMAGE" |
    while IFS= read -r name; do bh rmi "$name" >/dev/null 2>&1 || true; done || true
  bh rmi --prune >/dev/null 2>&1 || true
  log "images: done in $((SECONDS - started)) s"
  ls -l "$pause_archive" "$modelops_archive" "$demo_archive" >&2
}

main "$@"
