/**
 * The `System` that runs package code in permission-scoped children: the package host (init, and
 * while it holds something, exit), main (start … stop) and procedure children, reused per profile
 * (see ChildPool).
 *
 * Nothing stays alive that holds nothing: after init the package host is asked `idle` and
 * retired once it answers (no effect, timer or process of its own left; see worker/idle.ts);
 * `uninit` then runs in a fresh child. What it still watches — callbacks at the host, files — is
 * watched for it (`watchFor`): at the first change, init is replayed in a fresh child with kind
 * null, what every container start runs (start-sdk's own re-run, constRetry, would re-run the one
 * step that watched, with the original kind: a replay re-runs every step, each of which a
 * container start runs anyway). A host replayed `REPLAY_KEEP_COUNT` times within
 * `REPLAY_WINDOW_MS` is kept: its values change too often to pay a child each time.
 *
 * Where the host's next call is predictable, its child is started ahead: a `run` child when a
 * `getInput` arrives, and the fresh uninit child when main is stopped (exit follows stop). Both
 * are retired when idle.
 *
 * Every wait is bounded by an `AbortSignal` whose reason is a `Cancelled` (timeout, stop, exit,
 * shutdown); `cancelError` turns that reason into the answer, so why a call ended is never
 * guessed afterwards.
 */

import { abortable } from "../async/abortable.ts";
import type { Logger } from "../log.ts";
import type { ProfileName } from "../policy/permissions.ts";
import type { Policy } from "../policy/policy.ts";
import type { RunParams } from "../protocol/channel.ts";
import {
  cancelError,
  Cancelled,
  type CancelReason,
  cancelReason,
  packageFailure,
} from "../protocol/errors.ts";
import type { Procedure } from "../protocol/procedures.ts";
import type { ExecuteRequest, InitKind, System } from "../service/system.ts";
import {
  IllegalTransition,
  type Next,
  transition,
  type TransitionTable,
  unhandled,
  type Variant,
} from "../state_machine.ts";
import type { ChildHandle, IdleHoldings } from "./child_handle.ts";
import { ChildPool } from "./child_pool.ts";
import type { Watching } from "./host_watch.ts";
import { type Clock, deadline, realClock, type TimerId } from "./clock.ts";

export type { LogFields, Logger } from "../log.ts";
export type { EffectAccess, Profile, ProfileName } from "../policy/permissions.ts";
export type { SpawnOperation } from "../policy/spawn_rules.ts";
export type { Policy, ReuseLimits } from "../policy/policy.ts";
export type { ChildRole, PackageFunction, RunParams } from "../protocol/channel.ts";
export type { CancelReason } from "../protocol/errors.ts";
export type { Procedure } from "../protocol/procedures.ts";
export type { ExecuteRequest, InitKind, System } from "../service/system.ts";
export type { ChildHandle } from "./child_handle.ts";
export type { Clock, TimerId } from "./clock.ts";

/** Options of `ProcessSystem`. */
export interface ProcessSystemOptions {
  /** Spawns a child with the policy's profile of that name. */
  spawn(profile: ProfileName): ChildHandle;
  /** Tells the host that main stopped without being asked (`set-main-status stopped`). */
  reportMainStopped(): void;
  /** Delivers the host's `callback` to the child that registered it. */
  deliverCallback(id: number, args: unknown[]): void;
  /**
   * Takes over what a package host about to be retired still watches (its callbacks at the host,
   * its files); `changed` is called at each change until it is released. Absent: a host that
   * watches something is kept.
   * @returns what stops watching, or why it cannot be taken over (the host is then kept)
   */
  watchFor?(child: ChildHandle, held: IdleHoldings, changed: () => void): Watching | string;
  /** Kills every child there is (after the system's own teardown). */
  killAll(): Promise<void>;
  /** The package's policy: its profiles, reuse limits and warm pool. */
  policy: Policy;
  /** The runtime's log. */
  log: Logger;
  /** Grace period between SIGTERM and SIGKILL when stopping main (ms). */
  stopTimeoutMs: number;
  /** What deadlines, the stop grace and idle retirement wait on (default: the real clock). */
  clock?: Clock;
}

