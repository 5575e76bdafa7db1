/**
 * The `System` that runs package code in permission-scoped children: the
 * package host (init … exit), main, and one child per procedure call.
 */

import { ErrorKind } from "./error_codes.ts";
import { RpcError } from "./jsonrpc/errors.ts";
import type { Logger } from "./log.ts";
import type { ProfileName } from "./permissions.ts";
import type { Policy } from "./policy.ts";
import { WarmPool } from "./pool.ts";
import type { Procedure } from "./procedures.ts";
import type { EffectsBroker } from "./effects/broker.ts";
import type { Child, Supervisor } from "./supervisor.ts";
import type { ExecuteRequest, InitKind, System } from "./system.ts";
import type { RunParams } from "./worker/channel.ts";

/** Options of `ProcessSystem`. */
export interface ProcessSystemOptions {
  supervisor: Supervisor;
  broker: EffectsBroker;
  policy: Policy;
  log: Logger;
  /** Grace period between SIGTERM and SIGKILL when stopping main (ms). */
  stopTimeoutMs: number;
}

/** How long the runtime must be free of calls before the pool refills (ms). */
const QUIET_MS = 50;
/** Stopped children kept for a quiet moment at most; beyond this they are killed at once. */
const MAX_RETIRED = 4;

/** Procedures running at once; more wait for a slot. */
export const MAX_PROCEDURES = 16;

interface Main {
  child: Child;
  started: Promise<void>;
  stopping?: Promise<void>;
}

function profileOf(procedure: Procedure, sandbox: boolean): ProfileName {
  return sandbox ? "sandbox" : procedure.kind;
}

function callOf(procedure: Procedure, input: unknown, eventId: string): RunParams {
  switch (procedure.kind) {
    case "getInput":
      return {
        fn: "getInput",
        eventId,
        args: { actionId: procedure.actionId, ...(input as object) },
      };
    case "run":
      return { fn: "run", eventId, args: { actionId: procedure.actionId, ...(input as object) } };
    case "backup":
      return { fn: "createBackup", eventId, args: {} };
  }
}

/** Runs package code in children. */
export class ProcessSystem implements System {
  readonly #options: ProcessSystemOptions;
  readonly #pool: WarmPool;
  #packageHost: Child | undefined;
  #main: Main | undefined;
  /** Procedures running now. */
  #running = 0;
  #fillTimer: ReturnType<typeof setTimeout> | undefined;
  /** Children that answered, stopped and waiting to be killed when calls pause. */
  readonly #retired: Child[] = [];
  /** Procedures waiting for a free slot (FIFO). */
  readonly #waiting: (() => void)[] = [];

