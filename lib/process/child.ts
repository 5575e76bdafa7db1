/**
 * One child process as the runtime drives it: its lifecycle (an explicit state machine), its
 * channel once it has said hello, the calls it runs, and how it is stopped and killed.
 */

import { ConnectionClosedError, RpcError } from "../jsonrpc/errors.ts";
import type { Peer } from "../jsonrpc/peer.ts";
import type { Profile } from "../policy/permissions.ts";
import {
  CALLBACK,
  type ChildRole,
  IDLE,
  type IdleResult,
  type LoadError,
  RUN,
  type RunParams,
  TERMINATE,
  WARM,
} from "../protocol/channel.ts";
import { fromWire, packageFailure } from "../protocol/errors.ts";
import { childAnswerError } from "../protocol/child_codes.ts";
import {
  IllegalTransition,
  type Next,
  transition,
  type TransitionTable,
  unhandled,
  type Variant,
} from "../state_machine.ts";
import { abortable, timeoutSignal } from "../async/abortable.ts";
import type { ChildHandle, IdleHoldings } from "./child_handle.ts";
import * as z from "../zod.ts";
import { killGroup, signalGroup } from "./process_tree.ts";
import { exitSignal } from "./spawn.ts";

/** The most file watches an idle answer may list (more: the answer is not believed). */
export const MAX_IDLE_WATCHES = 256;

const fileState = z.object({
  mtimeMs: z.number(),
  ctimeMs: z.number(),
  size: z.number(),
  ino: z.number(),
});
/** A path an `idle` answer names. */
const idlePath = z.string().check(z.minLength(1), z.maxLength(4096));
/** What a package host's `idle` answer must be (the child runs package code: checked). */
const IDLE_RESULT: z.ZodMiniType<IdleResult> = z.object({
  callbacks: z.int().check(z.nonnegative()),
  watches: z.array(
    z.object({
      path: idlePath,
      recursive: z.boolean(),
      state: z.nullable(fileState),
    }),
  ).check(z.maxLength(MAX_IDLE_WATCHES)),
  polls: z.array(
    z.object({
      path: idlePath,
      state: z.nullable(fileState),
      everyMs: z.number().check(z.nonnegative()),
    }),
  ).check(z.maxLength(MAX_IDLE_WATCHES)),
  droppedTimers: z.array(z.number().check(z.nonnegative())).check(
    z.maxLength(MAX_IDLE_WATCHES),
  ),
  callbacksSeen: z.int().check(z.nonnegative()),
});

// Re-exported so that the types this module's API uses are documented with it.
export type { Peer, RequestOptions } from "../jsonrpc/peer.ts";
export type { EffectAccess, Profile } from "../policy/permissions.ts";
export type { SpawnOperation } from "../policy/spawn_rules.ts";
export type { ChildRole, LoadError, PackageFunction, RunParams } from "../protocol/channel.ts";
export type { ChildHandle } from "./child_handle.ts";

/** A child's lifecycle: loading, ready for a call, running one, being killed, gone. */
export type ChildState = "starting" | "ready" | "busy" | "killing" | "exited";

/**
 * The moves between a child's states. Each operation of `Child` is one switch over the state;
 * `Child.#move` only compiles for a move in this table, and checks it again when it is made.
 */
export const CHILD_TRANSITIONS = {
  starting: ["ready", "killing", "exited"],
  ready: ["busy", "killing", "exited"],
  busy: ["ready", "killing", "exited"],
  killing: ["exited"],
  exited: [],
} as const satisfies TransitionTable<ChildState>;

/** Each state with the data it carries. */
type Stage =
  /** Loading the package; `peer` once its hello is accepted (warming up: usable for notifications). */
  | { kind: "starting"; peer: Peer | undefined }
  /** Waiting for a call; `lastEventId` is the last call's id (null before the first, and for main). */
  | { kind: "ready"; peer: Peer; lastEventId: string | null }
  /**
   * Running the call `eventId`; `answered` once its answer line is read (effects after it are
   * outside the call); `codes` are the error codes the runtime answered its effects with.
   */
  | {
    kind: "busy";
    peer: Peer;
    eventId: string | null;
    answered: boolean;
    readonly codes: Set<number>;
  }
  /** Being SIGKILLed by the runtime. */
  | { kind: "killing"; peer: Peer | undefined; lastEventId: string | null }
  /** Gone; `byRuntime` when it went through `killing` (not a crash or an exit of its own). */
  | { kind: "exited"; status: Deno.CommandStatus; lastEventId: string | null; byRuntime: boolean };