/**
 * A replayed host is kept instead of retired again when this many replays (this one included)
 * came within `REPLAY_WINDOW_MS`: its values change too often to pay a child each time.
 */
export const REPLAY_KEEP_COUNT = 3;
/** The window `REPLAY_KEEP_COUNT` counts replays in (ms). */
export const REPLAY_WINDOW_MS = 60_000;
/**
 * How long after init a package host that has not said it is idle is logged as kept (ms): it
 * holds something besides what it watches (a timer, a socket, work of its own).
 */
export const HOST_KEPT_NOTICE_MS = 10_000;

/** Main's lifecycle: no main, starting, running, or being stopped (one main at most). */
export type MainKind = "none" | "starting" | "running" | "stopping";

/**
 * The moves of main. Each operation on main is one switch over its state; `ProcessSystem.#move`
 * only compiles for a move in this table, and checks it again when it is made.
 *
 * - `none → starting`: `start` spawns main.
 * - `starting → running`: main's start answered; `starting → stopping`: `stop` (or `exit`)
 *   cancelled the start; `starting → none`: the start failed (main died, or the teardown).
 * - `running → stopping`: `stop` (or `exit`); `running → none`: main exited on its own.
 * - `stopping → none`: every process of main is gone.
 */
export const MAIN_TRANSITIONS = {
  none: ["starting"],
  starting: ["running", "stopping", "none"],
  running: ["stopping", "none"],
  stopping: ["none"],
} as const satisfies TransitionTable<MainKind>;

/** Each state of main with the data it carries. */
type MainState =
  | { kind: "none" }
  /** `started` is the start's answer, which every concurrent start joins; `stop` cancels it. */
  | { kind: "starting"; child: ChildHandle; started: Promise<void>; stop: AbortController }
  | { kind: "running"; child: ChildHandle }
  /** `stopped` resolves once every process of `child` is gone; every concurrent stop joins it. */
  | { kind: "stopping"; child: ChildHandle; stopped: Promise<void> };

