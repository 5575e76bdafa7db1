# shellcheck shell=sh
# The dev stand-in for StartOS's `start-container` (the program start-sdk runs for every
# SubContainer). `deno task dev` writes it out at startup (lib/dev/standins/install.ts) as
# <root>/dev-host/bin/start-container, with the STANDIN_* variables below set in front of this
# text, and lays it over /usr/bin inside the dev namespace only. Every call appends one line to
# $STANDIN_LOG, which the dev session prints ("stand-in start-container ...").
#
# What it does, by command:
#   bind-mount --source S --target T [--recursive] [--file] [--idmap X]...
#       With an image folder (--images) and T inside a subcontainer whose rootfs is that image:
#       a real recursive bind mount (destroy-fs unmounts it). Otherwise: recorded, nothing
#       mounted, exit 0.
#   subcontainer launch [options] ROOTFS
#       The subcontainer's leader: creates ROOTFS/proc/1 (start-sdk polls for it) and waits
#       for SIGTERM, then exits 0.
#   subcontainer launch|exec [options] ROOTFS COMMAND...
#       With the image's rootfs mounted (--images): COMMAND runs inside it, chrooted, in a
#       private mount namespace of its own (a small /dev of device nodes, the machine's /proc),
#       as the image's user (as root in an unprivileged user namespace, which maps one uid), in
#       its workdir, with its env file and --env= variables.
#       Without one: a daemon (launch with a command, or an exec spawned with inherited stdio, as
#       start-sdk's Daemons spawn them) becomes a stand-in server on the ports its command line
#       names (--port N, -p N, HOST:N, PORT=N) or else on the ports the package bound that are
#       free, until SIGTERM; any other exec is not run and exits 0 with no output.
#   anything else: refused, exit 2.
#
# Set in front (all absolute paths):
#   STANDIN_LOG        the log file
#   STANDIN_DENO       the deno binary, STANDIN_DENO_DIR its module cache, STANDIN_CONFIG deno.json
#   STANDIN_SERVER     lib/dev/standins/port_server.ts
#   STANDIN_STATE      the dev host's state file (bindings)
#   STANDIN_SUBS       where subcontainer filesystems are, as the package sees it
#   STANDIN_HOST_BIN   the directory of the machine's real mount and unshare
#   STANDIN_IMAGES     1 when an image folder was given, else empty

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# One record a line: a tab or newline inside the detail (a multi-line `python3 -c` script) is
# written as a space, so the record keeps its end.
note() { printf 'start-container\t%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\t\n' '  ')" >>"$STANDIN_LOG"; }
refuse() {
  note refused "$1"
  printf 'start-container (dev stand-in): %s\n' "$1" >&2
  exit 2
}

