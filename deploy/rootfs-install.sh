#!/bin/sh
# Runs INSIDE the service container's Debian rootfs (chroot or systemd-nspawn, as root, with the
# network), after scripts/build_rootfs.sh copied its tree in; the counterpart of start-os
# container-runtime/deb-install.sh. Installs what the runtime needs at run time, warms the module
# cache at its final path, enables the unit and removes the Node runtime it replaces.
set -eu

RUNTIME=/usr/lib/startos/runtime

export DEBIAN_FRONTEND=noninteractive
apt-get update
# rsync: start-sdk's Backups run it (backup and restore); util-linux: unshare, nsenter, setsid
# (each child's PID namespace, the spawn of start-container inside it).
apt-get install -y --no-install-recommends rsync util-linux
apt-get clean
rm -rf /var/lib/apt/lists/*

# Children run `deno run --no-config --no-lock --cached-only lib/worker/entry.ts`; the launcher
# runs main.ts with --cached-only too (a compiled entrypoint, --binary, has no main.ts here).
DENO_DIR="$RUNTIME/deno-dir" DENO_NO_UPDATE_CHECK=1 \
  "$RUNTIME/deno" cache --no-config --no-lock "$RUNTIME/lib/worker/entry.ts"
if [ -f "$RUNTIME/main.ts" ]; then
  DENO_DIR="$RUNTIME/deno-dir" DENO_NO_UPDATE_CHECK=1 \
    "$RUNTIME/deno" cache --config "$RUNTIME/deno.json" "$RUNTIME/main.ts"
fi

# The Node runtime this replaces (its unit file was overwritten by ours).
rm -rf /usr/lib/startos/init

systemctl enable container-runtime.service
