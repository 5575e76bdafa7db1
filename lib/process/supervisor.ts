/**
 * Spawns and stops children: each is `deno run` with its profile's flags, in
 * its own process group, talking to the runtime over one private channel
 * socket after presenting a one-time token.
 */

import { z } from "zod";
import { ErrorKind } from "../protocol/error_codes.ts";
import { ConnectionClosedError, RpcError } from "../jsonrpc/errors.ts";
import { Peer } from "../jsonrpc/peer.ts";
import type { Logger } from "../log.ts";
import { forwardLines } from "./output_lines.ts";
import { denoPermissionArgs, type Profile } from "../policy/permissions.ts";
import { killGroup, Reaper, signalGroup } from "./process_tree.ts";
import {
  CALLBACK,
  type ChildRole,
  DROP_CALLBACKS,
  EFFECT,
  type EffectParams,
  HELLO,
  PING,
  PROC_NET,
  PROC_NET_FILES,
  RUN,
  type RunParams,
  WARM,
} from "../protocol/channel.ts";
import { readProcNet } from "./proc_net.ts";

/** What the supervisor needs to spawn children. */
export interface SupervisorOptions {
  log: Logger;
  /** The `deno` binary children run with. */
  denoPath: string;
  /** Absolute path of lib/worker/entry.ts. */
  workerEntry: string;
  /** Absolute path of the package module. */
  packagePath: string;
  /** Environment variables every child that may read its environment gets. */
  env: Record<string, string>;
  /** Handles an effect call from a child (the broker). */
  onEffect(child: Child, params: EffectParams): Promise<unknown>;
  /** A child says these of its callback ids are dead. */
  onDropCallbacks(child: Child, ids: number[]): void;
  /** A child has exited (its process group is being killed). */
  onExit(child: Child): void;
}

const helloSchema = z.object({
  token: z.string(),
  loadError: z.object({ code: z.number().int(), message: z.string(), data: z.unknown().optional() })
    .optional(),
});
const effectSchema = z.object({
  method: z.string().min(1).max(200),
  params: z.record(z.string(), z.unknown()),
  callback: z.number().int().positive().nullable(),
});
const procNetSchema = z.object({ file: z.enum(PROC_NET_FILES) });
const dropSchema = z.object({ ids: z.array(z.number().int().positive()).max(100_000) });

const RECENT_OUTPUT_LINES = 20;
/** How long a child whose channel closed may take to exit by itself. */
const CHANNEL_CLOSE_GRACE_MS = 1000;
/** How long an error report waits for a dead child's last output. */
const OUTPUT_DRAIN_MS = 250;

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

const SETSID = ["/usr/bin/setsid", "/bin/setsid"].find(isFile);

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Spawns `program` as the leader of a new session and process group, so the
 * whole tree can be signalled as one. Through setsid(1) where it exists:
 * Deno's own `detached` option makes the runtime fork (10-40 ms with the
 * event loop blocked), while a plain spawn takes about 1 ms. setsid does not
 * fork here (its caller is not a group leader), so the pid is the child's.
 */
function spawnInOwnSession(
  program: string,
  args: string[],
  options: Deno.CommandOptions,
): Deno.ChildProcess {
  return SETSID
    ? new Deno.Command(SETSID, { ...options, args: [program, ...args] }).spawn()
    : new Deno.Command(program, { ...options, args, detached: true }).spawn();
}

/** The environment a child starts with: all, the listed variables, or none but DENO_DIR. */
function childEnv(profile: Profile, all: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (profile.env === true) Object.assign(env, all);
  else if (Array.isArray(profile.env)) {
    for (const name of profile.env) if (name in all) env[name] = all[name];
  }
  if (all.DENO_DIR) env.DENO_DIR = all.DENO_DIR;
  return env;
}

/** One child process. */
export class Child {
  readonly id: number;
  readonly role: ChildRole;
  readonly profile: Profile;
  readonly pid: number;
  /** When the child was spawned (ms since the epoch). */
  readonly spawnedAt = Date.now();
  /** Resolves when the child has said hello; rejects with its load error or when it dies first. */
  readonly ready: Promise<void>;
  /** Resolves with the exit status once the process has exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** The host procedure id the child currently works for (`eventId` of its effects). */
  eventId: string | null = null;
  /** Last lines the child printed, for error reports. */
  readonly recentOutput: string[] = [];
  #peer: Peer | undefined;
  #markReady!: (peer: Peer) => void;
  #markFailed!: (error: Error) => void;
  #exitStatus: Deno.CommandStatus | undefined;
  #isReady = false;
  #killRequested = false;
  #outputDone: Promise<unknown> = Promise.resolve();