# The subcontainer rootfs a path under $STANDIN_SUBS belongs to (empty when it is not under it).
rootfs_of() {
  case "$1" in
  "$STANDIN_SUBS"/*)
    rest=${1#"$STANDIN_SUBS"/}
    printf '%s/%s' "$STANDIN_SUBS" "${rest%%/*}"
    ;;
  esac
}

# Whether ROOTFS shows a real image (the dev host mounted the image's overlay on it).
real_image() {
  [ -n "$STANDIN_IMAGES" ] && [ -n "$1" ] && mountpoint -q "$1"
}

bind_mount() {
  args="$*" source= target= recursive=
  while [ $# -gt 0 ]; do
    case "$1" in
    --source) source=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --idmap) shift 2 ;;
    --recursive) recursive=1; shift ;;
    --file) shift ;;
    *) refuse "bind-mount: unknown argument $1" ;;
    esac
  done
  [ -e "$source" ] || refuse "bind-mount: no source $source"
  [ -e "$target" ] || refuse "bind-mount: no target $target"
  if real_image "$(rootfs_of "$target")"; then
    if [ -n "$recursive" ]; then how=--rbind; else how=--bind; fi
    "$STANDIN_HOST_BIN/mount" "$how" -- "$source" "$target" || refuse "bind-mount: mount $how failed"
    note bind-mount "$args (mounted)"
  else
    note bind-mount "$args (recorded, nothing mounted)"
  fi
  exit 0
}

# The leader: proc/1 appears, then wait for SIGTERM. The waiter ends by itself within a second
# should the leader be SIGKILLed.
leader() {
  note leader "$1"
  mkdir -p "$1/proc/1" || refuse "launch: cannot create $1/proc/1"
  waiter=
  trap '[ -n "$waiter" ] && kill "$waiter" 2>/dev/null; exit 0' TERM INT
  tail -f --pid="$$" /dev/null &
  waiter=$!
  wait "$waiter"
  exit 0
}

# Whether a daemon is asked for rather than a one-shot command. start-sdk's Daemons spawn with
# stdio "inherit"; exec() pipes stdin, stdout and stderr to collect them. Run by the runtime's
# spawn broker (the parent is nsenter), an inherited stdin arrives as /dev/null; run by the
# package's child itself, an inherited stdout is the child's own.
daemon_wanted() {
  read -r stat </proc/self/stat || return 1
  self=${stat%% *}
  # shellcheck disable=SC2046 # the fields after the command name, split on purpose
  set -- ${stat##*) }
  parent=$2
  read -r parent_name <"/proc/$parent/comm" || parent_name=
  if [ "$parent_name" = nsenter ]; then
    [ "$(readlink "/proc/$self/fd/0")" = /dev/null ]
    return
  fi
  mine=$(readlink "/proc/$self/fd/1") || return 1
  theirs=$(readlink "/proc/$parent/fd/1") || return 1
  [ -n "$mine" ] && [ "$mine" = "$theirs" ]
}

# Whether the command (PROGRAM ARGS...) only runs file utilities that run once and exit (chown,
# mkdir, cp...), never a server: what packages put in a daemon set's one-shot steps, also as
# `sh -c 'chmod ... && chown ...'` (every command of the script, split at && || ;, is one).
one_shot_program() {
  case "${1##*/}" in
  chown | chmod | chgrp | mkdir | cp | mv | rm | ln | touch | install | true) return 0 ;;
  sh | bash | dash) [ "$2" = -c ] && [ -n "$3" ] || return 1 ;;
  *) return 1 ;;
  esac
  printf '%s\n' "$3" | sed 's/&&/\n/g; s/||/\n/g; s/;/\n/g' | {
    while read -r word _; do
      [ -z "$word" ] || one_shot_program "$word" || exit 1
    done
  }
}

# uid:gid of USER (a name or a number) in ROOTFS/etc/passwd.
ids_of() {
  case "$2" in
  '' | root) echo 0:0; return ;;
  *[!0-9:]*)
    ids=$(awk -F: -v u="$2" '$1 == u { print $3 ":" $4; exit }' "$1/etc/passwd" 2>/dev/null)
    [ -n "$ids" ] || refuse "no user $2 in $1/etc/passwd"
    echo "$ids"
    ;;
  *:*) echo "$2" ;;
  *) echo "$2:$2" ;;
  esac
}

# Runs COMMAND... chrooted in ROOTFS, in a private mount namespace of its own.
in_image() {
  rootfs=$1 ids=$2 workdir=$3 envlist=$4
  shift 4
  exec /usr/bin/unshare --mount --propagation private /bin/sh -c '
set -e
rootfs=$1 ids=$2 workdir=$3 envlist=$4 mount=$5; shift 5
mkdir -p "$rootfs/dev" "$rootfs/proc"
"$mount" -t tmpfs -o mode=0755,size=64k,nosuid startos-dev-dev "$rootfs/dev"
for node in null zero full random urandom tty; do
  [ -e "/dev/$node" ] || continue
  : >"$rootfs/dev/$node"
  "$mount" --bind "/dev/$node" "$rootfs/dev/$node"
done
mkdir "$rootfs/dev/shm" "$rootfs/dev/pts"
"$mount" -t tmpfs -o mode=1777,nosuid,nodev startos-dev-shm "$rootfs/dev/shm"
ln -s /proc/self/fd "$rootfs/dev/fd"
"$mount" --rbind /proc "$rootfs/proc"
for name in $(env | sed -n "s/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p"); do unset "$name"; done
while IFS= read -r line; do export "$line"; done <"$envlist"
rm -f "$envlist"
if [ -n "$ids" ]; then
  exec /usr/bin/unshare --root="$rootfs" --wd="$workdir" --setuid="${ids%%:*}" --setgid="${ids##*:}" -- "$@"
fi
exec /usr/bin/unshare --root="$rootfs" --wd="$workdir" -- "$@"
' start-container-image "$rootfs" "$ids" "$workdir" "$envlist" "$STANDIN_HOST_BIN/mount" "$@"
}

