/** The lifecycle state machine and the handlers of the eight methods. */

import { ErrorKind } from "../protocol/error_codes.ts";
import { JsonRpcCode, RpcError } from "../jsonrpc/errors.ts";
import type { RequestContext } from "../jsonrpc/peer.ts";
import type { Logger } from "../log.ts";
import { type Method, PARAMS, type Params, parseParams } from "../protocol/params.ts";
import { parseProcedure, PROCEDURE_INPUT } from "../protocol/procedures.ts";
import { describeIssues } from "../protocol/params.ts";
import type { System } from "./system.ts";
import { evaluate } from "./dev_eval.ts";

/** Lifecycle states: fresh → initializing → initialized → exiting → gone. */
export type State = "fresh" | "initializing" | "initialized" | "exiting" | "gone";

/** Options of `Runtime`. */
export interface RuntimeOptions {
  system: System;
  log: Logger;
  /** Enables `eval`. */
  dev: boolean;
  /** Validates an `exit` target; returns what is wrong with it, or null. */
  checkTarget?: (target: string) => string | null;
}

const METHODS = Object.keys(PARAMS) as Method[];

function isMethod(name: string): name is Method {
  return Object.hasOwn(PARAMS, name);
}

/** Serves the eight methods over any number of connections. */
export class Runtime {
  readonly #system: System;
  readonly #log: Logger;
  readonly #dev: boolean;
  readonly #checkTarget: (target: string) => string | null;
  #state: State = "fresh";
  #initializing: Promise<null> | undefined;
  #exitRequested!: () => void;
  /** Resolves after `exit` has been answered: the process should now tear down. */
  readonly exitRequested: Promise<void>;

