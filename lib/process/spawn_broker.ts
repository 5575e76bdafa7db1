/**
 * The spawn broker: runs the programs start-sdk needs (`start-container`, `mount`, `rsync`) for
 * children that are granted none.
 *
 * A child's compat layer asks on its channel (`spawn`); the broker checks the request against
 * the profile's operations (lib/policy/spawn_rules.ts), finds the program by absolute path in
 * the runtime's own program directories (never through a PATH a child controls), and runs it
 * inside the child's PID and mount namespaces through `nsenter`, so the child's teardown kills it
 * and its mounts stay in the child's namespace. The process's stdin, stdout, stderr, exit status
 * and signals travel over the channel (base64 in notifications); a stream the package inherited
 * is logged under the child's name instead.
 *
 * In the child's namespace the program is started through `/bin/sh -c 'echo $$ >&2; exec …'`:
 * the first line of its stderr is its pid there, which `kill` is sent to (nsenter passes no
 * signal on). Package code cannot change what runs: the child's mount namespace changes only
 * through brokered mounts, whose targets must lie inside a rootfs.
 * @module
 */

import type { Logger } from "../log.ts";
import type { Profile } from "../policy/permissions.ts";
import { checkSpawn, type SpawnContext } from "../policy/spawn_rules.ts";
import { listDirectory } from "../policy/paths.ts";
import { decodeBase64, encodeBase64 } from "../protocol/base64.ts";
import {
  type ChildRole,
  PROCEDURE_ROLES,
  SPAWN_EXIT,
  SPAWN_OUTPUT,
  type SpawnKillParams,
  type SpawnParams,
  type SpawnResult,
  type SpawnStdinParams,
  SYSTEM_PROGRAM_DIRS,
} from "../protocol/channel.ts";
import { packageFailure, permissionDenied } from "../protocol/errors.ts";
import type { SubcontainerLedger } from "../effects/subcontainer_ledger.ts";
import { forwardLines } from "./output_lines.ts";
import { findProgram, NSENTER, SETSID } from "./system_programs.ts";
import { checkChildMounts, mountPoints, readMountinfo } from "./mount_guard.ts";
import { abortable, timeoutSignal } from "../async/abortable.ts";
import type { Containment } from "./spawn.ts";

// Re-exported so that the types this module's API uses are documented with it.
export type { LogFields, Logger } from "../log.ts";

/** What the broker uses of a child (the launcher's `Child` is one). */
export interface SpawnChild {
  /** A short name for logs: `run#3`. */
  readonly name: string;
  /** The child's role; a procedure child may use only the subcontainers of the call it runs. */
  readonly role: ChildRole;
  /** The child's profile: its `spawn` list holds the operations it may use. */
  readonly profile: Pick<Profile, "spawn">;
  /** The child's namespace leader (unshare) in the runtime's PID namespace. */
  readonly pid: number;
  /** The call the child runs (procedure children), and whether one runs. */
  readonly eventId: string | null;
  /** Whether a call runs in the child now (outside one, a procedure child may use no rootfs). */
  readonly inCall: boolean;
  /**
   * Sends a notification on the child's channel.
   * @param method the channel method (`spawn-output`, `spawn-exit`)
   * @param params its params
   */
  notify(method: string, params: unknown): void;
  /**
   * Logs a line of output under the child's name, within the child's output budget.
   * @param line the line, without its newline
   * @param fields extra log fields (`stream`, `program`)
   */
  logOutput(line: string, fields: Record<string, string>): void;
  /** Kills the child and everything in its namespaces. */
  kill(): Promise<void>;
}

/** What the broker needs from the runtime. */
export interface SpawnBrokerOptions {
  /** Where refused requests and the starts and exits of brokered processes are logged. */
  log: Logger;
  /** The mount root. */
  root: string;
  /**
   * How children are confined: programs join a child's PID namespace (and, with `namespaces`,
   * its mount namespace) unless it is `process-group`.
   */
  containment: Containment;
  /** Whether programs can run inside a child's namespaces (nsenter works here). */
  canJoin: boolean;
  /** Directories searched, in order, for a brokered program. */
  programDirs: readonly string[];
  /** Which subcontainers each child owns, and the mounts the broker made for it (recorded here). */
  subcontainers: SubcontainerLedger;
  /** The environment brokered programs run with. */
  env: Record<string, string>;
}

/** How long a brokered process's output may still arrive after it exited. */
const OUTPUT_AFTER_EXIT_MS = 250;

