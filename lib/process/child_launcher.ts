/**
 * Spawns children and serves their channels.
 *
 * Each child is `deno run` with its profile's flags (see spawn.ts for the PID namespace it runs
 * in) and gets a channel endpoint of its own: a Unix socket at `<0700 dir>/<random>/c.sock`
 * that only it is granted (read, write and `unix:` net on that one path; Deno checks the other
 * children's paths and the directory, so no child can remove, replace, re-permission or listen
 * on another's endpoint). The runtime accepts exactly one connection on it, then closes the
 * listener and removes the directory: once the child's entry has connected — before any package
 * code loads — nothing can connect there again. The first message must be `hello` with the
 * child's one-time token, which the child read from its stdin (never argv or the environment),
 * within `--load-timeout`; otherwise the child is killed.
 */

import * as z from "../zod.ts";
import { abortable, timeoutSignal } from "../async/abortable.ts";
import { RpcError } from "../jsonrpc/errors.ts";
import { Peer } from "../jsonrpc/peer.ts";
import type { Logger } from "../log.ts";
import { denoPermissionArgs, type Profile } from "../policy/permissions.ts";
import {
  type ChildRole,
  DENIED,
  type DeniedParams,
  DROP_CALLBACKS,
  type DropCallbacksParams,
  EFFECT,
  type EffectParams,
  HELLO,
  type HelloParams,
  MAX_DENIED_ENTRIES,
  PING,
  PROC_NET,
  PROC_NET_FILES,
  type ProcNetParams,
  SPAWN,
  SPAWN_KILL,
  SPAWN_STDIN,
  type SpawnKillParams,
  type SpawnParams,
  type SpawnStdinParams,
} from "../protocol/channel.ts";
import { ErrorKind } from "../protocol/error_codes.ts";
import {
  cancelError,
  invalidChannelCall,
  packageFailure,
  unknownChannelMethod,
  unknownChild,
} from "../protocol/errors.ts";
import { Child } from "./child.ts";
import { OutputLimiter } from "./output_limit.ts";
import { forwardLines } from "./output_lines.ts";
import { ProcNetReader } from "./proc_net.ts";
import { killGroup, Reaper } from "./process_tree.ts";
import { type Containment, dataLimitKb, spawnContained } from "./spawn.ts";
import type { SpawnBroker } from "./spawn_broker.ts";
import { EXPOSE_COLLECTOR_FLAG } from "../memory/heap_trim.ts";
import { Latin1Hints, realSourceFiles } from "./latin1_hints.ts";

export { Child };

/** What the launcher needs to spawn children. */
export interface ChildLauncherOptions {
  /** Where children's output (under their names), spawns, exits and channel notes are logged. */
  log: Logger;
  /** The `deno` binary children run with. */
  denoPath: string;
  /** Absolute path of lib/worker/entry.ts. */
  workerEntry: string;
  /** Absolute path of the package module. */
  packagePath: string;
  /** Environment variables every child that may read its environment gets. */
  env: Record<string, string>;
  /** How children are confined (probed once at startup). */
  containment: Containment;
  /** How long a child may take from spawn to hello (it loads the package first: ~250-400 ms for a real bundle). */
  helloDeadlineMs: number;
  /** Runs the programs children ask for (start-container, mount, rsync). */
  spawnBroker: SpawnBroker;
  /**
   * Counts a request of a child against its rate; throws 34 past it (the broker's `admit`).
   * @param child the child asking
   * @param what the request, for the error (`running mount`, `reading /proc/net/tcp`)
   */
  admit(child: Child, what: string): void;
  /**
   * Handles an effect call from a child (the broker).
   * @param child the child calling
   * @param params the call, as validated
   * @returns the effect's result, answered to the child
   */
  onEffect(child: Child, params: EffectParams): Promise<unknown>;
  /**
   * A child says these of its callback ids are dead.
   * @param child the child
   * @param ids its child-local callback ids
   */
  onDropCallbacks(child: Child, ids: number[]): void;
  /**
   * A child has exited (its process group is being killed).
   * @param child the child
   */
  onExit(child: Child): void;
}

// The channel's shapes are declared once, in protocol/channel.ts (the worker loads no zod);
// each schema here is checked against its declared type.
const helloSchema: z.ZodMiniType<HelloParams> = z.object({
  token: z.string(),
  loadError: z.optional(
    z.object({ code: z.int(), message: z.string(), data: z.optional(z.unknown()) }),
  ),
});
/** A string of at most `max` characters (at least `min`). */
const text = (max: number, min = 0) =>
  z.string().check(...(min > 0 ? [z.minLength(min)] : []), z.maxLength(max));