  /** Creates a runtime in the `fresh` state. */
  constructor(options: RuntimeOptions) {
    this.#system = options.system;
    this.#log = options.log;
    this.#dev = options.dev;
    this.#checkTarget = options.checkTarget ?? (() => null);
    this.exitRequested = new Promise((resolve) => this.#exitRequested = resolve);
  }

  /** The current lifecycle state. */
  get state(): State {
    return this.#state;
  }

  /** Request handler for a `Peer`. */
  handleRequest = (method: string, params: unknown, _context: RequestContext): Promise<unknown> => {
    if (!isMethod(method)) {
      throw new RpcError(JsonRpcCode.MethodNotFound, "Method not found", {
        details: `unknown method ${JSON.stringify(method)}; this runtime serves ${
          METHODS.join(", ")
        }`,
      });
    }
    return this.#dispatch(method, params);
  };

  /** Notification handler for a `Peer`: only `callback` is meaningful. */
  handleNotification = (method: string, params: unknown): void => {
    if (method !== "callback") {
      this.#log.debug("notification ignored", { method });
      return;
    }
    this.#dispatch("callback", params).catch((error) => {
      this.#log.debug("callback notification rejected", {
        reason: String(error?.message ?? error),
      });
    });
  };

  /** Marks the runtime as going away (SIGTERM): every later request is answered 73. */
  beginShutdown(): void {
    this.#state = "gone";
  }

  async #dispatch(method: Method, raw: unknown): Promise<unknown> {
    const params = parseParams(method, raw);
    this.#checkState(method);
    try {
      return await this.#handle(method, params);
    } catch (error) {
      throw this.#cancelledByShutdown(method, error);
    }
  }

  /**
   * A request in flight when exit or SIGTERM tears down has its child killed under it: it was
   * cancelled (73), not a package failure (59 "killed by SIGKILL"). `exit`'s own errors stay.
   */
  #cancelledByShutdown(method: Method, error: unknown): unknown {
    if (method === "exit" || (this.#state !== "exiting" && this.#state !== "gone")) return error;
    if (error instanceof RpcError && error.code === ErrorKind.Cancelled) return error;
    const reason = error instanceof Error ? error.message : String(error);
    return new RpcError(ErrorKind.Cancelled, "The runtime is shutting down", {
      details: `${method} was cancelled because the service container is exiting (${reason})`,
    });
  }

  async #handle(method: Method, params: Params<Method>): Promise<unknown> {
    switch (method) {
      case "init":
        return await this.#init(params as Params<"init">);
      case "exit":
        return await this.#exit(params as Params<"exit">);
      case "start":
        await this.#system.start();
        return null;
      case "stop":
        await this.#system.stop();
        return null;
      case "execute":
        return await this.#execute(params as Params<"execute">, false);
      case "sandbox":
        return await this.#execute(params as Params<"sandbox">, true);
      case "callback": {
        const { id, args } = params as Params<"callback">;
        this.#system.callback(id, args);
        return null;
      }
      case "eval":
        return await this.#eval(params as Params<"eval">);
    }
  }

  #checkState(method: Method): void {
    if (this.#state === "exiting" || this.#state === "gone") {
      throw new RpcError(ErrorKind.Cancelled, "The runtime is shutting down", {
        details: `${method} refused: the service container is exiting`,
      });
    }
    // The host must always be able to stop main and tear the container down, even when init
    // failed or never came: stop has nothing to stop then, exit skips uninit.
    if (method === "init" || method === "eval" || method === "stop" || method === "exit") return;
    if (this.#state !== "initialized") {
      throw new RpcError(ErrorKind.Uninitialized, "The runtime is not initialized", {
        details: `${method} refused: send init first`,
      });
    }
  }

  #init(params: Params<"init">): Promise<null> {
    if (this.#state === "initialized") return Promise.resolve(null);
    if (this.#initializing) return this.#initializing;
    this.#state = "initializing";
    this.#initializing = this.#system.init({ eventId: params.id, kind: params.kind }).then(
      () => {
        if (this.#state === "initializing") this.#state = "initialized";
        return null;
      },
      (error) => {
        if (this.#state === "initializing") this.#state = "fresh";
        throw error;
      },
    ).finally(() => this.#initializing = undefined);
    return this.#initializing;
  }

  async #exit(params: Params<"exit">): Promise<null> {
    if (params.target !== null) {
      // The Node runtime reads "" as null (uninstall: the package may delete its data); a
      // malformed target must not do that, so only an explicit null means uninstall here.
      const problem = params.target.trim() === ""
        ? "an empty target is not a version or range (send null for an uninstall)"
        : this.#checkTarget(params.target);
      if (problem !== null) {
        throw new RpcError(JsonRpcCode.InvalidParams, "Invalid params", {
          details: `exit: params.target: ${problem}`,
        });
      }
    }
    // uninit runs only for a package whose init succeeded (the Node runtime skips it too).
    const uninit = this.#state === "initialized";
    if (!uninit) {
      this.#log.warn("exit without a successful init: uninit is skipped", { state: this.#state });
    }
    this.#state = "exiting";
    try {
      await this.#system.exit({ eventId: params.id, target: params.target, uninit });
      return null;
    } finally {
      // Tear down after this answer has been queued (a macrotask runs after the answer's microtasks).
      setTimeout(() => this.#exitRequested(), 0);
    }
  }

  #execute(params: Params<"execute">, sandbox: boolean): Promise<unknown> {
    const procedure = parseProcedure(params.procedure);
    if (typeof procedure === "string") {
      throw new RpcError(JsonRpcCode.InvalidParams, "Invalid params", {
        details: `params.procedure: ${procedure}`,
      });
    }
    const input = PROCEDURE_INPUT[procedure.kind].safeParse(params.input);
    if (!input.success) {
      throw new RpcError(JsonRpcCode.InvalidParams, "Invalid params", {
        details: `input of ${params.procedure}: ${
          describeIssues(input.error).replaceAll("params", "input")
        }`,
      });
    }
    return this.#system.execute({
      eventId: params.id,
      procedure,
      input: input.data,
      timeoutMs: params.timeout,
      sandbox,
    });
  }

  #eval(params: Params<"eval">): Promise<unknown> {
    if (!this.#dev) {
      throw new RpcError(JsonRpcCode.MethodNotFound, "Method not found", {
        details: "eval is disabled; start the runtime with --dev to enable it",
      });
    }
    return evaluate(params.script);
  }
}