/** Bytes a brokered process's stdin may hold that it has not read yet. */
const MAX_PENDING_STDIN_BYTES = 4 * 1024 * 1024;

/** Brokered processes one child may have running at once. */
export const MAX_PROCESSES_PER_CHILD = 64;

/** The signals package code may send to a brokered process. */
const SIGNALS: ReadonlySet<string> = new Set([
  "SIGTERM",
  "SIGKILL",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
]);

/**
 * Parses `STARTOS_PROGRAM_DIRS` (colon-separated absolute directories) or returns the defaults.
 * @param value the variable's value, if set
 * @returns its absolute directories, in order, or {@link SYSTEM_PROGRAM_DIRS} when it names none
 */
export function programDirsFrom(value: string | undefined): readonly string[] {
  const dirs = (value ?? "").split(":").filter((dir) => dir.startsWith("/"));
  return dirs.length > 0 ? dirs : SYSTEM_PROGRAM_DIRS;
}

/** One brokered process. */
interface Running {
  pid: number;
  process: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array> | null;
  /** Bytes written to stdin that the process has not taken yet. */
  stdinPending: number;
  exited: boolean;
  /** A signal being delivered (through nsenter), and the next one asked for meanwhile. */
  signalling?: { next: Deno.Signal | null };
}

/** The check of a brokered mount, and what lets the child's next spawn through. */
interface MountGuard {
  /** Whether the child's mounts are all where they may be (false: the child is being killed). */
  check(): Promise<boolean>;
  /** Lets the child's next spawn run. */
  done(): void;
}

/** Runs brokered programs for children. */
export class SpawnBroker {
  readonly #options: SpawnBrokerOptions;
  readonly #byChild = new Map<SpawnChild, Map<number, Running>>();
  /** Resolves once the child's last mount was checked. */
  readonly #gates = new WeakMap<SpawnChild, Promise<void>>();
  /** A child's mount points before the broker mounted anything for it. */
  readonly #initialMounts = new WeakMap<SpawnChild, Promise<string[]>>();
  /** Every rootfs a child owned when one of its mounts was checked (mounts may outlive it). */
  readonly #rootfsSeen = new WeakMap<SpawnChild, Set<string>>();
  #nextId = 1;

  /** Whether programs run inside the child's namespaces (else in a process group of their own). */
  readonly #namespaced: boolean;

  /**
   * Creates a broker; see {@link SpawnBrokerOptions}.
   * @param options what the broker needs from the runtime
   */
  constructor(options: SpawnBrokerOptions) {
    this.#options = options;
    this.#namespaced = options.containment !== "process-group" && options.canJoin &&
      NSENTER !== undefined;
  }

