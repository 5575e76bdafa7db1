/**
 * The `System` that runs package code in permission-scoped children: the
 * package host (init … exit), main, and one child per procedure call.
 */

import { ErrorKind } from "../protocol/error_codes.ts";
import { RpcError } from "../jsonrpc/errors.ts";
import type { Logger } from "../log.ts";
import type { ProfileName } from "../policy/permissions.ts";
import type { Policy } from "../policy/policy.ts";
import { ChildPool } from "./child_pool.ts";
import type { Procedure } from "../protocol/procedures.ts";
import type { EffectsBroker } from "../effects/broker.ts";
import type { Child, Supervisor } from "./supervisor.ts";
import type { ExecuteRequest, InitKind, System } from "../service/system.ts";
import type { RunParams } from "../protocol/channel.ts";

/** The error a call gets when exit or the runtime's shutdown takes its child away. */
function cancelled(why: "exit" | "shutdown"): RpcError {
  return new RpcError(ErrorKind.Cancelled, "The runtime is shutting down", {
    details: `the call was cancelled by ${why === "exit" ? "exit" : "the runtime's shutdown"}`,
  });
}

/** Options of `ProcessSystem`. */
export interface ProcessSystemOptions {
  supervisor: Supervisor;
  broker: EffectsBroker;
  policy: Policy;
  log: Logger;
  /** Grace period between SIGTERM and SIGKILL when stopping main (ms). */
  stopTimeoutMs: number;
}

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
  readonly #pool: ChildPool;
  #packageHost: Child | undefined;
  #main: Main | undefined;

  /** Creates the system; nothing is spawned before `init`. */
  constructor(options: ProcessSystemOptions) {
    this.#options = options;
    this.#pool = new ChildPool({
      spawn: (profile) => this.#spawn(profile),
      limits: options.policy.children,
      warm: options.policy.pool,
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
    this.#pool.prewarm();
  }

  /**
   * Stops main, drains the pool and, when `uninit` is set, runs uninit with the target in the
   * package host.
   */
  async exit(
    { eventId, target, uninit }: { eventId: string; target: string | null; uninit: boolean },
  ): Promise<void> {
    await this.stop();
    await this.#pool.close(cancelled("exit"));
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
   * Runs one procedure in a child of its profile (reused while healthy; see ChildPool), killing
   * the child and everything it spawned when the timeout expires. The timeout counts from the
   * call's arrival: time spent waiting for a free child counts against it.
   */
  async execute(request: ExecuteRequest): Promise<unknown> {
    const profile = profileOf(request.procedure, request.sandbox);
    const call = callOf(request.procedure, request.input, request.eventId);
    const signal = request.timeoutMs === null ? undefined : AbortSignal.timeout(request.timeoutMs);
    const timedOut = () =>
      new RpcError(ErrorKind.Timeout, "The procedure timed out", {
        details:
          `${request.eventId} was stopped after ${request.timeoutMs} ms; its processes were killed`,
      });
    let child: Child;
    try {
      child = await this.#pool.acquire(profile, signal);
    } catch (error) {
      if (signal?.aborted && error === signal.reason) {
        throw new RpcError(ErrorKind.Timeout, "The procedure timed out", {
          details: `${request.eventId} waited ${request.timeoutMs} ms for a free ${profile} ` +
            "child and never ran",
        });
      }
      throw error;
    }
    let healthy = false;
    try {
      const work = child.run(call);
      if (!signal) {
        const value = await work;
        healthy = true;
        return value;
      }
      work.catch(() => {});
      const expired = new Promise<"timeout">((resolve) =>
        signal.addEventListener("abort", () => resolve("timeout"), { once: true })
      );
      const outcome = await Promise.race([work.then((value) => ({ value })), expired]);
      if (outcome === "timeout") {
        await child.kill();
        throw timedOut();
      }
      healthy = true;
      return outcome.value;
    } finally {
      // A child that failed in any way (an error answer included) never serves again.
      this.#pool.release(profile, child, healthy);
    }
  }

  /** Delivers the host's callback to the child that registered it. */
  callback(id: number, args: unknown[]): void {
    this.#options.broker.deliver(id, args);
  }

  /** Kills every child. */
  async shutdown(): Promise<void> {
    await this.#pool.close(cancelled("shutdown"));
    await this.#options.supervisor.shutdown();
  }
}
