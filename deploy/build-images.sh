#!/usr/bin/env bash
# Builds the compose stack's two images without any registry, each `FROM
# scratch` plus a root filesystem assembled here: the stripped binary and
# every shared library it loads, the dynamic loader among them.
#
#   deploy/build-images.sh                   # cargo build --release, then the images
#   deploy/build-images.sh --profile dev     # the dev profile instead
#   deploy/build-images.sh --binary PATH     # images from a magnetar binary built already
#
# Images: $MAGNETAR_IMAGE (default magnetar:local), the `magnetar` binary
# as entrypoint, user 10001; $MAGNETAR_ETCD_IMAGE (magnetar-etcd:local),
# that image plus the host's etcd (Debian's etcd-server) as entrypoint.
# Environment: CARGO_TARGET_DIR (default ~/.cache/magnetar/target).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/magnetar/target}"
magnetar_image="${MAGNETAR_IMAGE:-magnetar:local}"
etcd_image="${MAGNETAR_ETCD_IMAGE:-magnetar-etcd:local}"

profile=release
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  cargo build --profile "$profile" -p magnetar --bin magnetar
  dir="$profile"
  [ "$profile" = dev ] && dir=debug
  binary="$CARGO_TARGET_DIR/$dir/magnetar"
fi
[ -x "$binary" ] || { echo "no executable at $binary" >&2; exit 1; }
etcd_binary=$(command -v etcd) || { echo "etcd not found: install Debian's etcd-server" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# add_binary CONTEXT SOURCE NAME: the stripped binary as
# CONTEXT/rootfs/usr/local/bin/NAME, plus the libraries it links, at the
# paths the loader looks for them.
add_binary() {
  local context="$1" source="$2" name="$3"
  mkdir -p "$context/rootfs/usr/local/bin"
  strip --strip-all -o "$context/rootfs/usr/local/bin/$name" "$source"
  # ldd prints `name => /path (addr)` per library and `/path (addr)` for the loader.
  ldd "$source" 2>/dev/null | grep -o '/[^ )]*' | sort -u | while read -r lib; do
    [ -f "$lib" ] && cp --parents -L "$lib" "$context/rootfs"
  done
  return 0
}

magnetar="$work/magnetar"
add_binary "$magnetar" "$binary" magnetar
mkdir -p "$magnetar/rootfs/etc" "$magnetar/data"
echo "magnetar:x:10001:10001:magnetar:/data:/sbin/nologin" >"$magnetar/rootfs/etc/passwd"
echo "magnetar:x:10001:" >"$magnetar/rootfs/etc/group"
# build CONTEXT DOCKERFILE TAG [ARGS...]: quiet unless it fails (the engine
# here has no buildx, and the classic builder says so on every build).
build() {
  local context="$1" dockerfile="$2" tag="$3"
  shift 3
  if ! docker build -q -f "$dockerfile" -t "$tag" "$@" "$context" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    exit 1
  fi
}
build "$magnetar" deploy/scratch.Dockerfile "$magnetar_image"

etcd="$work/etcd"
add_binary "$etcd" "$etcd_binary" etcd
build "$etcd" deploy/etcd.Dockerfile "$etcd_image" --build-arg "BASE=$magnetar_image"

docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($magnetar_image|$etcd_image) "