  /** The file system view and subcontainers a decision for `child` uses. */
  #context(child: SpawnChild): SpawnContext {
    const { subcontainers, root } = this.#options;
    const procedure = PROCEDURE_ROLES.has(child.role);
    return {
      root,
      profile: child.role,
      allowed: child.profile.spawn,
      rootfs: procedure
        ? (child.inCall ? subcontainers.rootfsOf(child, child.eventId) : [])
        : subcontainers.rootfsOf(child),
      mounts: subcontainers.mountsOf(child),
      realPath: (path) => {
        try {
          return Deno.realPathSync(path);
        } catch {
          return null;
        }
      },
      listDir: listDirectory,
    };
  }

  /**
   * Checks and runs one `spawn` request of `child`.
   * @param child the child asking
   * @param params the request
   * @returns the process's channel id and pid; rejects 34 naming the argument that failed
   */
  async spawn(child: SpawnChild, params: SpawnParams): Promise<SpawnResult> {
    // Nothing runs for a child while one of its mounts is unchecked (see mount_guard.ts).
    await this.#gates.get(child);
    const decision = checkSpawn(params.command, params.args, this.#context(child));
    const shown = [params.command, ...params.args].join(" ");
    if (!decision.ok) {
      const argument = decision.argument === null ? "" : ` ${JSON.stringify(decision.argument)}`;
      this.#options.log.warn("spawn refused", {
        child: child.name,
        command: shown.slice(0, 500),
        reason: decision.reason,
      });
      // A usage error, not a denial: the spawn fails as the program's own refusal would.
      if (decision.malformed) {
        throw packageFailure(
          `${params.command}:${argument} ${decision.reason}`,
          `${params.command}: ${decision.reason} (${shown.slice(0, 200)})`,
        );
      }
      throw permissionDenied(
        child.role,
        `running ${params.command}:${argument} ${decision.reason}`,
      );
    }
    let running = this.#byChild.get(child);
    if (!running) this.#byChild.set(child, running = new Map());
    if (running.size >= MAX_PROCESSES_PER_CHILD) {
      throw permissionDenied(
        child.role,
        `running ${params.command}: ${MAX_PROCESSES_PER_CHILD} brokered processes already run`,
      );
    }
    const program = findProgram(
      this.#options.programDirs.map((dir) => `${dir}/${decision.program}`),
    );
    if (!program) {
      throw packageFailure(
        `${decision.program} is not installed`,
        `the runtime found no ${decision.program} in ${this.#options.programDirs.join(", ")} ` +
          `(for: ${shown.slice(0, 200)})`,
      );
    }
    if (decision.mount) this.#options.subcontainers.mounted(child, decision.mount);
    this.#options.log.debug("spawn", { child: child.name, command: shown.slice(0, 500) });
    const id = this.#nextId++;
    const readOnly = decision.readOnly && decision.mount ? decision.mount.target : undefined;
    const after = readOnly === undefined ? undefined : () => this.#remountReadOnly(child, readOnly);
    let guard: MountGuard | undefined;
    if (decision.mount) {
      // The child's own mount table before its first brokered mount: what it may always keep.
      if (!this.#initialMounts.has(child)) {
        this.#initialMounts.set(child, readMountinfo(child.pid).then(mountPoints, () => []));
      }
      await this.#initialMounts.get(child);
      let done!: () => void;
      this.#gates.set(child, new Promise<void>((resolve) => done = resolve));
      guard = { check: () => this.#guardMounts(child), done };
    }
    try {
      const entry = await this.#start(child, id, program, decision.args, params, after, guard);
      running.set(id, entry);
      return { id, pid: entry.pid };
    } catch (error) {
      guard?.done();
      throw error;
    }
  }

  /**
   * Starts the process and resolves once its pid is known. `after` runs once it exited 0, before
   * its exit is reported; a message it returns fails the process (exit 1, the message on stderr).
   */
  async #start(
    child: SpawnChild,
    id: number,
    program: string,
    args: string[],
    params: SpawnParams,
    after?: () => Promise<string | null>,
    guard?: MountGuard,
  ): Promise<Running> {
    const namespaced = this.#namespaced;
    const argv = namespaced
      ? [
        NSENTER!,
        ...this.#namespaceArgs(child),
        "--",
        "/bin/sh",
        "-c",
        'echo "$$" >&2; exec "$0" "$@"',
        program,
        ...args,
      ]
      : [program, ...args];
    // Without namespaces the process leads a group of its own, killed with the child; in the
    // child's PID namespace the kernel kills it with the child's namespace.
    const viaSetsid = !namespaced && SETSID !== undefined;
    const process = new Deno.Command(viaSetsid ? SETSID! : argv[0], {
      args: viaSetsid ? argv : argv.slice(1),
      env: this.#options.env,
      clearEnv: true,
      stdin: params.stdin === "pipe" ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const entry: Running = {
      pid: process.pid,
      process,
      stdin: params.stdin === "pipe" ? process.stdin.getWriter() : null,
      stdinPending: 0,
      exited: false,
    };
    const log = this.#options.log.with({ child: child.name, program: params.command });
    let stderr: ReadableStream<Uint8Array> = process.stderr;
    if (namespaced) {
      const [pid, rest] = await readFirstLine(process.stderr);
      if (pid === null) {
        const status = await process.status;
        throw packageFailure(
          `${params.command} could not be started`,
          `entering the ${child.name} child's namespaces failed (exit ${status.code})`,
        );
      }
      entry.pid = pid;
      stderr = rest;
    }
    // After the exit notification nothing more is sent for this process: output a grandchild
    // writes to an inherited pipe later is dropped (Node would still emit it; start-sdk does
    // not read past exit).
    let open = true;
    const relay = (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") => {
      const how = name === "stdout" ? params.stdout : params.stderr;
      if (how === "inherit") {
        return forwardLines(
          stream,
          (line) => child.logOutput(line, { stream: name, program: params.command }),
        );
      }
      if (how === "ignore") return stream.pipeTo(new WritableStream()).catch(() => {});
      return stream.pipeTo(
        new WritableStream({
          write: (chunk) => {
            if (open) child.notify(SPAWN_OUTPUT, { id, stream: name, data: encodeBase64(chunk) });
          },
        }),
      ).catch(() => {});
    };
    const streams = Promise.all([relay(process.stdout, "stdout"), relay(stderr, "stderr")]);
    process.status.then(async (status) => {
      // Its output first; but a process it left behind may hold the pipes open for ever, and the
      // exit is the process's, as Node reports it: wait for the streams only briefly.
      const drained = timeoutSignal(OUTPUT_AFTER_EXIT_MS, () => "drained");
      await abortable(streams, drained.signal).catch(() => {});
      drained.clear();
      // A mount is checked where it landed before anything else runs for the child; a stray
      // mount kills the child (its namespace, and the mount, end with it): nothing is reported.
      const sound = guard ? await guard.check() : true;
      guard?.done();
      if (!sound) {
        open = false;
        entry.exited = true;
        this.#byChild.get(child)?.delete(id);
        return;
      }
      // `after` (a read-only remount) decides whether a successful process succeeded.
      let code = status.signal ? null : status.code;
      const failed = code === 0 && after ? await after() : null;
      if (failed !== null) {
        code = 1;
        if (params.stderr === "pipe") {
          const data = encodeBase64(new TextEncoder().encode(`${failed}\n`));
          child.notify(SPAWN_OUTPUT, { id, stream: "stderr", data });
        }
      }
      open = false;
      entry.exited = true;
      this.#byChild.get(child)?.delete(id);
      log.debug("spawned process exited", {
        code: status.code,
        signal: status.signal ?? undefined,
      });
      child.notify(SPAWN_EXIT, { id, code, signal: status.signal ?? null });
    });
    return entry;
  }

  /**
   * Makes a brokered bind mount read-only (`bind-mount-read-only`): `mount -o remount,bind,ro`
   * on its target, in the child's mount namespace. When that fails the mount is taken away again
   * (`umount --lazy`), so a profile that changes nothing never keeps a writable volume.
   * @returns null when the mount is read-only now, else why the request failed
   */
  async #remountReadOnly(child: SpawnChild, target: string): Promise<string | null> {
    const run = async (name: string, args: string[]): Promise<string | null> => {
      const program = findProgram(this.#options.programDirs.map((dir) => `${dir}/${name}`));
      if (!program) return `${name} is not installed`;
      const argv = this.#namespaced
        ? [NSENTER!, ...this.#namespaceArgs(child), "--", program, ...args]
        : [program, ...args];
      try {
        const { code, stderr } = await new Deno.Command(argv[0], {
          args: argv.slice(1),
          env: this.#options.env,
          clearEnv: true,
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).output();
        return code === 0 ? null : new TextDecoder().decode(stderr).trim() || `exit ${code}`;
      } catch (error) {
        return String(error);
      }
    };
    const failed = await run("mount", ["-o", "remount,bind,ro", target]);
    if (failed === null) return null;
    const undone = await run("umount", ["--lazy", target]);
    this.#options.log.warn("a read-only bind mount could not be made read-only", {
      child: child.name,
      target,
      reason: failed.slice(0, 300),
      unmounted: undone === null,
    });
    return `the runtime could not make ${target} read-only (${failed.slice(0, 200)}); ` +
      (undone === null ? "it was unmounted" : `unmounting it failed too (${undone.slice(0, 200)})`);
  }

  /**
   * Checks that every mount of the child's namespace is the container's or inside a rootfs of
   * the child; kills the child otherwise.
   * @returns whether the child may go on
   */
  async #guardMounts(child: SpawnChild): Promise<boolean> {
    if (!this.#namespaced || this.#options.containment !== "namespaces") return true;
    let seen = this.#rootfsSeen.get(child);
    if (!seen) this.#rootfsSeen.set(child, seen = new Set());
    for (const rootfs of this.#options.subcontainers.rootfsOf(child)) seen.add(rootfs);
    let stray: string[];
    try {
      const initial = await this.#initialMounts.get(child) ?? [];
      stray = (await checkChildMounts(child.pid, [...seen])).filter((point) =>
        !initial.includes(point)
      );
    } catch (error) {
      // The child is gone (its namespace with it) or /proc cannot be read: nothing to run for.
      this.#options.log.warn("the mounts of a child could not be checked", {
        child: child.name,
        error: String(error),
      });
      stray = ["(unreadable)"];
    }
    if (stray.length === 0) return true;
    this.#options.log.error("a brokered mount landed outside the child's subcontainers: killed", {
      child: child.name,
      mounts: stray.slice(0, 5).join(", "),
    });
    await child.kill();
    return false;
  }

  /** nsenter's options for the child's namespaces. */
  #namespaceArgs(child: SpawnChild): string[] {
    const args = [`--pid=/proc/${child.pid}/ns/pid_for_children`];
    if (this.#options.containment === "namespaces") {
      args.unshift(`--mount=/proc/${child.pid}/ns/mnt`);
    }
    return args;
  }

  /**
   * Writes to (or, with `data: null`, closes) a brokered process's stdin.
   * @param child the child the process was run for
   * @param params the process's id and the bytes (base64); an unknown id or bad base64 is ignored
   */
  stdin(child: SpawnChild, params: SpawnStdinParams): void {
    const entry = this.#byChild.get(child)?.get(params.id);
    if (!entry?.stdin) return;
    if (params.data === null) {
      entry.stdin.close().catch(() => {});
      entry.stdin = null;
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = decodeBase64(params.data);
    } catch {
      return;
    }
    // A process that does not read its stdin cannot make the runtime hold what the child sends.
    if (entry.stdinPending + bytes.length > MAX_PENDING_STDIN_BYTES) {
      this.#options.log.warn("stdin of a brokered process is not read: closed", {
        child: child.name,
        pending: entry.stdinPending,
      });
      entry.stdin.abort().catch(() => {});
      entry.stdin = null;
      return;
    }
    entry.stdinPending += bytes.length;
    entry.stdin.write(bytes).catch(() => {}).finally(() => entry.stdinPending -= bytes.length);
  }

  /**
   * Sends a signal to a brokered process of `child`.
   * @param child the child the process was run for
   * @param params the process's id and the signal's name; a signal not allowed is ignored
   */
  kill(child: SpawnChild, params: SpawnKillParams): void {
    const entry = this.#byChild.get(child)?.get(params.id);
    if (!entry || entry.exited || !SIGNALS.has(params.signal)) return;
    const signal = params.signal as Deno.Signal;
    if (!this.#namespaced) {
      try {
        Deno.kill(entry.pid, signal);
      } catch {
        // already gone
      }
      return;
    }
    // One signal at a time per process, the latest asked for next: a child that floods kill()
    // cannot make the runtime start a process for each.
    if (entry.signalling) {
      entry.signalling.next = signal;
      return;
    }
    entry.signalling = { next: null };
    this.#deliver(child, entry, signal);
  }

  /** Sends `signal` from inside the child's PID namespace (the pid is the process's there). */
  #deliver(child: SpawnChild, entry: Running, signal: Deno.Signal): void {
    new Deno.Command(NSENTER!, {
      args: [
        ...this.#namespaceArgs(child),
        "--",
        "/bin/sh",
        "-c",
        'kill -s "$0" "$1"',
        signal.slice(3),
        String(entry.pid),
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output().catch(() => {}).finally(() => {
      const next = entry.signalling?.next ?? null;
      if (next === null || entry.exited) {
        entry.signalling = undefined;
        return;
      }
      entry.signalling = { next: null };
      this.#deliver(child, entry, next);
    });
  }

  /**
   * The child is gone: its processes die with its namespace; without one, kill their groups.
   * @param child the child that exited
   */
  childExited(child: SpawnChild): void {
    const running = this.#byChild.get(child);
    this.#byChild.delete(child);
    if (!running || this.#namespaced) return;
    for (const entry of running.values()) {
      try {
        Deno.kill(-entry.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Reads the first line of `stream` as a number; returns it with a stream of the bytes after it
 * (null when the stream ended first or the line is not a pid).
 */
async function readFirstLine(
  stream: ReadableStream<Uint8Array>,
): Promise<[number | null, ReadableStream<Uint8Array>]> {
  const reader = stream.getReader();
  let buffered = new Uint8Array(0);
  while (true) {
    const { value, done } = await reader.read();
    if (done) {
      reader.releaseLock();
      return [null, stream];
    }
    const joined = new Uint8Array(buffered.length + value.length);
    joined.set(buffered);
    joined.set(value, buffered.length);
    buffered = joined;
    const nl = buffered.indexOf(10);
    if (nl === -1) {
      if (buffered.length <= 32) continue;
      reader.cancel().catch(() => {});
      return [null, stream];
    }
    const pid = Number(new TextDecoder().decode(buffered.subarray(0, nl)));
    const rest = buffered.subarray(nl + 1);
    const remaining = new ReadableStream<Uint8Array>({
      start(controller) {
        if (rest.length > 0) controller.enqueue(rest);
      },
      async pull(controller) {
        const next = await reader.read();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return [Number.isInteger(pid) && pid > 0 ? pid : null, remaining];
  }
}