subcontainer() {
  mode=$1
  case "$mode" in launch | exec) ;; *) refuse "unknown subcontainer command: $mode" ;; esac
  shift
  envfile= user= workdir=/ extra=
  while [ $# -gt 0 ]; do
    case "$1" in
    --env-file=*) envfile=${1#--env-file=} ;;
    --user=*) user=${1#--user=} ;;
    --workdir=*) workdir=${1#--workdir=} ;;
    --env=*) extra="$extra
${1#--env=}" ;;
    --*) refuse "$mode: unknown option $1" ;;
    *) break ;;
    esac
    shift
  done
  [ $# -gt 0 ] || refuse "$mode: no rootfs"
  rootfs=$1
  shift
  [ -d "$rootfs" ] || refuse "$mode: rootfs $rootfs does not exist"
  if [ $# -eq 0 ]; then
    [ "$mode" = launch ] || refuse "exec: no command"
    leader "$rootfs"
  fi
  image=${envfile##*/}
  image=${image%.env}
  if real_image "$rootfs"; then
    envlist=$(mktemp "${TMPDIR:-/tmp}/startos-dev-env.XXXXXX") || refuse "$mode: mktemp failed"
    if [ -n "$envfile" ] && [ -f "$envfile" ]; then
      grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$envfile" >>"$envlist" || true
    fi
    printf '%s\n' "$extra" | grep -E '^[A-Za-z_][A-Za-z0-9_]*=' >>"$envlist" || true
    grep -q '^PATH=' "$envlist" || echo "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" >>"$envlist"
    ids=$(ids_of "$rootfs" "$user") || exit 2
    how="run in the image"
    # An unprivileged user namespace maps one uid (root inside): other users do not exist there.
    read -r _ _ mapped </proc/self/uid_map
    if [ "$mapped" != 4294967295 ]; then
      [ "$ids" = 0:0 ] || how="run in the image as root: one uid is mapped here, not $user's"
      ids=
    fi
    note "$mode" "image=$image user=$user workdir=$workdir $* ($how)"
    in_image "$rootfs" "$ids" "$workdir" "$envlist" "$@"
  fi
  # A one-shot step of a daemon set (`Daemons.addOneshot`) is spawned as a daemon is; a program
  # that only changes files is one of those, whatever its stdio: it succeeds at once.
  if [ "$mode" = exec ] && one_shot_program "$@"; then
    note exec "image=$image $* (not run: a file utility, one-shot; exit 0, no output)"
    exit 0
  fi
  if [ "$mode" = launch ] || daemon_wanted; then
    note daemon "image=$image $* (stand-in server)"
    DENO_DIR=$STANDIN_DENO_DIR DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 exec "$STANDIN_DENO" run \
      --quiet --no-prompt --cached-only --no-lock --config="$STANDIN_CONFIG" \
      --allow-net=127.0.0.1 --allow-read="$STANDIN_STATE" --allow-write="$STANDIN_LOG" \
      "$STANDIN_SERVER" "$STANDIN_STATE" "$STANDIN_LOG" "$extra" "$@"
  fi
  note exec "image=$image $* (not run: no image rootfs; exit 0, no output)"
  exit 0
}

case "$1" in
bind-mount) shift; bind_mount "$@" ;;
subcontainer) shift; subcontainer "$@" ;;
*) refuse "unknown command: $*" ;;
esac
