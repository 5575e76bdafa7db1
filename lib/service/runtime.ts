/**
 * The service's lifecycle and the handlers of the eight methods.
 *
 * Lifecycle (transitions in `RUNTIME_TRANSITIONS`, every move checked):
 * `fresh → initializing → initialized → exiting → gone`; a failed init goes back to `fresh`
 * (init can be retried); exit may come in any state before `exiting` (the host must always be
 * able to tear the container down); SIGTERM moves any state to `gone`.
 *
 * A request whose connection closes before its answer keeps running to its end: the host's own
 * timeout only abandons its wait, and an action half done and killed because a socket dropped is
 * worse than one that finishes. The answer is then dropped by the Peer.
 */

import type { RequestContext } from "../jsonrpc/peer.ts";
import type { Logger } from "../log.ts";
import { cancelError, invalidParams, methodNotFound, uninitialized } from "../protocol/errors.ts";
import {
  describeIssues,
  type Method,
  PARAMS,
  type Params,
  parseParams,
} from "../protocol/params.ts";
import { parseProcedure, PROCEDURE_INPUT } from "../protocol/procedures.ts";
import { transition, type TransitionTable } from "../state_machine.ts";
import { evaluate } from "./dev_eval.ts";
import type { System } from "./system.ts";

/** Lifecycle states of the service. */
export type State = "fresh" | "initializing" | "initialized" | "exiting" | "gone";

/** The allowed moves between lifecycle states. */
export const RUNTIME_TRANSITIONS: TransitionTable<State> = {
  fresh: ["initializing", "exiting", "gone"],
  initializing: ["initialized", "fresh", "exiting", "gone"],
  initialized: ["exiting", "gone"],
  exiting: ["gone"],
  gone: [],
};

/** Methods that work in every state before the teardown: the host can always stop and exit. */
const ALWAYS: readonly Method[] = ["init", "eval", "stop", "exit"];

/** Options of `Runtime`. */
export interface RuntimeOptions {
  /** What runs package code (the process system). */
  system: System;
  /** The runtime's log. */
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

  #moveTo(next: State): void {
    this.#state = transition("runtime", RUNTIME_TRANSITIONS, this.#state, next);
  }

  /** Request handler for a `Peer`. */
  handleRequest = (method: string, params: unknown, _context: RequestContext): Promise<unknown> => {
    if (!isMethod(method)) {
      throw methodNotFound(
        `unknown method ${JSON.stringify(method)}; this runtime serves ${METHODS.join(", ")}`,
      );
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
    if (this.#state !== "gone") this.#moveTo("gone");
  }

  async #dispatch(method: Method, raw: unknown): Promise<unknown> {
    const params = parseParams(method, raw);
    if (this.#state === "exiting" || this.#state === "gone") {
      throw cancelError({ kind: "exit" }, method);
    }
    if (this.#state !== "initialized" && !ALWAYS.includes(method)) throw uninitialized(method);
    return await this.#handle(method, params);
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

  #init(params: Params<"init">): Promise<null> {
    if (this.#state === "initialized") return Promise.resolve(null);
    if (this.#initializing) return this.#initializing;
    this.#moveTo("initializing");
    this.#initializing = this.#system.init({ eventId: params.id, kind: params.kind }).then(
      () => {
        if (this.#state === "initializing") this.#moveTo("initialized");
        return null;
      },
      (error) => {
        if (this.#state === "initializing") this.#moveTo("fresh");
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
      if (problem !== null) throw invalidParams(`exit: params.target: ${problem}`);
    }
    // uninit runs only for a package whose init succeeded (the Node runtime skips it too).
    const uninit = this.#state === "initialized";
    if (!uninit) {
      this.#log.warn("exit without a successful init: uninit is skipped", { state: this.#state });
    }
    this.#moveTo("exiting");
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
    if (typeof procedure === "string") throw invalidParams(`params.procedure: ${procedure}`);
    const input = PROCEDURE_INPUT[procedure.kind].safeParse(params.input);
    if (!input.success) {
      throw invalidParams(
        `input of ${params.procedure}: ${
          describeIssues(input.error).replaceAll("params", "input")
        }`,
      );
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
      throw methodNotFound("eval is disabled; start the runtime with --dev to enable it");
    }
    return evaluate(params.script);
  }
}
