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
import {
  type Next,
  transition,
  type TransitionTable,
  unhandled,
  type Variant,
} from "../state_machine.ts";
import { evaluate } from "./dev_eval.ts";
import type { System } from "./system.ts";

// Re-exported so that the types this module's API uses are documented with it.
export type { LogFields, Logger } from "../log.ts";
export type { ExecuteRequest, InitKind, System } from "./system.ts";
export type { Procedure } from "../protocol/procedures.ts";

/** Lifecycle states of the service. */
export type State = "fresh" | "initializing" | "initialized" | "exiting" | "gone";

/**
 * The allowed moves between lifecycle states. Each operation of `Runtime` is one switch over
 * the state; `Runtime.#move` only compiles for a move in this table, and checks it again.
 */
export const RUNTIME_TRANSITIONS = {
  fresh: ["initializing", "exiting", "gone"],
  initializing: ["initialized", "fresh", "exiting", "gone"],
  initialized: ["exiting", "gone"],
  exiting: ["gone"],
  gone: [],
} as const satisfies TransitionTable<State>;

/** Each state with the data it carries. */
type Stage =
  | { kind: "fresh" }
  /** The system's init runs; `done` is its answer, which every concurrent init joins. */
  | { kind: "initializing"; done: Promise<null> }
  | { kind: "initialized" }
  | { kind: "exiting" }
  | { kind: "gone" };

// The union and `State` (so the table) name the same states: this does not compile otherwise.
const _sameStates: [Stage["kind"]] extends [State] ? [State] extends [Stage["kind"]] ? true : never
  : never = true;

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
  #stage: Stage = { kind: "fresh" };
  #exitRequested!: () => void;
  /** Resolves after `exit` has been answered: the process should now tear down. */
  readonly exitRequested: Promise<void>;

  /**
   * Creates a runtime in the `fresh` state.
   * @param options the system it drives, its log, and whether `eval` is enabled
   */
  constructor(options: RuntimeOptions) {
    this.#system = options.system;
    this.#log = options.log;
    this.#dev = options.dev;
    this.#checkTarget = options.checkTarget ?? (() => null);
    this.exitRequested = new Promise((resolve) => this.#exitRequested = resolve);
  }

  /** The current lifecycle state. */
  get state(): State {
    return this.#stage.kind;
  }

  /**
   * Moves to `to`: only a move in `RUNTIME_TRANSITIONS` out of `from`'s kind compiles, and the
   * move is checked against the current state once more.
   */
  #move<From extends Stage>(
    _from: From,
    to: Variant<Stage, Next<typeof RUNTIME_TRANSITIONS, From["kind"]>>,
  ): void {
    const next: Stage = to;
    transition("runtime", RUNTIME_TRANSITIONS, this.#stage.kind, next.kind);
    this.#stage = next;
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
    const stage = this.#stage;
    switch (stage.kind) {
      case "fresh":
      case "initializing":
      case "initialized":
      case "exiting":
        return this.#move(stage, { kind: "gone" });
      case "gone":
        return;
      default:
        return unhandled(stage, "runtime");
    }
  }

  async #dispatch(method: Method, raw: unknown): Promise<unknown> {
    const params = parseParams(method, raw);
    const stage = this.#stage;
    switch (stage.kind) {
      case "fresh":
      case "initializing":
        if (!ALWAYS.includes(method)) throw uninitialized(method);
        return await this.#handle(method, params);
      case "initialized":
        return await this.#handle(method, params);
      case "exiting":
      case "gone":
        throw cancelError({ kind: "exit" }, method);
      default:
        return unhandled(stage, "runtime");
    }
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
    const stage = this.#stage;
    switch (stage.kind) {
      case "fresh": {
        const done = this.#system.init({ eventId: params.id, kind: params.kind }).then(
          () => {
            this.#initEnded(initializing, true);
            return null;
          },
          (error) => {
            this.#initEnded(initializing, false);
            throw error;
          },
        );
        const initializing: Variant<Stage, "initializing"> = { kind: "initializing", done };
        this.#move(stage, initializing);
        return done;
      }
      case "initializing":
        return stage.done;
      case "initialized":
        return Promise.resolve(null);
      case "exiting":
      case "gone":
        throw cancelError({ kind: "exit" }, "init"); // `#dispatch` refuses it before
      default:
        return unhandled(stage, "runtime");
    }
  }

  /** The system's init that `initializing` started answered (`ok`) or failed. */
  #initEnded(initializing: Variant<Stage, "initializing">, ok: boolean): void {
    const stage = this.#stage;
    switch (stage.kind) {
      case "initializing":
        if (stage !== initializing) return; // cannot happen: one init runs at a time
        // A failed init can be retried.
        return this.#move(stage, ok ? { kind: "initialized" } : { kind: "fresh" });
      case "exiting":
      case "gone":
        return; // exit or shutdown came meanwhile: the runtime stays on its way out
      case "fresh":
      case "initialized":
        return; // cannot happen: only the init's end leaves `initializing` for these
      default:
        return unhandled(stage, "runtime");
    }
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
    const stage = this.#stage;
    let uninit: boolean;
    switch (stage.kind) {
      case "fresh":
      case "initializing":
        this.#log.warn("exit without a successful init: uninit is skipped", { state: stage.kind });
        uninit = false;
        break;
      case "initialized":
        uninit = true;
        break;
      case "exiting":
      case "gone":
        throw cancelError({ kind: "exit" }, "exit"); // `#dispatch` refuses it before
      default:
        return unhandled(stage, "runtime");
    }
    this.#move(stage, { kind: "exiting" });
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
