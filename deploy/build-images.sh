#!/usr/bin/env bash
# Builds the local Docker images without any registry: each image is
# `FROM scratch` plus a root filesystem assembled here from the built
# `magnetar` binary (or the host's etcd) and the shared libraries it links.
#
#   deploy/build-images.sh            # builds magnetar:local and magnetar-etcd:local
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/magnetar/target), PROFILE (release|debug).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/magnetar/target}"
profile="${PROFILE:-debug}"
if [ "$profile" = release ]; then
  cargo build --release -p magnetar --bin magnetar
else
  cargo build -p magnetar --bin magnetar
fi

# Copies a binary and every library it links into a fresh rootfs directory.
make_rootfs() {
  local binary="$1" target="$2"
  local rootfs
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/data" "$rootfs/tmp"
  cp "$binary" "$rootfs/usr/local/bin/$target"
  for lib in $(ldd "$binary" | awk '/=>/ {print $3} /^\s*\/lib/ {print $1}'); do
    [ -f "$lib" ] && cp --parents -L "$lib" "$rootfs"
  done
  echo "$rootfs"
}

build_image() {
  local binary="$1" name="$2" tag="$3"
  local rootfs
  rootfs=$(make_rootfs "$binary" "$name")
  cp deploy/Dockerfile.scratch "$rootfs/Dockerfile"
  docker build -q --build-arg "BINARY=$name" -t "$tag" "$rootfs"
  rm -rf "$rootfs"
}

build_image "$CARGO_TARGET_DIR/$profile/magnetar" magnetar magnetar:local
build_image "$(command -v etcd)" etcd magnetar-etcd:local
echo "built magnetar:local and magnetar-etcd:local"