const positiveInt = z.int().check(z.positive());
const effectSchema: z.ZodMiniType<EffectParams> = z.object({
  method: text(200, 1),
  params: z.record(z.string(), z.unknown()),
  callback: z.nullable(positiveInt),
  eventId: z.optional(z.nullable(text(1024))),
});
const procNetSchema: z.ZodMiniType<ProcNetParams> = z.object({ file: z.enum(PROC_NET_FILES) });
const stdio = z.enum(["pipe", "inherit", "ignore"]);
const spawnSchema: z.ZodMiniType<SpawnParams> = z.object({
  command: text(4096, 1),
  args: z.array(text(65_536)).check(z.maxLength(4096)),
  stdin: stdio,
  stdout: stdio,
  stderr: stdio,
});
const spawnStdinSchema: z.ZodMiniType<SpawnStdinParams> = z.object({
  id: positiveInt,
  data: z.nullable(text(16 * 1024 * 1024)),
});
const spawnKillSchema: z.ZodMiniType<SpawnKillParams> = z.object({
  id: positiveInt,
  signal: text(16),
});
const dropSchema: z.ZodMiniType<DropCallbacksParams> = z.object({
  ids: z.array(positiveInt).check(z.maxLength(100_000)),
});
const deniedSchema: z.ZodMiniType<DeniedParams> = z.object({
  eventId: z.nullable(text(1024)),
  fn: z.nullable(z.enum(["init", "uninit", "main", "getInput", "run", "createBackup"])),
  outcome: z.enum(["answered", "failed", "outside"]),
  denials: z.array(z.object({
    permission: text(32),
    target: text(1024),
    message: text(1024),
    policyKey: text(128),
    count: z.int().check(z.nonnegative()),
  })).check(z.maxLength(MAX_DENIED_ENTRIES)),
});
/** The log line of a `denied` report, by outcome. */
const DENIED_LINES: Readonly<Record<DeniedParams["outcome"], string>> = {
  answered: "a call answered after a permission denial its package code caught",
  failed: "a call failed on a permission denial",
  outside: "package code met a permission denial outside a call",
};

/** How long a child whose channel closed may take to exit by itself. */
const CHANNEL_CLOSE_GRACE_MS = 1000;

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
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

/** One child's channel endpoint: a fresh directory, a socket in it, a listener on it. */
interface Endpoint {
  dir: string;
  socket: string;
  listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
}

/** Owns the channel endpoints, the reaper and every child. */
export class ChildLauncher {
  readonly #options: ChildLauncherOptions;
  readonly #dir: string;
  readonly #reaper: Reaper;
  readonly #children = new Set<Child>();
  /** Children start in the package's directory, or in / when it does not exist. */
  readonly #cwd: string;
  readonly #procNet = new ProcNetReader();
  /** The package's Latin-1 hint, given to each child with its token. */
  readonly #latin1: Latin1Hints;
  #nextId = 1;
  #closing = false;

  private constructor(options: ChildLauncherOptions, dir: string) {
    this.#options = options;
    this.#dir = dir;
    this.#reaper = new Reaper(dir);
    this.#latin1 = new Latin1Hints(options.packagePath, realSourceFiles);
    // Scanned now, while nothing waits for it, rather than when the first child does.
    void this.#latin1.hint();
    const packageDir = options.packagePath.slice(0, options.packagePath.lastIndexOf("/")) || "/";
    this.#cwd = isDirectory(packageDir) ? packageDir : "/";
  }

  /**
   * Creates the private 0700 directory the children's endpoints live in.
   * @param options what the supervisor needs to spawn children
   * @returns a launcher with no children yet
   */
  static async create(options: ChildLauncherOptions): Promise<ChildLauncher> {
    const dir = await Deno.makeTempDir({ prefix: "startos-runtime-" });
    await Deno.chmod(dir, 0o700);
    return new ChildLauncher(options, dir);
  }