  /** Used by the supervisor only. */
  constructor(id: number, role: ChildRole, profile: Profile, process: Deno.ChildProcess) {
    this.id = id;
    this.role = role;
    this.profile = profile;
    this.pid = process.pid;
    this.ready = new Promise<Peer>((resolve, reject) => {
      this.#markReady = resolve;
      this.#markFailed = reject;
    }).then((peer) => {
      this.#peer = peer;
      this.#isReady = true;
    });
    this.ready.catch(() => {});
    this.exited = process.status.then((status) => this.#exitStatus = status);
    this.exited.then((status) => this.#markFailed(this.#exitError(status)));
  }

  /** A short name for logs: `run#3`. */
  get name(): string {
    return `${this.role}#${this.id}`;
  }

  /** True once the child has said hello and warmed up. */
  get isReady(): boolean {
    return this.#isReady && !this.hasExited;
  }

  /** True once the runtime decided to kill this child (its exit is not news). */
  get killRequested(): boolean {
    return this.#killRequested;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.#exitStatus !== undefined;
  }

  /** Called by the hub when the child's hello arrives. */
  acceptHello(
    peer: Peer,
    loadError: { code: number; message: string; data?: unknown } | undefined,
  ): void {
    if (loadError) {
      this.#markFailed(new RpcError(loadError.code, loadError.message, loadError.data as never));
      return;
    }
    // Two warm-up round trips compile the channel's code paths before the first real call.
    peer.request(WARM, {}).then(() => peer.request(WARM, {})).then(
      () => this.#markReady(peer),
      (error) => this.#markFailed(error),
    );
  }

  #exitError(status: Deno.CommandStatus): RpcError {
    const how = status.signal
      ? `was killed by ${status.signal}`
      : `exited with code ${status.code}`;
    return new RpcError(ErrorKind.Javascript, `The ${this.role} process ${how}`, {
      details: `the ${this.name} child process ${how} before it answered`,
      debug: this.recentOutput.join("\n") || undefined,
    });
  }

  /** Runs a package function in the child; rejects with the package's error or when the child dies. */
  async run(params: RunParams): Promise<unknown> {
    await this.ready;
    this.eventId = params.eventId;
    try {
      return await this.#peer!.request(RUN, params);
    } catch (error) {
      if (!(error instanceof ConnectionClosedError)) throw error;
      const status = await this.exited;
      // Its last output (an uncaught error, say) may still be in the pipe.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#outputDone,
        new Promise((resolve) => timer = setTimeout(resolve, OUTPUT_DRAIN_MS)),
      ]);
      clearTimeout(timer);
      throw this.#exitError(status);
    }
  }

  /** Delivers a fired callback (child-local id). */
  callback(localId: number, args: unknown[]): void {
    this.#peer?.notify(CALLBACK, { id: localId, args });
  }

  /** Sends `signal` to the child process alone. */
  signal(signal: Deno.Signal): void {
    if (this.hasExited) return;
    try {
      Deno.kill(this.pid, signal);
    } catch {
      // exited meanwhile
    }
  }

  /** SIGKILLs the child's whole process group and resolves when it is gone. */
  async kill(): Promise<void> {
    this.#killRequested = true;
    // The child itself too: right after spawn it may not lead its group yet (setsid not run).
    this.signal("SIGKILL");
    signalGroup(this.pid, "SIGKILL");
    await this.exited;
    await killGroup(this.pid);
  }

  /** Used by the supervisor: resolves when the child's stdout and stderr have been read to the end. */
  set outputDone(done: Promise<unknown>) {
    this.#outputDone = done;
  }

  /** Remembers an output line for error reports. */
  noteOutput(line: string): void {
    this.recentOutput.push(line);
    if (this.recentOutput.length > RECENT_OUTPUT_LINES) this.recentOutput.shift();
  }
}

