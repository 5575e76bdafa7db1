/**
 * The private channel between the runtime and one child: method names and
 * param shapes. Imported by both sides; the runtime validates what a child
 * sends (a child runs untrusted code), the child trusts the runtime.
 */

import type { FileState } from "./file_state.ts";

/** The package functions a child can be asked to run. */
export type PackageFunction = "init" | "uninit" | "main" | "getInput" | "run" | "createBackup";

/** Roles of children; procedures map to profiles of the same name. */
export type ChildRole = "init" | "main" | "getInput" | "run" | "backup" | "sandbox";

/** Child → runtime, first message on the connection: proves who it is. */
export const HELLO = "hello";
/** Why a child could not load the package, as a wire error. */
export interface LoadError {
  /** The error code (59 for a package that threw while loading). */
  code: number;
  /** What went wrong. */
  message: string;
  /** `{ details, debug }`, as in any answer. */
  data?: unknown;
}
/** Params of `hello`: the one-time token (read from stdin), and the package load outcome. */
export interface HelloParams {
  /** The token the runtime wrote to the child's stdin. */
  token: string;
  /** Present when the package could not be loaded. */
  loadError?: LoadError;
}

/** Child → runtime request: one effect call. */
export const EFFECT = "effect";
/** Params of `effect`. */
export interface EffectParams {
  /** The effect's wire name (`get-status`, `action.get-input`). */
  method: string;
  /** Its options minus function-valued members. */
  params: Record<string, unknown>;
  /** Child-local id of the callback function passed, or null. */
  callback: number | null;
  /** The event id of the effects object the call was made through (the call it belongs to). */
  eventId?: string | null;
}

/** Child → runtime request during warm-up: answered null, reaches nobody. */
export const PING = "ping";

/** Child → runtime request (compat layer): the text of `/proc/net/<file>`, which Deno reserves. */
export const PROC_NET = "proc-net";
/** The `/proc/net` files the compat layer serves (what checkPortListening reads). */
export const PROC_NET_FILES: readonly ["tcp", "tcp6", "udp", "udp6"] = Object.freeze(
  ["tcp", "tcp6", "udp", "udp6"] as const,
);
/** One of `PROC_NET_FILES`. */
export type ProcNetFile = (typeof PROC_NET_FILES)[number];
/** Params of `proc-net`. */
export interface ProcNetParams {
  /** Which file. */
  file: ProcNetFile;
}

/** Child → runtime notification: these child-local callback ids are dead. */
export const DROP_CALLBACKS = "drop-callbacks";
/** Params of `drop-callbacks`. */
export interface DropCallbacksParams {
  /** The child-local ids. */
  ids: number[];
}

/** Runtime → child request, sent twice after hello: exercises the channel so the first real call runs warm. */
export const WARM = "warm";

/**
 * Runtime → child request, to the package host after init: answered once the child holds nothing
 * that could run package code again but what it watches: no effect or other channel request
 * pending, no brokered process, no call, and an empty event loop (no timer, socket or process of
 * its own; its `fs/promises.watch` watches do not count). The answer lists what it still watches:
 * with none, the runtime retires it; otherwise the runtime takes the watches over, retires it and
 * replays init when one fires (process/process_system.ts).
 */
export const IDLE = "idle";
/** One path the package host watches (`fs/promises.watch`). */
export interface WatchedPath {
  /** The absolute path watched. */
  path: string;
  /** Whether the directory's whole tree is watched. */
  recursive: boolean;
  /** The path's state when the answer was made (null: it does not exist). */
  state: FileState | null;
}
/** A path a timer of the package host looks at each tick, and at which period (worker/idle.ts). */
export interface PolledPath {
  /** The absolute path looked at. */
  path: string;
  /** Its state when the last tick looked (null: it did not exist). */
  state: FileState | null;
  /** How often the timers tick (ms; the shortest period among them). */
  everyMs: number;
}
/** Answer of `idle`. */
export interface IdleResult {
  /** Callbacks registered at the host and not fired or dropped. */
  callbacks: number;
  /** The file watches live. */
  watches: WatchedPath[];
  /** The paths the host's timers poll: all that its timers do. */
  polls: PolledPath[];
  /** The delays (ms) of timers init's call left that the look did not wait for (tick_observation.ts). */
  droppedTimers: number[];
  /**
   * The callback notifications the child had received when it answered: fewer than the runtime
   * sent means one overtook the answer, which may be older than the child's reaction to it.
   */
  callbacksSeen: number;
}

