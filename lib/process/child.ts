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
  type LoadError,
  RUN,
  type RunParams,
  TERMINATE,
  WARM,
} from "../protocol/channel.ts";
import { fromWire, packageFailure } from "../protocol/errors.ts";
import { childAnswerError } from "../protocol/child_codes.ts";
import { transition, type TransitionTable } from "../state_machine.ts";
import { abortable, timeoutSignal } from "../async/abortable.ts";
import type { ChildHandle } from "./child_handle.ts";
import { killGroup, signalGroup } from "./process_tree.ts";
import { exitSignal } from "./spawn.ts";

// Re-exported so that the types this module's API uses are documented with it.
export type { Peer, RequestOptions } from "../jsonrpc/peer.ts";
export type { EffectAccess, Profile } from "../policy/permissions.ts";

/** A child's lifecycle: loading, ready for a call, running one, being killed, gone. */
export type ChildState = "starting" | "ready" | "busy" | "killing" | "exited";

const CHILD_TRANSITIONS: TransitionTable<ChildState> = {
  starting: ["ready", "killing", "exited"],
  ready: ["busy", "killing", "exited"],
  busy: ["ready", "killing", "exited"],
  killing: ["exited"],
  exited: [],
};

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
  /** The host procedure id of the latest call (`eventId` of its effects); null for main. */
  eventId: string | null = null;
  /** Last lines the child printed, for error reports. */
  readonly recentOutput: string[] = [];
  #state: ChildState = "starting";
  #callOpen = false;
  #killedByRuntime = false;
  /** Error codes the runtime answered this child's effects with during the current call. */
  readonly #codesGiven = new Set<number>();
  #peer: Peer | undefined;
  #markReady!: (peer: Peer) => void;
  #markFailed!: (error: Error) => void;
  #outputDone: Promise<unknown> = Promise.resolve();
  readonly #heapMb: number;

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
    process: Deno.ChildProcess,
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
    }).then((peer) => {
      this.#peer = peer;
      if (this.#state === "starting") this.#moveTo("ready");
    });
    this.ready.catch(() => {});
    this.exited = process.status.then((status) => {
      this.#moveTo("exited");
      return status;
    });
    this.exited.then((status) => this.#markFailed(this.#exitError(status)));
  }

  #moveTo(next: ChildState): void {
    this.#state = transition(`child ${this.name}`, CHILD_TRANSITIONS, this.#state, next);
  }

  /** A short name for logs: `run#3`. */
  get name(): string {
    return `${this.role}#${this.id}`;
  }

  /** Where the child is in its lifecycle. */
  get state(): ChildState {
    return this.#state;
  }

  /**
   * True while a call runs in the child: from `run` until its answer line is read (effects in
   * the same chunk after the answer are already outside it).
   */
  get inCall(): boolean {
    return this.#state === "busy" && this.#callOpen;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.#state === "exited";
  }

  /**
   * Called by the launcher when the child's hello arrives on its channel.
   * @param peer the child's channel
   * @param loadError why the package could not be loaded, as the hello said; undefined if it loaded
   */
  acceptHello(peer: Peer, loadError: LoadError | undefined): void {
    this.#peer = peer;
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
   * @param params which function, the call's event id and its arguments
   * @returns the function's JSON result
   */
  async run(params: RunParams): Promise<unknown> {
    await this.ready;
    this.#moveTo("busy");
    this.eventId = params.eventId;
    this.#callOpen = true;
    this.#codesGiven.clear();
    try {
      return await this.#peer!.request(RUN, params, { onAnswer: () => this.#callOpen = false });
    } catch (error) {
      if (error instanceof RpcError) throw childAnswerError(error, this.name, this.#codesGiven);
      if (!(error instanceof ConnectionClosedError)) throw error;
      const status = await this.exited;
      // Its last output (an uncaught error, say) may still be in the pipe.
      const drain = timeoutSignal(OUTPUT_DRAIN_MS, () => "drained");
      await abortable(this.#outputDone, drain.signal).catch(() => {});
      drain.clear();
      throw this.#exitError(status);
    } finally {
      this.#callOpen = false;
      // The call's context is closed (see `inCall`); `eventId` stays the last call's id.
      if (this.#state === "busy") this.#moveTo("ready");
    }
  }

  /**
   * Resolves once the child answers `idle` (it holds nothing that could run package code again).
   * Never resolves when the child dies first or answers with an error.
   * @returns a promise of the child's idleness
   */
  async whenIdle(): Promise<void> {
    try {
      await this.ready;
      await this.#peer!.request(IDLE, {});
    } catch {
      return new Promise(() => {});
    }
  }

  /**
   * Notes that the runtime answered one of this child's effects with error `code`.
   * @param code the error code (the child may then answer the current call with it)
   */
  noteCodeGiven(code: number): void {
    this.#codesGiven.add(code);
  }

  /** True when the runtime killed the child (a timeout, a retirement, a teardown), not a crash. */
  get killedByRuntime(): boolean {
    return this.#killedByRuntime;
  }

  /**
   * Sends a notification on the child's channel (dropped before its hello).
   * @param method the channel method
   * @param params its params
   */
  notify(method: string, params: unknown): void {
    this.#peer?.notify(method, params);
  }

  /**
   * Delivers a fired callback (child-local id).
   * @param localId the child-local callback id
   * @param args the arguments the host fired it with
   */
  callback(localId: number, args: unknown[]): void {
    this.#peer?.notify(CALLBACK, { id: localId, args });
  }

  /** Asks the child to stop on its own (main: leave its context, `term()` its daemons, exit). */
  terminate(): void {
    if (this.hasExited) return;
    if (this.#peer) this.#peer.notify(TERMINATE, {});
    else this.signal("SIGKILL"); // not even started: nothing to stop gracefully
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

  /** SIGKILLs the child's whole process group (and so its PID namespace) and resolves when it is gone. */
  async kill(): Promise<void> {
    if (this.#state !== "exited" && this.#state !== "killing") {
      this.#killedByRuntime = true;
      this.#moveTo("killing");
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