/** Owns the channel socket, the reaper and every child. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #dir: string;
  readonly #socket: string;
  readonly #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  readonly #reaper: Reaper;
  readonly #pending = new Map<string, Child>();
  readonly #children = new Set<Child>();
  /** Children start in the package's directory, or in / when it does not exist. */
  readonly #cwd: string;
  #nextId = 1;
  #closing = false;

  private constructor(options: SupervisorOptions, dir: string) {
    this.#options = options;
    this.#dir = dir;
    this.#socket = `${dir}/channel.sock`;
    this.#reaper = new Reaper(dir);
    const packageDir = options.packagePath.slice(0, options.packagePath.lastIndexOf("/")) || "/";
    this.#cwd = isDirectory(packageDir) ? packageDir : "/";
    this.#listener = Deno.listen({ transport: "unix", path: this.#socket });
    this.#accept();
  }

  /** Creates the private 0700 channel directory and starts listening. */
  static async create(options: SupervisorOptions): Promise<Supervisor> {
    const dir = await Deno.makeTempDir({ prefix: "startos-runtime-" });
    await Deno.chmod(dir, 0o700);
    return new Supervisor(options, dir);
  }

  /** Spawns a child with `profile`; it loads the package and says hello (await `child.ready`). */
  spawn(role: ChildRole, profile: Profile): Child {
    if (this.#closing) throw new RpcError(ErrorKind.Cancelled, "The runtime is shutting down");
    const { denoPath, workerEntry, packagePath, log } = this.#options;
    const token = crypto.randomUUID();
    const args = [
      "run",
      ...denoPermissionArgs(profile, this.#socket),
      "--no-config",
      "--no-lock",
      "--quiet",
      workerEntry,
      this.#socket,
      token,
      role,
      packagePath,
    ];
    const env = childEnv(profile, this.#options.env);
    const process = spawnInOwnSession(denoPath, args, {
      cwd: this.#cwd,
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const child = new Child(this.#nextId++, role, profile, process);
    this.#reaper.track(child.pid);
    this.#pending.set(token, child);
    this.#children.add(child);
    const childLog = log.with({ child: child.name });
    const streams = [[process.stdout, "stdout"], [process.stderr, "stderr"]] as const;
    child.outputDone = Promise.all(streams.map(([stream, name]) =>
      forwardLines(stream, (line) => {
        child.noteOutput(line);
        childLog.info(line, { stream: name });
      })
    ));
    childLog.debug("spawned", { pid: child.pid });
    child.exited.then(async (status) => {
      this.#pending.delete(token);
      childLog.debug("exited", { code: status.code, signal: status.signal ?? undefined });
      this.#options.onExit(child);
      await killGroup(child.pid);
      this.#reaper.untrack(child.pid);
      this.#children.delete(child);
    });
    return child;
  }

  async #accept(): Promise<void> {
    while (true) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // closed
      }
      this.#serve(conn);
    }
  }

  #serve(conn: Deno.UnixConn): void {
    let child: Child | undefined;
    const peer = new Peer(conn, {
      unexpectedErrorCode: ErrorKind.Unknown,
      onNote: (note) => this.#options.log.debug(note, { child: child?.name }),
      onRequest: (method, raw) => {
        if (!child) {
          const hello = method === HELLO ? helloSchema.safeParse(raw) : undefined;
          const found = hello?.success ? this.#pending.get(hello.data.token) : undefined;
          if (!hello?.success || !found) {
            queueMicrotask(() => peer.close());
            throw new RpcError(ErrorKind.Authorization, "Unknown child");
          }
          this.#pending.delete(hello.data.token); // one-time
          child = found;
          // A child whose channel closed is useless; give it a moment to exit by itself first
          // (a crashing Deno closes its sockets before it prints the error and exits).
          peer.closed.then(() => {
            const timer = setTimeout(() => child!.signal("SIGKILL"), CHANNEL_CLOSE_GRACE_MS);
            child!.exited.then(() => clearTimeout(timer));
          });
          child.acceptHello(peer, hello.data.loadError);
          return null;
        }
        if (method === PING) return null;
        if (method === PROC_NET) return this.#procNet(child, raw);
        if (method !== EFFECT) throw new RpcError(-32601, `unknown channel method ${method}`);
        const params = effectSchema.safeParse(raw);
        if (!params.success) throw new RpcError(-32602, "Invalid effect call");
        return this.#options.onEffect(child, params.data as EffectParams);
      },
      onNotification: (method, raw) => {
        if (!child || method !== DROP_CALLBACKS) return;
        const params = dropSchema.safeParse(raw);
        if (params.success) this.#options.onDropCallbacks(child, params.data.ids);
      },
    });
  }

  /** Serves a compat-layer read of `/proc/net/*` (what checkPortListening reads) to any profile but sandbox. */
  #procNet(child: Child, raw: unknown): Promise<string> {
    const params = procNetSchema.safeParse(raw);
    if (!params.success) throw new RpcError(-32602, "Invalid proc-net call");
    if (child.role === "sandbox") {
      throw new RpcError(ErrorKind.Authorization, "Permission denied", {
        details: `the sandbox profile does not allow this: reading /proc/net/${params.data.file}`,
      });
    }
    return readProcNet(params.data.file);
  }

  /** Kills every child, stops listening, removes the channel directory and closes the reaper. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#children].map((child) => child.kill()));
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    await this.#reaper.close();
  }
}
