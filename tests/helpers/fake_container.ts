/**
 * Test helper: stand-ins for the programs start-sdk runs inside a StartOS service container,
 * `start-container` (StartOS's subcontainer launcher) and `mount`, written as shell scripts into
 * a directory that `sdk_runtime.ts` overlays onto /usr/bin inside the runtime's private mount
 * namespace (never the machine's own /usr/bin).
 *
 * The SDK spawns these with whatever environment the package gave a command (sometimes without
 * PATH or any of the test's variables), so every path the scripts need (the `deno` binary for the
 * fake server, the log file) is baked in when they are written.
 *
 * What the fakes do:
 * - `start-container subcontainer launch [--opt=..]... <rootfs>` (no command): the subcontainer's
 *   leader. It creates `<rootfs>/proc/1` (the SDK polls for it) and waits for SIGTERM (exit 0).
 * - `start-container subcontainer launch|exec [--opt=..]... <rootfs> fake-server <port>`: a small
 *   TCP server on 127.0.0.1:<port> (a `deno eval`), until SIGTERM.
 * - `start-container subcontainer exec [--opt=..]... <rootfs> <cmd...>`: runs `<cmd...>` on this
 *   machine, with the image's env file and the `--env=` variables exported. It is NOT chrooted:
 *   fixture commands must not touch paths.
 * - `start-container bind-mount --source S --target T [...]`: checks both exist, records, exits 0.
 * - `mount ...`: records its arguments, mounts nothing, exits 0.
 *
 * Every invocation appends one tab-separated line to the log: `<event>\t<pid>\t<detail>`.
 */

import { shQuote } from "../../lib/dev/standins/install.ts";

/** The test process's deno binary, baked into the fake server unless another is given. */
const DENO = Deno.execPath();

/** One line of the fakes' log. */
export interface FakeEvent {
  /**
   * `leader` (a leader started), `leader-exit`, `exec` (a command was run), `server` (a fake
   * server started), `server-exit`, `bind-mount`, `mount`, `refused` (a call the fake refused).
   */
  event: string;
  pid: number;
  /** The rest of the line (arguments joined by spaces). */
  detail: string;
}

/** The fake server: listens on 127.0.0.1:PORT until SIGTERM; records its start and exit. */
const SERVER_SOURCE = [
  // The host pid comes from the shell that exec'd this server (Deno.pid is the namespace's).
  "const [port, log, pid] = [Number(Deno.args[1]), Deno.args[3], Deno.args[4]];",
  "const note = (e) => Deno.writeTextFileSync(log, `${e}\\t${pid}\\t${port}\\n`, { append: true });",
  'const listener = Deno.listen({ hostname: "127.0.0.1", port });',
  'note("server");',
  'Deno.addSignalListener("SIGTERM", () => { listener.close(); note("server-exit"); Deno.exit(0); });',
  "for await (const conn of listener) conn.close();",
].join(" ");