/** Runtime → child request: run one package function; answered with its JSON result. */
export const RUN = "run";
/** Params of `run`. */
export interface RunParams {
  /** Which package function. */
  fn: PackageFunction;
  /** The host's procedure id, exposed as `effects.eventId`; null for main. */
  eventId: string | null;
  /**
   * `{kind}` for init (`{kind: null, replay: true}` when the runtime replays it for a retired host),
   * `{target}` for uninit, `{actionId, prefill}`, `{actionId, input}`, `{}`.
   */
  args: Record<string, unknown>;
}

/** Runtime → child notification: stop on your own (main: leave its context, `term()` the daemons, exit). */
export const TERMINATE = "terminate";

/** Runtime → child notification: a callback fired at the host. */
export const CALLBACK = "callback";
/** Params of `callback` on the channel (child-local id). */
export interface CallbackParams {
  /** The child-local callback id. */
  id: number;
  /** The arguments the host fired it with. */
  args: unknown[];
}

/** How a brokered program's stream is connected in the child. */
export type SpawnStdio = "pipe" | "inherit" | "ignore";

/**
 * Child → runtime request (compat layer): run a program start-sdk runs (`start-container`,
 * `mount`, `rsync`). The runtime checks it against the profile's table and runs it itself;
 * answered with the process's id on this channel and its pid in the child's namespace.
 */
export const SPAWN = "spawn";
/** Params of `spawn`. */
export interface SpawnParams {
  /** The program as package code named it. */
  command: string;
  /** Its arguments, as package code passed them (checked, then run unchanged). */
  args: string[];
  /** `pipe`: bytes come in `spawn-stdin` notifications; otherwise the process gets no input. */
  stdin: SpawnStdio;
  /** `pipe`: sent in `spawn-output`; `inherit`: logged under the child's name; `ignore`: dropped. */
  stdout: SpawnStdio;
  /** As `stdout`, for the process's stderr. */
  stderr: SpawnStdio;
}
/** Result of `spawn`. */
export interface SpawnResult {
  /** The process's id on this channel. */
  id: number;
  /** Its pid in the child's PID namespace (or the container's, without namespaces). */
  pid: number;
}

/** Child → runtime notification: bytes for a brokered process's stdin (base64), or its end (null). */
export const SPAWN_STDIN = "spawn-stdin";
/** Params of `spawn-stdin`. */
export interface SpawnStdinParams {
  /** The process's id on this channel (from {@link SpawnResult}). */
  id: number;
  /** The bytes, base64; null closes the process's stdin. */
  data: string | null;
}

/** Child → runtime notification: send a signal to a brokered process. */
export const SPAWN_KILL = "spawn-kill";
/** Params of `spawn-kill`. */
export interface SpawnKillParams {
  /** The process's id on this channel (from {@link SpawnResult}). */
  id: number;
  /** The signal's name (`SIGTERM`); the runtime ignores a signal it does not pass on. */
  signal: string;
}

/** Runtime → child notification: output of a brokered process (base64). */
export const SPAWN_OUTPUT = "spawn-output";
/** Params of `spawn-output`. */
export interface SpawnOutputParams {
  /** The process's id on this channel (from {@link SpawnResult}). */
  id: number;
  /** Which of its streams the bytes came from. */
  stream: "stdout" | "stderr";
  /** The bytes, base64. */
  data: string;
}