  /** Creates the system; nothing is spawned before `init`. */
  constructor(options: ProcessSystemOptions) {
    this.#options = options;
    this.#pool = new WarmPool({
      sizes: options.policy.pool,
      spawn: (profile) => this.#spawn(profile),
      busy: () => this.#running > 0,
      log: options.log,
    });
  }

  #spawn(profile: ProfileName): Child {
    return this.#options.supervisor.spawn(profile, this.#options.policy.profiles[profile]);
  }

  /** Runs `params` in `child`, killing the child's tree if it fails. */
  async #runIn(child: Child, params: RunParams): Promise<unknown> {
    try {
      return await child.run(params);
    } catch (error) {
      await child.kill();
      throw error;
    }
  }

  /** Spawns the package host and runs the package's init in it. */
  async init({ eventId, kind }: { eventId: string; kind: InitKind }): Promise<void> {
    if (this.#packageHost && !this.#packageHost.hasExited) await this.#packageHost.kill();
    const child = this.#spawn("init");
    await this.#runIn(child, { fn: "init", eventId, args: { kind } });
    this.#packageHost = child;
    child.exited.then((status) => {
      if (this.#packageHost === child && !child.killRequested) {
        this.#options.log.warn("the package host exited", {
          code: status.code,
          signal: status.signal ?? undefined,
        });
      }
    });
    this.#pool.start();
  }

  /**
   * Stops main, drains the pool and, when `uninit` is set, runs uninit with the target in the
   * package host.
   */
  async exit(
    { eventId, target, uninit }: { eventId: string; target: string | null; uninit: boolean },
  ): Promise<void> {
    await this.stop();
    await this.#pool.drain();
    if (!uninit) return;
    const host = this.#packageHost;
    if (!host || host.hasExited) {
      throw new RpcError(ErrorKind.Javascript, "The package host is not running", {
        details: "uninit cannot run because the package host process has exited",
      });
    }
    await this.#runIn(host, { fn: "uninit", eventId, args: { target } });
  }

  /** Starts main unless it is running or starting. */
  start(): Promise<void> {
    if (this.#main && !this.#main.stopping) return this.#main.started;
    const child = this.#spawn("main");
    const main: Main = {
      child,
      started: this.#runIn(child, { fn: "main", eventId: null, args: {} }).then(
        () => {},
        (error) => {
          if (!main.stopping) throw error;
          throw new RpcError(ErrorKind.Cancelled, "Start was cancelled by stop", {
            details: "stop was called while main was starting",
          });
        },
      ),
    };
    this.#main = main;
    main.started.catch(() => {
      if (this.#main === main) this.#main = undefined;
    });
    child.exited.then((status) => {
      if (this.#main !== main) return;
      this.#main = undefined;
      if (main.stopping) return;
      // Nobody asked main to stop: say so with its last words, and tell the host, which then
      // sees the service stopped and (while it is wanted running) sends start again.
      this.#options.log.warn("main exited on its own", {
        code: status.code,
        signal: status.signal ?? undefined,
        last_output: child.recentOutput.join("\n") || undefined,
      });
      this.#options.broker.reportMainStopped();
    });
    return main.started;
  }

  /** SIGTERM to main, SIGKILL of its whole group after the stop timeout; resolves when all of it is gone. */
  stop(): Promise<void> {
    const main = this.#main;
    if (!main) return Promise.resolve();
    main.stopping ??= (async () => {
      const { child } = main;
      child.signal("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        child.exited.then(() => false),
        new Promise<boolean>((resolve) =>
          timer = setTimeout(() => resolve(true), this.#options.stopTimeoutMs)
        ),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.#options.log.warn("main ignored SIGTERM; killing its process group", {
          child: child.name,
        });
      }
      await child.kill();
      if (this.#main === main) this.#main = undefined;
    })();
    return main.stopping;
  }

  /**
   * Runs one procedure in a child of its own, enforcing the timeout. At most
   * MAX_PROCEDURES run at once (each child costs tens of MB); later calls
   * queue, so a burst cannot exhaust the container's memory.
   */
  async execute(request: ExecuteRequest): Promise<unknown> {
    if (this.#running >= MAX_PROCEDURES) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#running++;
    clearTimeout(this.#fillTimer);
    try {
      return await this.#execute(request);
    } finally {
      this.#running--;
      const next = this.#waiting.shift();
      if (next) next();
      else if (this.#running === 0) this.#fillWhenQuiet();
    }
  }

  /**
   * Refills the pool once no call has started or ended for QUIET_MS: spawning
   * costs a core for about 100 ms, so it must not run beside a burst of calls.
   */
  #fillWhenQuiet(): void {
    clearTimeout(this.#fillTimer);
    this.#fillTimer = setTimeout(() => {
      for (const child of this.#retired.splice(0)) child.kill();
      this.#pool.fill();
    }, QUIET_MS);
  }

  async #execute(request: ExecuteRequest): Promise<unknown> {
    const profile = profileOf(request.procedure, request.sandbox);
    const child = this.#pool.take(profile) ?? this.#spawn(profile);
    const call = callOf(request.procedure, request.input, request.eventId);
    if (request.timeoutMs === null) {
      try {
        return await child.run(call);
      } finally {
        this.#retire(child);
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((resolve) =>
      timer = setTimeout(() => resolve("timeout"), request.timeoutMs!)
    );
    const work = child.run(call);
    work.catch(() => {});
    try {
      const outcome = await Promise.race([work.then((value) => ({ value })), expired]);
      if (outcome === "timeout") {
        await child.kill();
        throw new RpcError(ErrorKind.Timeout, "The procedure timed out", {
          details:
            `${request.eventId} was stopped after ${request.timeoutMs} ms; its processes were killed`,
        });
      }
      return outcome.value;
    } finally {
      clearTimeout(timer);
      this.#retire(child);
    }
  }

  /**
   * A child that answered never runs again: it is stopped (SIGSTOP to its whole
   * group) at once and killed in the next quiet moment, because tearing down a
   * process costs the kernel milliseconds of CPU that would otherwise land on
   * the next call.
   */
  #retire(child: Child): void {
    child.freeze();
    this.#retired.push(child);
    if (this.#retired.length > MAX_RETIRED) this.#retired.shift()!.kill();
  }

  /** Delivers the host's callback to the child that registered it. */
  callback(id: number, args: unknown[]): void {
    this.#options.broker.deliver(id, args);
  }

  /** Kills every child. */
  async shutdown(): Promise<void> {
    clearTimeout(this.#fillTimer);
    for (const child of this.#retired.splice(0)) child.kill();
    await this.#pool.drain();
    await this.#options.supervisor.shutdown();
  }
}