  #openEndpoint(): Endpoint {
    const dir = `${this.#dir}/${crypto.randomUUID()}`;
    Deno.mkdirSync(dir, { mode: 0o700 });
    const socket = `${dir}/c.sock`;
    return { dir, socket, listener: Deno.listen({ transport: "unix", path: socket }) };
  }

  /**
   * Spawns a child with `profile`; it loads the package and says hello (await `child.ready`).
   * @param role what the child is for
   * @param profile what it may do
   * @returns the child, just spawned
   */
  spawn(role: ChildRole, profile: Profile): Child {
    if (this.#closing) throw cancelError({ kind: "shutdown" }, `spawning a ${role} child`);
    const { denoPath, workerEntry, packagePath, log } = this.#options;
    const endpoint = this.#openEndpoint();
    const token = crypto.randomUUID();
    const args = [
      "run",
      ...denoPermissionArgs(profile, endpoint.socket),
      // The heap limit, and a 1 MB young generation: a child that loaded a start-sdk bundle
      // holds ~11 MB less (87 → 76 MB measured) and loads it no slower. Bytecode not run for a
      // second is dropped at the next full collection (V8's default waits 180 s): most of a
      // bundle's code runs once, while it loads, and a later call recompiles what it needs
      // lazily (~1.5 MB less per package child; warm call latency unchanged, BENCHMARKS.md).
      // The collector, for the worker to take before package code loads and to trim the heap
      // when quiet (heap_trim.ts).
      `--v8-flags=--max-old-space-size=${profile.heapMb},--max-semi-space-size=1,--bytecode-old-time=1,${EXPOSE_COLLECTOR_FLAG}`,
      "--no-config",
      "--no-lock",
      // No V8 code cache: the package is `require`d (Deno caches ES modules only) and the worker
      // compiles in a few ms, while opening and reading the cache costs each child ~1.5 MB
      // (sdk-services steady, two package children: 3–4 MB less PSS, BENCHMARKS.md).
      "--no-code-cache",
      "--quiet",
      workerEntry,
      endpoint.socket,
      role,
      packagePath,
    ];
    const process = spawnContained(this.#options.containment, denoPath, args, {
      cwd: this.#cwd,
      clearEnv: true,
      env: childEnv(profile, this.#options.env),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }, dataLimitKb(profile.heapMb));
    const child = new Child(this.#nextId++, role, profile, process, profile.heapMb);
    this.#reaper.track(child.pid);
    this.#children.add(child);
    // The token goes through a pipe only the child reads, then the package's Latin-1 hint (a JSON
    // line), then the pipe is closed.
    const stdin = process.stdin.getWriter();
    this.#latin1.hint()
      .then((hint) => stdin.write(new TextEncoder().encode(`${token}\n${JSON.stringify(hint)}\n`)))
      .then(() => stdin.close())
      .catch(() => {});
    const childLog = log.with({ child: child.name });
    const limiter = new OutputLimiter(childLog);
    // The child's output and that of the programs the broker runs for it share one budget.
    child.logOutput = (line, fields) => {
      child.noteOutput(line);
      if (limiter.admit(line.length)) childLog.info(line, fields);
    };
    const streams = [[process.stdout, "stdout"], [process.stderr, "stderr"]] as const;
    child.outputDone = Promise.all(
      streams.map(([stream, name]) =>
        forwardLines(stream, (line) => child.logOutput(line, { stream: name }))
      ),
    ).finally(() => limiter.close());
    childLog.debug("spawned", { pid: child.pid });
    this.#connect(child, endpoint, token);
    child.exited.then(async (status) => {
      const how = { code: status.code, signal: status.signal ?? undefined };
      if (child.killedByRuntime) childLog.debug("killed by the runtime", how);
      else childLog.debug("exited", how);
      this.#options.onExit(child);
      this.#options.spawnBroker.childExited(child);
      await killGroup(child.pid);
      this.#reaper.untrack(child.pid);
      this.#children.delete(child);
    });
    return child;
  }

  /** Accepts the child's one connection (then nothing more can connect) and serves it. */
  async #connect(child: Child, endpoint: Endpoint, token: string): Promise<void> {
    const limit = this.#options.helloDeadlineMs;
    const deadline = timeoutSignal(limit, () => "deadline");
    let conn: Deno.UnixConn;
    try {
      conn = await abortable(
        endpoint.listener.accept(),
        AbortSignal.any([deadline.signal, exitSignalOf(child)]),
      );
    } catch {
      deadline.clear();
      if (!child.hasExited) notStarted(child, `did not connect to its channel within ${limit} ms`);
      return;
    } finally {
      this.#closeEndpoint(endpoint);
    }
    // A hello clears the deadline, so it only fires for a child that never said one.
    const peer = this.#serve(conn, child, token, () => deadline.clear());
    deadline.signal.addEventListener("abort", () => {
      peer.close();
      notStarted(child, `said no hello within ${limit} ms`);
    }, { once: true });
    child.exited.then(() => deadline.clear());
  }

  #closeEndpoint(endpoint: Endpoint): void {
    try {
      endpoint.listener.close();
    } catch {
      // already closed
    }
    Deno.remove(endpoint.dir, { recursive: true }).catch(() => {});
  }

  #serve(conn: Deno.UnixConn, child: Child, token: string, onHello: () => void): Peer {
    let greeted = false;
    const peer = new Peer(conn, {
      unexpectedErrorCode: ErrorKind.Unknown,
      onNote: (note) => this.#options.log.debug(note, { child: child.name }),
      onRequest: (method, raw) => {
        if (!greeted) {
          const hello = method === HELLO ? helloSchema.safeParse(raw) : undefined;
          if (!hello?.success || hello.data.token !== token) {
            notStarted(child, "did not present its token on its channel");
            queueMicrotask(() => peer.close());
            throw unknownChild();
          }
          greeted = true;
          onHello();
          // A child whose channel closed is useless; give it a moment to exit by itself first
          // (a crashing Deno closes its sockets before it prints the error and exits).
          peer.closed.then(() => {
            const timer = setTimeout(() => child.kill(), CHANNEL_CLOSE_GRACE_MS);
            child.exited.then(() => clearTimeout(timer));
          });
          const loadError = hello.data.loadError;
          if (loadError) {
            // The answer carries it too; the operator reading the log should not need it.
            this.#options.log.warn("the package could not be loaded", {
              child: child.name,
              code: loadError.code,
              error: loadError.message,
              details: detailsOf(loadError.data),
            });
          }
          child.acceptHello(peer, loadError);
          return null;
        }
        if (method === PING) return null;
        if (method === PROC_NET) return this.#readProcNet(child, raw);
        if (method === SPAWN) {
          const params = spawnSchema.safeParse(raw);
          if (!params.success) throw invalidChannelCall("spawn");
          this.#options.admit(child, `running ${params.data.command}`);
          return this.#options.spawnBroker.spawn(child, params.data);
        }
        if (method !== EFFECT) {
          throw unknownChannelMethod(method);
        }
        const params = effectSchema.safeParse(raw);
        if (!params.success) throw invalidChannelCall("effect");
        return Promise.resolve().then(() => this.#options.onEffect(child, params.data)).catch(
          (error) => {
            if (error instanceof RpcError) child.noteCodeGiven(error.code);
            throw error;
          },
        );
      },
      onNotification: (method, raw) => {
        if (!greeted) return;
        if (method === SPAWN_STDIN) {
          const params = spawnStdinSchema.safeParse(raw);
          if (params.success) this.#options.spawnBroker.stdin(child, params.data);
        } else if (method === SPAWN_KILL) {
          const params = spawnKillSchema.safeParse(raw);
          if (params.success) this.#options.spawnBroker.kill(child, params.data);
        } else if (method === DROP_CALLBACKS) {
          const params = dropSchema.safeParse(raw);
          if (params.success) this.#options.onDropCallbacks(child, params.data.ids);
        } else if (method === DENIED) {
          this.#logDenied(child, raw);
        }
      },
    });
    peer.closed.then(() => {
      if (!greeted) child.kill();
    });
    return peer;
  }

  /**
   * Logs a child's `denied` report (see lib/worker/denials.ts): one warning per denial, with the
   * policy key that would grant it. Reports count against the child's rate; a bad one is dropped.
   */
  #logDenied(child: Child, raw: unknown): void {
    const report = deniedSchema.safeParse(raw);
    if (!report.success) return;
    try {
      this.#options.admit(child, "reporting denials");
    } catch {
      return;
    }
    const { eventId, fn, outcome, denials } = report.data;
    for (const denial of denials) {
      this.#options.log.warn(DENIED_LINES[outcome], {
        child: child.name,
        profile: child.role,
        call: fn ?? undefined,
        event: eventId ?? undefined,
        denied: `${denial.permission} ${denial.target}`,
        times: denial.count,
        grant: denial.policyKey,
      });
    }
  }

  /**
   * Serves a compat-layer read of `/proc/net/*` (what checkPortListening reads): the sockets of
   * the container's network namespace, which every profile shares.
   */
  #readProcNet(child: Child, raw: unknown): Promise<string> {
    const params = procNetSchema.safeParse(raw);
    if (!params.success) throw invalidChannelCall("proc-net");
    this.#options.admit(child, `reading /proc/net/${params.data.file}`);
    return this.#procNet.read(params.data.file);
  }

  /** Kills every child, removes the endpoints' directory and closes the reaper. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#children].map((child) => child.kill()));
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    await this.#reaper.close();
  }
}

/** Fails a child that did not get as far as its hello (its call says why) and kills it. */
function notStarted(child: Child, why: string): void {
  child.failToStart(
    packageFailure(`The ${child.role} process did not start`, `the ${child.name} child ${why}`),
  );
  child.kill();
}

/** A signal aborted when `child` exits. */
function exitSignalOf(child: Child): AbortSignal {
  const controller = new AbortController();
  child.exited.then(() => controller.abort("exited"));
  return controller.signal;
}

/** `data.details` and `data.debug` of a wire error, for a log line. */
function detailsOf(data: unknown): string | undefined {
  if (typeof data === "string") return data;
  if (typeof data !== "object" || data === null) return undefined;
  const { details, debug } = data as { details?: unknown; debug?: unknown };
  const parts = [details, debug].filter((part) => typeof part === "string");
  return parts.length > 0 ? parts.join("\n") : undefined;
}
