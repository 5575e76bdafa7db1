#!/bin/sh
# Runs INSIDE the service container's Debian rootfs (chroot or systemd-nspawn, as root, with the
# network), after scripts/build_rootfs.sh copied its tree in; the counterpart of start-os
# container-runtime/deb-install.sh. Installs what the runtime needs at run time, warms Deno's
# cache at its final path, enables the unit and removes the Node runtime it replaces.
# `rootfs-install.sh --warm-cache` only warms the cache, beside this script (build_rootfs.sh).
set -eu

RUNTIME=/usr/lib/startos/runtime

# Deno analyses a module the first time it runs it and keeps the result in DENO_DIR; warmed here,
# the runtime's first start in the container skips that (parsing runtime.js unwarmed leaves the
# runtime ~14 MB larger). The launcher runs runtime.js --no-config --cached-only, children
# worker.js --no-config --no-lock (a compiled entrypoint, --binary, has no runtime.js).
warm_cache() {
  for file in "$1/worker.js" "$1/runtime.js"; do
    if [ -f "$file" ]; then
      DENO_DIR="$1/deno-dir" DENO_NO_UPDATE_CHECK=1 \
        "$1/deno" cache --quiet --no-config --no-lock "$file"
    fi
  done
}

if [ "${1:-}" = "--warm-cache" ]; then
  warm_cache "$(dirname "$(readlink -f "$0")")"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# rsync: start-sdk's Backups run it (backup and restore); util-linux: unshare, nsenter, setsid
# (each child's PID namespace, the spawn of start-container inside it).
apt-get install -y --no-install-recommends rsync util-linux
apt-get clean
rm -rf /var/lib/apt/lists/*

warm_cache "$RUNTIME"

# The Node runtime this replaces (its unit file was overwritten by ours).
rm -rf /usr/lib/startos/init

systemctl enable container-runtime.service