// The union and `ChildState` (so the table) name the same states: this does not compile otherwise.
const _sameStates: [Stage["kind"]] extends [ChildState]
  ? [ChildState] extends [Stage["kind"]] ? true : never
  : never = true;

/** The id `eventId` reports in `stage`. */
function eventIdIn(stage: Stage): string | null {
  switch (stage.kind) {
    case "starting":
      return null;
    case "busy":
      return stage.eventId;
    case "ready":
    case "killing":
    case "exited":
      return stage.lastEventId;
    default:
      return unhandled(stage, "child");
  }
}

/** Whether `stage` is in a call (`inCall`). */
function inCallIn(stage: Stage): boolean {
  switch (stage.kind) {
    case "busy":
      return !stage.answered;
    case "starting":
    case "ready":
    case "killing":
    case "exited":
      return false;
    default:
      return unhandled(stage, "child");
  }
}

/** Whether the runtime killed the child, in `stage`. */
function killedByRuntimeIn(stage: Stage): boolean {
  switch (stage.kind) {
    case "killing":
      return true;
    case "exited":
      return stage.byRuntime;
    case "starting":
    case "ready":
    case "busy":
      return false;
    default:
      return unhandled(stage, "child");
  }
}

/** The child's channel, in every state that has one. */
function peerIn(stage: Stage): Peer | undefined {
  switch (stage.kind) {
    case "starting":
    case "ready":
    case "busy":
    case "killing":
      return stage.peer;
    case "exited":
      return undefined;
    default:
      return unhandled(stage, "child");
  }
}

const RECENT_OUTPUT_LINES = 20;
/** How long an error report waits for a dead child's last output. */
const OUTPUT_DRAIN_MS = 250;

/** One child process. */
export class Child implements ChildHandle {
  /** The launcher's number for the child, unique in this runtime (the `3` of `run#3`). */
  readonly id: number;
  /** What the child is for: `init`, `main` or a procedure (`getInput`, `run`, `backup`, `sandbox`). */
  readonly role: ChildRole;
  /** What the child may do: its `deno run` grants, its effect access and its brokered programs. */
  readonly profile: Profile;
  /** The pid of the child's process group leader (setsid → unshare, or the program itself). */
  readonly pid: number;
  /** When the child was spawned (ms since the epoch). */
  readonly spawnedAt: number = Date.now();
  /** Resolves when the child has said hello; rejects with its load error or when it dies first. */
  readonly ready: Promise<void>;
  /** Resolves with the exit status once the process has exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Last lines the child printed, for error reports. */
  readonly recentOutput: string[] = [];
  #stage: Stage = { kind: "starting", peer: undefined };
  #markReady!: (peer: Peer) => void;
  #markFailed!: (error: Error) => void;
  #outputDone: Promise<unknown> = Promise.resolve();
  readonly #heapMb: number;
  /** Callbacks sent so far (an idle answer that saw fewer is `touched`). */
  #delivered = 0;

