/**
 * How a child process is started so that nothing it spawns can outlive it.
 *
 * Where the kernel allows it, each child is the only process of a PID namespace and a mount
 * namespace of its own: `setsid unshare --pid --fork --kill-child --mount --propagation slave
 * /bin/sh -c INIT deno run …`. The small shell init is
 * PID 1 of the namespace: it runs `deno` as its child, forwards TERM/INT/HUP to it, reaps every
 * orphan (Deno does not: a double-forking program would leave zombies), and exits with deno's
 * status. When PID 1 exits, or `unshare` is killed, the kernel kills every process left in the
 * namespace — including those that called setsid() to leave the process group. The programs the
 * spawn broker runs for a child join both namespaces (spawn_broker.ts), so the mounts they make
 * stay in the child's namespace (mounts of the container propagate in, none out). Where a mount
 * namespace is not permitted, a PID namespace alone is used; where neither is, children fall
 * back to a session of their own (setsid) and the runtime warns at startup: a grandchild that
 * calls setsid() then escapes the group kill.
 *
 * Each child's data segment is bounded (`ulimit -d`, RLIMIT_DATA): V8's heap limit does not count
 * `ArrayBuffer` or WebAssembly memory, the data limit does (see {@link dataLimitKb}).
 *
 * Measured (2 cores): the namespace adds ~10-17 ms to a ~115 ms child start and ~3.5 MB of RSS
 * (unshare and sh).
 */

import { NSENTER, SETSID, UNSHARE } from "./system_programs.ts";

const INIT_SCRIPT = `[ "$1" = 0 ] || ulimit -d "$1"
shift
exec 3<&0
"$@" <&3 3<&- &
child=$!
exec 0<&- 3<&-
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
trap 'kill -HUP "$child" 2>/dev/null' HUP
while :; do
  wait "$child"
  rc=$?
  kill -0 "$child" 2>/dev/null || exit "$rc"
done`;

/**
 * How children are confined: a PID and a mount namespace each (mounts from the container
 * propagate in, none out), a PID namespace only, or only a session/process group each.
 */
export type Containment = "namespaces" | "pid-namespace" | "process-group";

/** unshare's options for each namespaced containment. */
const UNSHARE_OPTIONS: Readonly<Record<Exclude<Containment, "process-group">, string[]>> = {
  namespaces: ["--pid", "--fork", "--kill-child", "--mount", "--propagation", "slave"],
  "pid-namespace": ["--pid", "--fork", "--kill-child"],
};

/** How children are confined, and whether the runtime can run programs inside their namespaces. */
export interface ContainmentProbe {
  /** The strongest confinement this machine allows. */
  mode: Containment;
  /** Why a stronger mode (or joining) is not available. */
  why?: string;
  /** Whether `nsenter` can join a child's namespaces (the spawn broker runs programs there). */
  canJoin: boolean;
}

