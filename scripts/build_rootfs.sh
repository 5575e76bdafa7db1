#!/bin/sh
# Builds the files that drop into a StartOS service container's Debian rootfs in place of the
# Node runtime (start-os container-runtime/update-image.sh copies its runtime, two units and
# start-container the same way; start-container itself comes from StartOS):
#
#   usr/lib/startos/runtime/startos-deno-runtime   the entrypoint: a launcher that runs runtime.js
#                                                   with the deno below and the start task's
#                                                   flags (scripts/launcher.ts says why not the
#                                                   compiled binary: ~35 MB PSS per container)
#   usr/lib/startos/runtime/deno                    the deno the runtime and children run with
#   usr/lib/startos/runtime/runtime.js              main.ts bundled, zod included (scripts/bundle.ts
#                                                   says why: ~10 MB PSS per container)
#   usr/lib/startos/runtime/worker.js               lib/worker/entry.ts bundled: what children run
#   usr/lib/startos/runtime/deno-dir/               Deno's cache (DENO_DIR), warmed for both files
#   usr/lib/startos/runtime/rootfs-install.sh       deploy/rootfs-install.sh, run inside the rootfs
#   lib/systemd/system/container-runtime.service    deploy/ (ExecStart runs the binary above)
#   lib/systemd/system/container-runtime-failure.service
#   etc/systemd/system/multi-user.target.wants/container-runtime.service -> the unit
#
# Usage: scripts/build_rootfs.sh [--out DIR] [--binary PATH] [--deno PATH] [--into ROOTFS]
#   --out DIR      where the tree is written (default dist/rootfs; emptied first)
#   --binary PATH  ship this compiled runtime (deno task compile) as the entrypoint instead of
#                  the launcher and runtime.js (worker.js is shipped all the same)
#   --compiled     the same, compiled here (needs denort: the network or DENORT_BIN)
#   --deno PATH    the deno binary children run with (default: deno on PATH)
#   --into ROOTFS  then copy the tree into an unpacked Debian rootfs and run rootfs-install.sh
#                  there with chroot (needs root and the network: apt-get install rsync)
set -eu

cd "$(dirname "$0")/.."
out=dist/rootfs binary= compiled= deno= into=
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=$2; shift 2 ;;
  --binary) binary=$2; shift 2 ;;
  --compiled) compiled=1; shift ;;
  --deno) deno=$2; shift 2 ;;
  --into) into=$2; shift 2 ;;
  --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "build_rootfs.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$deno" ] || deno=$(command -v deno) || { echo "build_rootfs.sh: no deno on PATH (--deno)" >&2; exit 1; }
deno=$(readlink -f "$deno")

runtime=$out/usr/lib/startos/runtime
rm -rf "$out"
mkdir -p "$runtime" "$out/lib/systemd/system" "$out/etc/systemd/system/multi-user.target.wants"

if [ -n "$binary" ]; then
  cp "$binary" "$runtime/startos-deno-runtime"
elif [ -n "$compiled" ]; then
  "$deno" task compile --output "$runtime/startos-deno-runtime"
else
  "$deno" run --quiet --allow-read scripts/launcher.ts > "$runtime/startos-deno-runtime"
fi
chmod 0755 "$runtime/startos-deno-runtime"
cp "$deno" "$runtime/deno"
chmod 0755 "$runtime/deno"
"$deno" run --quiet --allow-read --allow-write --allow-run --allow-env scripts/bundle.ts \
  --out "$runtime"
# A compiled entrypoint embeds main.ts: its children still run worker.js.
[ -z "$binary$compiled" ] || rm "$runtime/runtime.js"
cp deploy/rootfs-install.sh "$runtime/rootfs-install.sh"
chmod 0755 "$runtime/rootfs-install.sh"
# Warmed here for the build machine's paths; rootfs-install.sh warms it again at the final path.
DENO_DIR="$runtime/deno-dir" DENO_NO_UPDATE_CHECK=1 "$runtime/rootfs-install.sh" --warm-cache

for unit in container-runtime.service container-runtime-failure.service; do
  cp "deploy/$unit" "$out/lib/systemd/system/$unit"
  chmod 0644 "$out/lib/systemd/system/$unit"
done
ln -sf /lib/systemd/system/container-runtime.service \
  "$out/etc/systemd/system/multi-user.target.wants/container-runtime.service"
echo "build_rootfs.sh: wrote $out" >&2

if [ -n "$into" ]; then
  [ -x "$into/bin/sh" ] || { echo "build_rootfs.sh: $into is not a rootfs (no bin/sh)" >&2; exit 1; }
  cp -a "$out/." "$into/"
  chroot "$into" /usr/lib/startos/runtime/rootfs-install.sh
  echo "build_rootfs.sh: installed into $into" >&2
fi