function startContainerScript(log: string, denoDir: string, deno: string): string {
  return `#!/bin/sh
# Fake start-container written by tests/helpers/fake_container.ts (test stand-in).
LOG=${shQuote(log)}
DENO=${shQuote(deno)}
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
# The host's pid of this shell: /proc is the host's, so /proc/self is this process there (\$\$ is
# the pid inside the runtime child's PID namespace).
read -r self_stat < /proc/self/stat
HOST_PID=\${self_stat%% *}
note() { printf '%s\\t%s\\t%s\\n' "$1" "$HOST_PID" "$2" >> "$LOG"; }
refuse() { note refused "$*"; echo "start-container (fake): $*" >&2; exit 2; }

case "$1" in
bind-mount)
  shift
  args="$*"
  source= target=
  while [ $# -gt 0 ]; do
    case "$1" in
    --source) source=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --idmap) shift 2 ;;
    --recursive|--file) shift ;;
    *) refuse "bind-mount: unknown argument $1" ;;
    esac
  done
  [ -e "$source" ] || refuse "bind-mount: no source $source"
  [ -e "$target" ] || refuse "bind-mount: no target $target"
  note bind-mount "$args"
  exit 0
  ;;
subcontainer) ;;
*) refuse "unknown command: $*" ;;
esac

mode=$2
case "$mode" in launch|exec) ;; *) refuse "unknown subcontainer command: $mode" ;; esac
shift 2
envfile= user= workdir= extra=
while [ $# -gt 0 ]; do
  case "$1" in
  --env-file=*) envfile=\${1#--env-file=} ;;
  --user=*) user=\${1#--user=} ;;
  --workdir=*) workdir=\${1#--workdir=} ;;
  --env=*) extra="$extra
\${1#--env=}" ;;
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
  waiter=
  trap '[ -n "$waiter" ] && kill "$waiter" 2>/dev/null; note leader-exit "$rootfs"; exit 0' TERM
  # Noted before proc/1 exists: the SDK may stop the leader as soon as it sees proc/1.
  note leader "$rootfs"
  mkdir -p "$rootfs/proc/1" || refuse "launch: cannot create $rootfs/proc/1"
  # A waiter that ends by itself within a second should the leader be SIGKILLed.
  tail -f --pid="$$" /dev/null &
  waiter=$!
  while :; do wait "$waiter"; done
fi

[ -d "$rootfs/proc/1" ] || refuse "$mode: subcontainer $rootfs has no leader"
if [ -n "$envfile" ]; then
  [ -f "$envfile" ] || refuse "$mode: env file $envfile does not exist"
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) ;; *=*) export "$line" ;; esac
  done < "$envfile"
fi
if [ -n "$extra" ]; then
  while IFS= read -r line; do
    [ -n "$line" ] && export "$line"
  done <<EOF_ENV
$extra
EOF_ENV
fi

if [ "$1" = fake-server ]; then
  [ $# -eq 2 ] || refuse "fake-server: expected one port, got: $*"
  note exec "$mode user=$user workdir=$workdir $rootfs $*"
  DENO_DIR=${shQuote(denoDir)} DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 \\
    exec "$DENO" eval --no-config --quiet ${
    shQuote(SERVER_SOURCE)
  } fake-server "$2" "$rootfs" "$LOG" "$HOST_PID"
fi
note exec "$mode user=$user workdir=$workdir $rootfs $*"
exec "$@"
`;
}

function mountScript(log: string): string {
  return `#!/bin/sh
# Fake mount written by tests/helpers/fake_container.ts: records, mounts nothing.
printf 'mount\\t%s\\t%s\\n' "$$" "$*" >> ${shQuote(log)}
exit 0
`;
}

/** The written fakes. */
export interface FakeContainer {
  /** Directory holding `start-container` and `mount` (to overlay onto /usr/bin). */
  bin: string;
  /** The log every fake appends to. */
  log: string;
  /** The log's lines so far. */
  events(): Promise<FakeEvent[]>;
}

/**
 * Writes the fakes into `dir/bin`, logging to `dir/fakes.log`.
 * @param dir where to write them
 * @param serverDeno the `deno` the fake servers run (default: this process's). A benchmark gives
 *   a copy, so that the servers do not share the runtime's binary pages and lower its PSS.
 */
export async function writeFakeContainer(
  dir: string,
  serverDeno: string = DENO,
): Promise<FakeContainer> {
  const bin = `${dir}/bin`;
  const log = `${dir}/fakes.log`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.writeTextFile(log, "");
  const denoDir = Deno.env.get("DENO_DIR") ??
    `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`}/deno`;
  await Deno.writeTextFile(
    `${bin}/start-container`,
    startContainerScript(log, denoDir, serverDeno),
    {
      mode: 0o755,
    },
  );
  await Deno.writeTextFile(`${bin}/mount`, mountScript(log), { mode: 0o755 });
  return { bin, log, events: () => readFakeLog(log) };
}

/** Parses the fakes' log. */
export async function readFakeLog(log: string): Promise<FakeEvent[]> {
  const text = await Deno.readTextFile(log);
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const [event, pid, ...rest] = line.split("\t");
    return { event, pid: Number(pid), detail: rest.join("\t") };
  });
}