/** Runtime → child notification: a brokered process ended (after all its output). */
export const SPAWN_EXIT = "spawn-exit";
/** Params of `spawn-exit`. */
export interface SpawnExitParams {
  /** The process's id on this channel (from {@link SpawnResult}). */
  id: number;
  /** Its exit code, or null when a signal ended it. */
  code: number | null;
  /** The name of the signal that ended it (`SIGKILL`), or null when it exited. */
  signal: string | null;
}

/**
 * Child → runtime notification: permission denials the child's package code raised (and maybe
 * caught), for the runtime's log. Sent when a call that met one ends (before its answer), and once
 * per distinct denial met outside a call (main's daemons, callbacks). Advisory: the child's own
 * account, which package code could silence.
 */
export const DENIED = "denied";
/** One kind of denial met, with how often. */
export interface DeniedEntry {
  /** `read`, `write`, `net`, `env`, `sys`, `run`, `all`, `spawn`, `effect`, `other`. */
  permission: string;
  /** The path, `host:port`, variable, sys kind, program or effect refused. */
  target: string;
  /** The first denial's message. */
  message: string;
  /** The policy key that would grant it (`profiles.run.net`). */
  policyKey: string;
  /** How many times the call met it. */
  count: number;
}
/** Params of `denied`. */
export interface DeniedParams {
  /** The call's event id (null for main, or outside a call). */
  eventId: string | null;
  /** The package function the call ran, or null outside a call. */
  fn: PackageFunction | null;
  /** `answered`: the call answered as the package did; `failed`: it was answered with an error. */
  outcome: "answered" | "failed" | "outside";
  /** The denials, at most {@link MAX_DENIED_ENTRIES} kinds. */
  denials: DeniedEntry[];
}
/** The most denial kinds one call keeps and reports. */
export const MAX_DENIED_ENTRIES = 16;

/** Roles that serve one call at a time: their effects, subcontainers and spawns belong to it. */
export const PROCEDURE_ROLES: ReadonlySet<ChildRole> = new Set([
  "getInput",
  "run",
  "backup",
  "sandbox",
]);

/**
 * The programs the spawn broker runs for package code (no child is granted them): start-sdk's
 * (`start-container`, `mount`, `rsync`), and the file utilities packages run themselves, directly
 * or through `sh -c` (lib/policy/file_utilities.ts).
 */
export type BrokeredProgram =
  | "start-container"
  | "mount"
  | "rsync"
  | "sh"
  | "bash"
  | "mv"
  | "cp"
  | "rm"
  | "mkdir"
  | "chown"
  | "chmod"
  | "touch";

/** Every brokered program name. */
export const BROKERED_PROGRAMS: readonly BrokeredProgram[] = Object.freeze([
  "start-container",
  "mount",
  "rsync",
  "sh",
  "bash",
  "mv",
  "cp",
  "rm",
  "mkdir",
  "chown",
  "chmod",
  "touch",
]);

/** Where the container image installs system programs; the broker looks nowhere else by default. */
export const SYSTEM_PROGRAM_DIRS: readonly string[] = Object.freeze([
  "/usr/bin",
  "/bin",
  "/usr/sbin",
  "/sbin",
]);

/**
 * The brokered program a spawn names (`mount`, `/usr/bin/mount`), or null for any other.
 * @param command the program as package code named it: a bare name or a path
 * @returns the brokered program, or null (also for a path outside {@link SYSTEM_PROGRAM_DIRS})
 */
export function brokeredProgram(command: string): BrokeredProgram | null {
  const slash = command.lastIndexOf("/");
  if (slash !== -1 && !SYSTEM_PROGRAM_DIRS.includes(command.slice(0, slash))) return null;
  const name = command.slice(slash + 1);
  return (BROKERED_PROGRAMS as readonly string[]).includes(name) ? name as BrokeredProgram : null;
}