// The union and `MainKind` (so the table) name the same states: this does not compile otherwise.
const _sameStates: [MainState["kind"]] extends [MainKind]
  ? [MainKind] extends [MainState["kind"]] ? true : never
  : never = true;

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
  readonly #clock: Clock;
  readonly #pool: ChildPool;
  /** Aborted (with exit's or shutdown's reason) when the container is torn down. */
  readonly #teardown = new AbortController();
  /** The package host while it holds something (undefined once retired, or before init). */
  #packageHost: ChildHandle | undefined;
  /** Calls running in the package host now (uninit): it is not retired meanwhile. */
  #hostCalls = 0;
  /** True once init succeeded. */
  #initialized = false;
  /** What is watched for the retired host, and the init it replays. */
  #watching: { stop: Watching; eventId: string } | undefined;
  /** When the last replays started (ms, the clock's), the oldest first. */
  #replays: number[] = [];
  /** The replay of init running now (exit and a new init wait for it). */
  #replaying: Promise<void> | undefined;
  /** A watched value changed while a replay ran or waited. */
  #changedSince = false;
  /** The last replay failed (what the retired host watched is still watched). */
  #replayFailed = false;
  /** A replay put off: replays kept failing (see `#changed`). */
  #putOff: TimerId | undefined;
  /** Children this system killed itself (their exit is no surprise). */
  readonly #killedHere = new WeakSet<ChildHandle>();
  /** The pool's close that exit began (shutdown waits for its kills). */
  #closing: Promise<void> = Promise.resolve();
  /** A fresh init child started for a predicted exit, retired when idle. */
  #spare: { child: ChildHandle; timer: TimerId } | undefined;
  /** When a host kept for replaying too often is asked `idle` again. */
  #keptLook: TimerId | undefined;
  #main: MainState = { kind: "none" };
  /** How many times stop was called: a start queued behind a stop is void once it changes. */
  #stops = 0;
  /** Calls running now; the teardown waits for them to be answered (they end fast once aborted). */
  readonly #inFlight = new Set<Promise<unknown>>();

  /** Creates the system; nothing is spawned before `init`. */
  constructor(options: ProcessSystemOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#pool = new ChildPool({
      spawn: (profile) => options.spawn(profile),
      limits: options.policy.children,
      warm: options.policy.pool,
      log: options.log,
      clock: this.#clock,
    });
  }

  /** Where main is in its lifecycle (see `MAIN_TRANSITIONS`). */
  get mainState(): MainKind {
    return this.#main.kind;
  }

  /**
   * Moves main to `to`: only a move in `MAIN_TRANSITIONS` out of `from`'s kind compiles, and the
   * move is checked against the current state once more.
   */
  #move<From extends MainState>(
    _from: From,
    to: Variant<MainState, Next<typeof MAIN_TRANSITIONS, From["kind"]>>,
  ): void {
    const next: MainState = to;
    transition("main", MAIN_TRANSITIONS, this.#main.kind, next.kind);
    this.#main = next;
  }

  /**
   * Runs `params` in `child` until it answers or `signal` aborts; on any failure the child is
   * killed with its tree. A cancellation is answered by its reason (71 or 73), not as the
   * child's death it caused.
   */
  #runIn(
    child: ChildHandle,
    params: RunParams,
    signal: AbortSignal,
    what: string,
  ): Promise<unknown> {
    const work = abortable(child.run(params), signal).catch(async (error) => {
      this.#killedHere.add(child);
      await child.kill();
      const reason = cancelReason(signal);
      throw reason ? cancelError(reason, what) : error;
    });
    return this.#track(work);
  }

  /** Keeps `work` in the in-flight set until it settles. */
  #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    const forget = () => this.#inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /**
   * Spawns the package host (replacing one from a failed init) and runs the package's init in
   * it; the host is then retired as soon as it holds nothing.
   * @param request the host's event id and why init runs
   * @returns when init answered
   */
  async init({ eventId, kind }: { eventId: string; kind: InitKind }): Promise<void> {
    this.#stopWatching();
    await this.#replaying;
    if (this.#packageHost && !this.#packageHost.hasExited) await this.#packageHost.kill();
    const child = this.#options.spawn("init");
    this.#packageHost = child;
    await this.#runIn(
      child,
      { fn: "init", eventId, args: { kind } },
      this.#teardown.signal,
      "init",
    );
    this.#initialized = true;
    this.#hostStarted(child, eventId, false);
    this.#pool.prewarm();
  }

  /** `child` answered init (or its replay): warn when it dies unasked, retire it when idle. */
  #hostStarted(child: ChildHandle, eventId: string, keep: boolean): void {
    child.exited.then((status) => {
      if (this.#killedHere.has(child)) return;
      if (this.#packageHost === child && !this.#teardown.signal.aborted) {
        this.#options.log.warn("the package host exited", {
          code: status.code,
          signal: status.signal ?? undefined,
        });
      }
    });
    this.#retireWhenIdle(child, eventId, keep);
  }

  /**
   * Retires the package host once it says it holds nothing but what it watches (the child's word
   * is advisory: a child that lies only loses its own reactivity, and one that never answers
   * stays, as before). What it watches is watched for it, unless `keep` (it was replayed too
   * often) or it cannot be: then the host is kept.
   */
  #retireWhenIdle(child: ChildHandle, eventId: string, keep: boolean): void {
    const notice = this.#clock.setTimeout(() => {
      if (this.#packageHost !== child || child.hasExited) return;
      this.#options.log.info(
        `the package host is kept: ${HOST_KEPT_NOTICE_MS / 1000} s after init it still holds ` +
          "something besides what it watches (a timer, a socket, work of its own); it is retired " +
          "once it holds nothing more",
        { child: child.name },
      );
    }, HOST_KEPT_NOTICE_MS);
    child.whenIdle().then((held) => {
      this.#clock.clearTimeout(notice);
      if (this.#packageHost !== child || this.#hostCalls > 0) return;
      if (this.#teardown.signal.aborted || child.hasExited) return;
      const log = this.#options.log;
      const retire = () => {
        if (held.droppedTimers.length > 0) {
          log.info(
            "timers init left did not fire soon after it and were not waited for: the retired " +
              "package host does not run them (start-sdk leaves such timers once their work is " +
              "done: runUntilSuccess's timeout, a command's SIGKILL escalation)",
            { child: child.name, delaysMs: held.droppedTimers.join(",") },
          );
        }
        this.#killedHere.add(child);
        child.kill();
      };
      if (held.callbacks === 0 && held.watches.length === 0 && held.polls.length === 0) {
        this.#packageHost = undefined;
        log.info(
          "the package host holds nothing after init (no callback, watch, effect, timer or " +
            "process): retired; uninit will run in a fresh child",
          { child: child.name },
        );
        retire();
        return;
      }
      const watched = {
        callbacks: held.callbacks,
        watches: held.watches.length,
        polls: held.polls.length,
      };
      if (keep) {
        log.info(
          `the package host is kept: init was replayed ${REPLAY_KEEP_COUNT} times within ` +
            `${REPLAY_WINDOW_MS / 1000} s; what it watches changes too often to replay each ` +
            `time (it is asked again in ${REPLAY_WINDOW_MS / 1000} s)`,
          { child: child.name, ...watched },
        );
        // A burst of changes (a user trying settings) does not keep the host for good.
        this.#keptLook = this.#clock.setTimeout(() => {
          this.#keptLook = undefined;
          if (this.#packageHost === child && !child.hasExited) {
            this.#retireWhenIdle(child, eventId, false);
          }
        }, REPLAY_WINDOW_MS);
        return;
      }
      const stop = this.#options.watchFor?.(child, held, () => this.#changed()) ??
        "the runtime cannot watch for it";
      if (typeof stop === "string") {
        log.info("the package host is kept for what it watches", {
          child: child.name,
          why: stop,
          ...watched,
        });
        return;
      }
      this.#packageHost = undefined;
      this.#watching = { stop, eventId };
      log.info(
        "the package host holds nothing after init but what it watches: retired; the runtime " +
          "watches for it and replays init (kind null) in a fresh child at the first change",
        { child: child.name, ...watched },
      );
      retire();
      // A callback reached it after it was asked: it may have been reacting to a change.
      if (held.touched) this.#changed();
    }, () => {});
  }

  /** Stops watching for a retired host (a new init, exit, the teardown). */
  #stopWatching(): void {
    if (this.#keptLook !== undefined) this.#clock.clearTimeout(this.#keptLook);
    this.#keptLook = undefined;
    this.#watching?.stop.release();
    this.#watching = undefined;
    if (this.#putOff !== undefined) this.#clock.clearTimeout(this.#putOff);
    this.#putOff = undefined;
  }

  /**
   * Something a retired host watched changed: replay init, unless a replay runs or was put off
   * (then the change is noted, and replayed after it when it failed). Replays that keep failing
   * (`REPLAY_KEEP_COUNT` within `REPLAY_WINDOW_MS`, the last one failed) are put off until the
   * window has room again: a value that changes all the time does not make a failing init run
   * all the time, and its change is replayed all the same.
   */
  #changed(): void {
    if (!this.#watching || this.#teardown.signal.aborted) return;
    if (this.#replaying || this.#putOff !== undefined) {
      this.#changedSince = true;
      return;
    }
    const now = this.#clock.now();
    this.#replays = this.#replays.filter((at) => now - at < REPLAY_WINDOW_MS);
    if (this.#replayFailed && this.#replays.length >= REPLAY_KEEP_COUNT) {
      const wait = this.#replays[0] + REPLAY_WINDOW_MS - now;
      this.#options.log.warn("init replays keep failing: the next one waits", { ms: wait });
      this.#putOff = this.#clock.setTimeout(() => {
        this.#putOff = undefined;
        this.#changed();
      }, wait);
      return;
    }
    this.#replays.push(now);
    this.#replay(this.#watching.eventId, this.#replays.length >= REPLAY_KEEP_COUNT);
  }

  /**
   * Replays init for the retired host: init runs again, with kind null and the event id of the
   * init it replays, in a fresh package host. What the retired host watched stays watched until
   * the replay succeeded; the replayed host is then retired again once idle (what it watches
   * watched anew), or kept (`keep`: replayed too often). A failed replay (its error logged) leaves
   * the old watches in place: the next change replays again. A change during a replay that
   * succeeds is the replayed host's to see (it watches before it reads); one during a replay that
   * failed is replayed after it.
   */
  #replay(eventId: string, keep: boolean): void {
    this.#changedSince = false;
    const log = this.#options.log;
    this.#replaying = (async () => {
      let child: ChildHandle;
      try {
        child = this.#options.spawn("init");
      } catch (error) {
        this.#replayFailed = true;
        log.error("init could not be replayed: no package host could start", {
          error: String(error),
        });
        return;
      }
      this.#packageHost = child;
      log.info("a value the retired package host watched changed: init replayed", {
        child: child.name,
      });
      try {
        await this.#runIn(
          child,
          { fn: "init", eventId, args: { kind: null, replay: true } },
          this.#teardown.signal,
          "init replay",
        );
      } catch (error) {
        this.#replayFailed = true;
        if (this.#packageHost === child) this.#packageHost = undefined;
        log.error(
          "the replay of init failed: what the retired host watched is still watched, and the " +
            "next change replays init again",
          { child: child.name, error: error instanceof Error ? error.message : String(error) },
        );
        return;
      }
      this.#replayFailed = false;
      this.#stopWatching();
      this.#hostStarted(child, eventId, keep);
    })().finally(() => {
      this.#replaying = undefined;
      if (this.#changedSince) this.#changed();
    });
  }

  /** The package host if it is alive. */
  #liveHost(): ChildHandle | undefined {
    const host = this.#packageHost;
    return host && !host.hasExited ? host : undefined;
  }

  /** Starts a fresh init child for uninit unless a host or a spare is alive already. */
  #prepareSpare(): void {
    if (!this.#initialized || this.#liveHost() || this.#teardown.signal.aborted) return;
    if (this.#spare && !this.#spare.child.hasExited) return;
    let child: ChildHandle;
    try {
      child = this.#options.spawn("init");
    } catch {
      return; // exit will try again and report why
    }
    const timer = this.#clock.setTimeout(() => {
      if (this.#spare?.child !== child) return;
      this.#spare = undefined;
      child.kill();
    }, this.#options.policy.children.idleMs);
    this.#spare = { child, timer };
    this.#options.log.info(
      "an init child is started for the exit that usually follows a stop (uninit then runs in " +
        `it; retired after ${this.#options.policy.children.idleMs / 1000} s idle if none comes)`,
      { child: child.name },
    );
  }

  /** The spare init child, if one is alive (then it is the caller's). */
  #takeSpare(): ChildHandle | undefined {
    const spare = this.#spare;
    this.#spare = undefined;
    if (!spare) return undefined;
    this.#clock.clearTimeout(spare.timer);
    if (!spare.child.hasExited) return spare.child;
    return undefined;
  }

  /**
   * Stops main, closes the pool (waiting calls are cancelled 73) and, when `uninit` is set, runs
   * uninit with the target in the package host, or in a fresh init child when the host was
   * retired (or died): the one started at stop when there is one, else one started now, while
   * main stops.
   * @param request the host's event id, the uninit target and whether init succeeded
   * @returns when uninit answered (or at once without it)
   */
  async exit(
    { eventId, target, uninit }: { eventId: string; target: string | null; uninit: boolean },
  ): Promise<void> {
    this.#stopWatching();
    if (uninit) this.#prepareSpare();
    await this.#stopMain();
    await this.#replaying;
    // Waiting calls are refused now; idle children die meanwhile (the teardown waits for them).
    this.#closing = this.#pool.close(new Cancelled({ kind: "exit" }));
    if (!uninit) return await this.#closing;
    let host = this.#liveHost();
    if (!host) {
      try {
        host = this.#takeSpare() ?? this.#options.spawn("init");
      } catch (error) {
        throw packageFailure(
          "The package host could not start",
          `uninit cannot run: no package host process could be started (${error})`,
        );
      }
      this.#packageHost = host;
    }
    // exit itself is not cancelled by the teardown it starts: uninit runs to its end.
    this.#hostCalls++;
    try {
      await this.#runIn(
        host,
        { fn: "uninit", eventId, args: { target } },
        new AbortController().signal,
        "uninit",
      );
    } finally {
      this.#hostCalls--;
    }
  }

  /**
   * Starts main unless it is starting or running (then joins that start). While main is being
   * stopped, it finishes stopping first; the new one starts after, unless another stop came
   * meanwhile (then this start is cancelled 73, like one in progress would be).
   * @returns when main's start answered
   */
  start(): Promise<void> {
    const main = this.#main;
    switch (main.kind) {
      case "none":
        return this.#startMain(main);
      case "starting":
        return main.started;
      case "running":
        return Promise.resolve();
      case "stopping": {
        const stops = this.#stops;
        return main.stopped.then(() => {
          if (this.#stops !== stops) throw cancelError({ kind: "stop" }, "main");
          return this.start();
        });
      }
      default:
        return unhandled(main, "main");
    }
  }

  /** Spawns main and runs its start (`none → starting`). */
  #startMain(from: Variant<MainState, "none">): Promise<void> {
    const child = this.#options.spawn("main");
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, this.#teardown.signal]);
    const started = abortable(child.run({ fn: "main", eventId: null, args: {} }), signal).then(
      () => this.#mainStarted(child),
      async (error) => {
        const reason = cancelReason(signal);
        // Cancelled by stop: stop's SIGTERM lets the daemons built so far terminate cleanly.
        if (reason?.kind !== "stop") await child.kill();
        this.#mainFailedToStart(child);
        throw reason ? cancelError(reason, "main") : error;
      },
    );
    this.#track(started);
    this.#move(from, { kind: "starting", child, started, stop });
    child.exited.then((status) => this.#mainExited(child, status));
    return started;
  }

  /** Main's start (of `child`) answered. */
  #mainStarted(child: ChildHandle): void {
    const main = this.#main;
    switch (main.kind) {
      case "starting":
        // Another main is starting: this one's start lost to a stop and a new start.
        if (main.child === child) this.#move(main, { kind: "running", child });
        return;
      case "none": // lost to the start's own failure, or a stop that is over
      case "running": // a later main runs
      case "stopping": // lost to a stop: it stops main
        return;
      default:
        return unhandled(main, "main");
    }
  }

  /** Main's start (of `child`) failed or was cancelled; `child` is dead or being stopped. */
  #mainFailedToStart(child: ChildHandle): void {
    const main = this.#main;
    switch (main.kind) {
      case "starting":
        if (main.child === child) this.#move(main, { kind: "none" });
        return;
      case "none": // already gone
      case "running": // a later main runs
      case "stopping": // cancelled by stop, which moves main on once it is gone
        return;
      default:
        return unhandled(main, "main");
    }
  }

  /** Main's process `child` exited with `status`. */
  #mainExited(child: ChildHandle, status: Deno.CommandStatus): void {
    const main = this.#main;
    switch (main.kind) {
      case "running":
        if (main.child !== child) return; // an older main, gone after a later one started
        this.#move(main, { kind: "none" });
        // Nobody asked main to stop: say so with its last words, and tell the host, which then
        // sees the service stopped and (while it is wanted running) sends start again.
        this.#options.log.warn("main exited on its own", {
          code: status.code,
          signal: status.signal ?? undefined,
          last_output: child.recentOutput.join("\n") || undefined,
        });
        this.#options.reportMainStopped();
        return;
      case "starting": // its start fails ("exited before it answered"), which moves main on
      case "stopping": // stop was waiting for this
      case "none": // its start failed already, or its stop is over
        return;
      default:
        return unhandled(main, "main");
    }
  }

  /**
   * Asks main to stop (its daemons get `term()`), SIGKILL of its whole tree after the stop
   * timeout; resolves when all of it is gone. A start in progress is cancelled (73). Unless the
   * package host is alive, a fresh init child starts loading at once for the `exit` that usually
   * follows (while main stops), retired when idle if none comes.
   * @param predictExit false for the runtime's own teardown (a stop followed by `shutdown`): no
   *   exit follows, so no child is started for it
   * @returns when every process of main is gone
   */
  stop(predictExit = true): Promise<void> {
    const main = this.#main;
    switch (main.kind) {
      case "none":
        return this.#stopMain(); // no exit is predicted without a main
      case "starting":
      case "running":
      case "stopping":
        if (predictExit) this.#prepareSpare();
        return this.#stopMain();
      default:
        return unhandled(main, "main");
    }
  }

  /** Stops main (for `stop` and `exit`); a start queued behind a stop is void after this. */
  #stopMain(): Promise<void> {
    this.#stops++;
    const main = this.#main;
    switch (main.kind) {
      case "none":
        return Promise.resolve();
      case "starting":
        main.stop.abort(new Cancelled({ kind: "stop" }));
        return this.#beginStopping(main);
      case "running":
        return this.#beginStopping(main);
      case "stopping":
        return main.stopped;
      default:
        return unhandled(main, "main");
    }
  }

  /** Terminates `from`'s main, killed after the grace period (`starting`/`running → stopping`). */
  #beginStopping(from: Variant<MainState, "starting" | "running">): Promise<void> {
    const { child } = from;
    const stopped = (async () => {
      child.terminate();
      const grace = deadline(this.#clock, this.#options.stopTimeoutMs, () => "grace over");
      try {
        await abortable(child.exited, grace.signal);
      } catch {
        this.#options.log.warn("main did not stop in time; killing all of its processes", {
          child: child.name,
        });
      } finally {
        grace.clear();
      }
      await child.kill();
      this.#mainStopped(child);
    })();
    this.#move(from, { kind: "stopping", child, stopped });
    return stopped;
  }

  /** Every process of `child`, the main being stopped, is gone (`stopping → none`). */
  #mainStopped(child: ChildHandle): void {
    const main = this.#main;
    switch (main.kind) {
      case "stopping":
        if (main.child === child) return this.#move(main, { kind: "none" });
        throw new IllegalTransition("main", "stopping (of another main)", "none");
      case "none":
      case "starting":
      case "running":
        // Only this stop leaves `stopping`, and every start waits for it: a bug if reached.
        throw new IllegalTransition("main", main.kind, "none");
      default:
        return unhandled(main, "main");
    }
  }

  /**
   * Runs one procedure in a child of its profile (reused while healthy; see ChildPool), killing
   * the child and everything it spawned when the timeout expires. The timeout counts from the
   * call's arrival: time spent waiting for a free child counts against it.
   */
  async execute(request: ExecuteRequest): Promise<unknown> {
    const profile = profileOf(request.procedure, request.sandbox);
    const call = callOf(request.procedure, request.input, request.eventId);
    const what = `${request.sandbox ? "sandbox" : "execute"} ${request.eventId}`;
    let running = false;
    const timeout = request.timeoutMs === null ? undefined : deadline(
      this.#clock,
      request.timeoutMs,
      () => new Cancelled({ kind: "timeout", ms: request.timeoutMs!, queued: !running }),
    );
    const signal = timeout
      ? AbortSignal.any([timeout.signal, this.#teardown.signal])
      : this.#teardown.signal;
    // The host asks for a form, then runs the action with what the user filled in.
    if (profile === "getInput") this.#pool.prepare("run");
    let child: ChildHandle;
    try {
      child = await this.#pool.acquire(profile, signal);
    } catch (error) {
      timeout?.clear();
      const reason = cancelReason(signal) ??
        (error instanceof Cancelled ? error.reason : undefined);
      throw reason ? cancelError(reason, what) : error;
    }
    running = true;
    let healthy = false;
    try {
      const value = await this.#runIn(child, call, signal, what);
      healthy = true;
      return value;
    } finally {
      timeout?.clear();
      // A child that failed in any way (an error answer included) never serves again.
      this.#pool.release(profile, child, healthy);
    }
  }

  /** Delivers the host's callback to the child that registered it. */
  callback(id: number, args: unknown[]): void {
    this.#options.deliverCallback(id, args);
  }

  /** Cancels everything in flight with `reason`, kills every child. */
  async shutdown(reason: CancelReason = { kind: "shutdown" }): Promise<void> {
    const cancelled = new Cancelled(reason);
    if (!this.#teardown.signal.aborted) this.#teardown.abort(cancelled);
    this.#stopWatching();
    const spare = this.#takeSpare();
    await this.#closing;
    await this.#pool.close(cancelled);
    await spare?.kill();
    await this.#options.killAll();
    // Every call still running was aborted above: let each be answered (73) before the socket goes.
    await Promise.allSettled([...this.#inFlight]);
  }
}