  /**
   * Used by the launcher only.
   * @param id the launcher's number for the child
   * @param role what the child is for
   * @param profile what it may do
   * @param process the spawned process (see `spawnContained`)
   * @param heapMb its JavaScript heap limit, named when it runs out of memory
   */
  constructor(
    id: number,
    role: ChildRole,
    profile: Profile,
    process: Pick<Deno.ChildProcess, "pid" | "status">,
    heapMb: number,
  ) {
    this.id = id;
    this.role = role;
    this.profile = profile;
    this.pid = process.pid;
    this.#heapMb = heapMb;
    this.ready = new Promise<Peer>((resolve, reject) => {
      this.#markReady = resolve;
      this.#markFailed = reject;
    }).then((peer) => this.#warmedUp(peer));
    this.ready.catch(() => {});
    this.exited = process.status.then((status) => {
      this.#gone(status);
      return status;
    });
    this.exited.then((status) => this.#markFailed(this.#exitError(status)));
  }

  /**
   * Moves to `to`: only a move in `CHILD_TRANSITIONS` out of `from`'s kind compiles, and the move
   * is checked against the current state once more.
   */
  #move<From extends Stage>(
    _from: From,
    to: Variant<Stage, Next<typeof CHILD_TRANSITIONS, From["kind"]>>,
  ): void {
    const next: Stage = to;
    transition(`child ${this.name}`, CHILD_TRANSITIONS, this.#stage.kind, next.kind);
    this.#stage = next;
  }

  /** A short name for logs: `run#3`. */
  get name(): string {
    return `${this.role}#${this.id}`;
  }

  /** Where the child is in its lifecycle. */
  get state(): ChildState {
    return this.#stage.kind;
  }

  /**
   * The host procedure id of the latest call (`eventId` of its effects): the running call's, then
   * the last call's after it; null before the first call, and for main.
   */
  get eventId(): string | null {
    return eventIdIn(this.#stage);
  }

  /**
   * True while a call runs in the child: from `run` until its answer line is read (effects in
   * the same chunk after the answer are already outside it).
   */
  get inCall(): boolean {
    return inCallIn(this.#stage);
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.#stage.kind === "exited";
  }

  /** True when the runtime killed the child (a timeout, a retirement, a teardown), not a crash. */
  get killedByRuntime(): boolean {
    return killedByRuntimeIn(this.#stage);
  }

  /** The child's channel, in every state that has one. */
  get #peer(): Peer | undefined {
    return peerIn(this.#stage);
  }

  /**
   * Called by the launcher when the child's hello arrives on its channel: the channel is usable
   * for notifications at once; the child is ready after two warm-up round trips.
   * @param peer the child's channel
   * @param loadError why the package could not be loaded, as the hello said; undefined if it loaded
   */
  acceptHello(peer: Peer, loadError: LoadError | undefined): void {
    const stage = this.#stage;
    switch (stage.kind) {
      case "starting":
      case "killing":
        // The same state, now with its channel.
        this.#stage = { ...stage, peer };
        break;
      case "ready":
      case "busy":
        return; // a second hello: the launcher accepts only one
      case "exited":
        return; // too late: `ready` has rejected with the exit
      default:
        return unhandled(stage, "child");
    }
    if (loadError) {
      this.#markFailed(fromWire(loadError));
      return;
    }
    // Two warm-up round trips compile the channel's code paths before the first real call.
    peer.request(WARM, {}).then(() => peer.request(WARM, {})).then(
      () => this.#markReady(peer),
      (error) => this.#markFailed(error),
    );
  }

  /** The warm-up is done (`ready` resolves after this). */
  #warmedUp(peer: Peer): void {
    const stage = this.#stage;
    switch (stage.kind) {
      case "starting":
        return this.#move(stage, { kind: "ready", peer, lastEventId: null });
      case "killing":
      case "exited":
        return; // killed or gone while warming up: a `run` now rejects with the exit
      case "ready":
      case "busy":
        return; // only the warm-up leaves `starting` for `ready`
      default:
        return unhandled(stage, "child");
    }
  }

  /** The process exited. */
  #gone(status: Deno.CommandStatus): void {
    const stage = this.#stage;
    switch (stage.kind) {
      case "starting":
        return this.#move(stage, { kind: "exited", status, lastEventId: null, byRuntime: false });
      case "ready":
      case "killing":
        return this.#move(stage, {
          kind: "exited",
          status,
          lastEventId: stage.lastEventId,
          byRuntime: stage.kind === "killing",
        });
      case "busy":
        return this.#move(stage, {
          kind: "exited",
          status,
          lastEventId: stage.eventId,
          byRuntime: false,
        });
      case "exited":
        return; // a process exits once
      default:
        return unhandled(stage, "child");
    }
  }

  /**
   * Fails the child before it is ready (no hello in time, a channel that broke first).
   * @param error what `ready` rejects with
   */
  failToStart(error: Error): void {
    this.#markFailed(error);
  }

  #exitError(status: Deno.CommandStatus): RpcError {
    const signal = exitSignal(status);
    const output = this.recentOutput.join("\n");
    if (output.includes("Fatal process out of memory")) {
      return packageFailure(
        `The ${this.role} process ran out of memory`,
        `the ${this.name} child process could not reserve memory within its data limit ` +
          `(ulimit -d, derived from heapMb ${this.#heapMb} MB); raise heapMb for this profile ` +
          "in the policy if the package needs more",
        output,
      );
    }
    if (signal === "SIGTRAP" && output.includes("Fatal JavaScript out of memory")) {
      return packageFailure(
        `The ${this.role} process ran out of memory`,
        `the ${this.name} child process reached its JavaScript heap limit (${this.#heapMb} MB) ` +
          "and was stopped; raise heapMb for this profile in the policy if the package needs more",
        output,
      );
    }
    const how = signal ? `was killed by ${signal}` : `exited with code ${status.code}`;
    return packageFailure(
      `The ${this.role} process ${how}`,
      `the ${this.name} child process ${how} before it answered`,
      output || undefined,
    );
  }

  /**
   * Runs a package function in the child; rejects with the package's error or when the child dies.
   * One call at a time: a call while another runs is refused (`IllegalTransition`), and a call
   * to a child being killed or gone rejects with how it ended.
   * @param params which function, the call's event id and its arguments
   * @returns the function's JSON result
   */
  async run(params: RunParams): Promise<unknown> {
    const stage = this.#stage;
    switch (stage.kind) {
      case "starting":
        await this.ready;
        return await this.run(params);
      case "ready":
        return await this.#call(stage, params);
      case "busy":
        throw new IllegalTransition(`child ${this.name}`, "busy", "busy");
      case "killing":
      case "exited":
        throw this.#exitError(await this.exited);
      default:
        return unhandled(stage, "child");
    }
  }

  async #call(ready: Variant<Stage, "ready">, params: RunParams): Promise<unknown> {
    const busy: Variant<Stage, "busy"> = {
      kind: "busy",
      peer: ready.peer,
      eventId: params.eventId,
      answered: false,
      codes: new Set(),
    };
    this.#move(ready, busy);
    try {
      return await busy.peer.request(RUN, params, { onAnswer: () => busy.answered = true });
    } catch (error) {
      if (error instanceof RpcError) throw childAnswerError(error, this.name, busy.codes);
      if (!(error instanceof ConnectionClosedError)) throw error;
      const status = await this.exited;
      // Its last output (an uncaught error, say) may still be in the pipe.
      const drain = timeoutSignal(OUTPUT_DRAIN_MS, () => "drained");
      await abortable(this.#outputDone, drain.signal).catch(() => {});
      drain.clear();
      throw this.#exitError(status);
    } finally {
      busy.answered = true;
      this.#endCall(busy);
    }
  }

  /** The call `busy` ended: its context is closed (see `inCall`); `eventId` stays its id. */
  #endCall(busy: Variant<Stage, "busy">): void {
    const stage = this.#stage;
    switch (stage.kind) {
      case "busy":
        if (stage !== busy) return; // not this call's (cannot happen: one call at a time)
        return this.#move(stage, { kind: "ready", peer: stage.peer, lastEventId: stage.eventId });
      case "killing":
      case "exited":
        return; // killed or gone during the call: it stays so
      case "starting":
      case "ready":
        return; // no call runs (cannot happen: only the call leaves `busy`)
      default:
        return unhandled(stage, "child");
    }
  }

  /**
   * Resolves once the child answers `idle`: it holds nothing that could run package code again
   * but what it watches, which the answer lists. Never resolves when the child dies first, or
   * answers with an error or with an answer that is not an `IdleResult`.
   * @returns a promise of what the idle child still watches
   */
  async whenIdle(): Promise<IdleHoldings> {
    const stage = this.#stage;
    switch (stage.kind) {
      case "starting":
        try {
          await this.ready;
        } catch {
          return new Promise(() => {});
        }
        return await this.whenIdle();
      case "ready":
      case "busy": {
        let answer: unknown;
        try {
          answer = await stage.peer.request(IDLE, {});
        } catch {
          return new Promise(() => {});
        }
        const parsed = IDLE_RESULT.safeParse(answer);
        if (!parsed.success) return new Promise(() => {});
        // Sent before the answer and not received before it: the child may be reacting to it.
        return { ...parsed.data, touched: this.#delivered !== parsed.data.callbacksSeen };
      }
      case "killing":
      case "exited":
        return new Promise(() => {});
      default:
        return unhandled(stage, "child");
    }
  }

  /**
   * Notes that the runtime answered one of this child's effects with error `code`.
   * @param code the error code (the child may then answer the current call with it); outside a
   *   call there is nothing to answer, and it is dropped
   */
  noteCodeGiven(code: number): void {
    const stage = this.#stage;
    switch (stage.kind) {
      case "busy":
        stage.codes.add(code);
        return;
      case "starting":
      case "ready":
      case "killing":
      case "exited":
        return;
      default:
        return unhandled(stage, "child");
    }
  }

  /**
   * Sends a notification on the child's channel (dropped before its hello and after its exit).
   * @param method the channel method
   * @param params its params
   */
  notify(method: string, params: unknown): void {
    this.#peer?.notify(method, params);
  }

  /**
   * Delivers a fired callback (child-local id); dropped before the child's hello and after its exit.
   * @param localId the child-local callback id
   * @param args the arguments the host fired it with
   */
  callback(localId: number, args: unknown[]): void {
    if (this.#peer === undefined) return;
    this.#delivered++;
    this.notify(CALLBACK, { id: localId, args });
  }

  /** Asks the child to stop on its own (main: leave its context, `term()` its daemons, exit). */
  terminate(): void {
    const stage = this.#stage;
    switch (stage.kind) {
      case "starting":
      case "killing":
        // Without a channel it has not even started: nothing to stop gracefully.
        if (stage.peer) stage.peer.notify(TERMINATE, {});
        else this.signal("SIGKILL");
        return;
      case "ready":
      case "busy":
        stage.peer.notify(TERMINATE, {});
        return;
      case "exited":
        return;
      default:
        return unhandled(stage, "child");
    }
  }

  /**
   * Sends `signal` to the child's group leader alone.
   * @param signal the signal (nothing is sent once the child has exited)
   */
  signal(signal: Deno.Signal): void {
    if (this.hasExited) return;
    try {
      Deno.kill(this.pid, signal);
    } catch {
      // exited meanwhile
    }
  }

  /**
   * SIGKILLs the child's whole process group (and so its PID namespace) and resolves when it is
   * gone (`killedByRuntime` is then true unless it had exited already).
   * @returns when the child and its group are gone
   */
  async kill(): Promise<void> {
    const stage = this.#stage;
    switch (stage.kind) {
      case "starting":
        this.#move(stage, { kind: "killing", peer: stage.peer, lastEventId: null });
        break;
      case "ready":
        this.#move(stage, { kind: "killing", peer: stage.peer, lastEventId: stage.lastEventId });
        break;
      case "busy":
        this.#move(stage, { kind: "killing", peer: stage.peer, lastEventId: stage.eventId });
        break;
      case "killing":
      case "exited":
        break; // killed already, or gone: its group may still hold processes
      default:
        return unhandled(stage, "child");
    }
    // The leader too: right after spawn it may not lead its group yet (setsid not run).
    this.signal("SIGKILL");
    signalGroup(this.pid, "SIGKILL");
    await this.exited;
    await killGroup(this.pid);
  }

  /** Used by the launcher: resolves when the child's stdout and stderr have been read to the end. */
  set outputDone(done: Promise<unknown>) {
    this.#outputDone = done;
  }

  /**
   * Logs one line of the child's output (or of a program run for it), within its output budget;
   * set by the launcher.
   */
  logOutput: (line: string, fields: Record<string, string>) => void = () => {};

  /**
   * Remembers an output line for error reports.
   * @param line the line (only the last lines are kept)
   */
  noteOutput(line: string): void {
    this.recentOutput.push(line);
    if (this.recentOutput.length > RECENT_OUTPUT_LINES) this.recentOutput.shift();
  }
}