/** Whether nsenter can join the namespaces of a throwaway `unshare` with `options`. */
async function probeJoin(options: string[]): Promise<string | null> {
  if (!NSENTER) return "nsenter(1) is not installed";
  const holder = new Deno.Command(UNSHARE!, {
    args: [...options, "/bin/sh", "-c", "read -r _"],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const join = options.includes("--mount")
      ? [`--mount=/proc/${holder.pid}/ns/mnt`, `--pid=/proc/${holder.pid}/ns/pid_for_children`]
      : [`--pid=/proc/${holder.pid}/ns/pid_for_children`];
    // The holder has unshared once its shell runs; retry briefly until it has.
    for (let attempt = 0; attempt < 50; attempt++) {
      const { code, stderr } = await new Deno.Command(NSENTER, {
        args: [...join, "--", "/bin/true"],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (code === 0) return null;
      if (attempt === 49) return new TextDecoder().decode(stderr).trim();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return "nsenter did not succeed";
  } finally {
    await holder.stdin.close().catch(() => {});
    await holder.status;
  }
}

/**
 * Whether this machine lets the runtime give each child its namespaces (tries them once).
 * @returns the confinement children get, why nothing stronger is available, and whether the
 *   spawn broker can join the children's namespaces
 */
export async function probeContainment(): Promise<ContainmentProbe> {
  if (!SETSID || !UNSHARE) {
    return {
      mode: "process-group",
      why: "setsid(1) or unshare(1) is not installed",
      canJoin: false,
    };
  }
  const reasons: string[] = [];
  for (const mode of ["namespaces", "pid-namespace"] as const) {
    try {
      const { code, stderr } = await new Deno.Command(UNSHARE, {
        args: [...UNSHARE_OPTIONS[mode], "/bin/true"],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (code !== 0) {
        reasons.push(`${mode}: ${new TextDecoder().decode(stderr).trim()}`);
        continue;
      }
      const joinProblem = await probeJoin(UNSHARE_OPTIONS[mode]);
      if (joinProblem) reasons.push(`joining a child's namespaces: ${joinProblem}`);
      const why = reasons.length ? { why: reasons.join("; ") } : {};
      return { mode, canJoin: joinProblem === null, ...why };
    } catch (error) {
      reasons.push(`${mode}: ${error}`);
    }
  }
  return { mode: "process-group", why: reasons.join("; "), canJoin: false };
}

/**
 * Spawns `program args` as the leader of a new session and process group (so the group can be
 * killed as one), inside a PID namespace of its own when `containment` says so. The returned
 * pid is the group's: the leader is setsid's exec of unshare (or of the program itself).
 * Through setsid(1) rather than Deno's `detached`, which forks the runtime (10-40 ms with the
 * event loop blocked) while a plain spawn takes about 1 ms.
 * @param containment how the child is confined
 * @param program the program to run
 * @param args its arguments
 * @param options Deno's options for the process (stdio, env, cwd); its `args` are replaced
 * @param dataLimitKb the data-segment limit for `ulimit -d` (see {@link dataLimitKb}); 0 for none
 * @returns the spawned process, whose pid is its process group's
 */
export function spawnContained(
  containment: Containment,
  program: string,
  args: string[],
  options: Deno.CommandOptions,
  dataLimitKb = 0,
): Deno.ChildProcess {
  const argv = containment !== "process-group"
    ? [
      UNSHARE!,
      ...UNSHARE_OPTIONS[containment],
      "/bin/sh",
      "-c",
      INIT_SCRIPT,
      "init",
      String(dataLimitKb),
      program,
      ...args,
    ]
    : dataLimitKb > 0
    ? ["/bin/sh", "-c", 'ulimit -d "$0" && exec "$@"', String(dataLimitKb), program, ...args]
    : [program, ...args];
  return SETSID
    ? new Deno.Command(SETSID, { ...options, args: argv }).spawn()
    : new Deno.Command(argv[0], { ...options, args: argv.slice(1), detached: true }).spawn();
}

/** Signal names by number, for exit codes the namespace's shell init reports as 128 + n. */
const SIGNALS: Readonly<Record<number, Deno.Signal>> = {
  1: "SIGHUP",
  2: "SIGINT",
  5: "SIGTRAP",
  6: "SIGABRT",
  9: "SIGKILL",
  11: "SIGSEGV",
  15: "SIGTERM",
};

/**
 * The signal that ended a child, read from its status (the shell init turns a signal into 128 + n).
 * @param status the child's exit status
 * @returns the signal, or null when the status names none this module knows
 */
export function exitSignal(status: Deno.CommandStatus): Deno.Signal | null {
  if (status.signal) return status.signal;
  return status.code > 128 ? SIGNALS[status.code - 128] ?? null : null;
}

/**
 * The data-segment limit (KB) for a child with a JavaScript heap limit of `heapMb`: what Deno
 * reserves before it runs anything (~550 MB of mostly untouched address space, ~600 MB with a
 * start-sdk bundle loaded, measured on Deno 2.9.6), the heap, and as much again for buffers
 * outside it (`ArrayBuffer`, WebAssembly). Past it an allocation fails (`RangeError: Array
 * buffer allocation failed`) instead of taking the container's memory.
 * @param heapMb the profile's heap limit
 * @param cores the machine's cores (Deno's thread count, and so its stacks, follows them)
 * @returns the limit for `ulimit -d`
 */
export function dataLimitKb(heapMb: number, cores = navigator.hardwareConcurrency): number {
  return (DENO_RESERVED_MB + THREAD_MB * cores + 2 * heapMb) * 1024;
}

/** Address space Deno 2.9 reserves as data before package code runs, with room to spare. */
const DENO_RESERVED_MB = 768;
/** Thread stacks count as data too, and Deno runs about two threads per core (8 MB stacks). */
const THREAD_MB = 16;
