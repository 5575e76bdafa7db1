/**
 * Procedure children, one set per permission profile: a child serves one call at a time and is
 * reused for later calls of the same profile while it is healthy; more children start only for
 * concurrent calls, up to a per-profile cap, beyond which calls wait in arrival order. A child is
 * retired (killed with everything it spawned) when it has been idle for `idleMs`, after
 * `maxCalls` calls or `maxAgeMs`, and at once after any failure. Nothing stays alive idle unless
 * the policy asks for warm children or a call is predicted (`prepare`).
 *
 * A ready child reaches a caller one way only: `#offer`. A child that finished loading (started
 * for a waiting call, kept warm by the policy or started for a predicted call) and a child given
 * back healthy after a call are both offered: to the first waiting call, else to the idle list.
 * Children are not bound to the call they were started for, so a call that gives up while its
 * child loads leaves that child to the next call (or to idle retirement), and a call that arrives
 * while warm children load gets the first one ready.
 */

import type { Logger } from "../log.ts";
import type { ProfileName } from "../policy/permissions.ts";
import type { ReuseLimits } from "../policy/policy.ts";
import type { ChildHandle as Child } from "./child_handle.ts";
import { type Clock, realClock, type TimerId } from "./clock.ts";

/** Options of `ChildPool`. */
export interface ChildPoolOptions {
  /** Spawns a child for a profile. */
  spawn(profile: ProfileName): Child;
  /** How children are reused and retired (the policy's `children`). */
  limits: ReuseLimits;
  /** Idle children kept ready per profile (never retired for idleness; at most the cap). */
  warm: Partial<Record<ProfileName, number>>;
  /** Where retirements and failures are logged. */
  log: Logger;
  /** What idle retirement and the age limit read (default: the real clock). */
  clock?: Clock;
}

/** A call waiting for a child. */
interface Waiter {
  /** Hands the waiter a ready child. */
  resolve(child: Child): void;
  reject(reason: unknown): void;
}

interface ProfileState {
  /** Ready children with no call, most recently used last. */
  idle: Child[];
  /** Children alive or starting (idle, busy or loading). */
  live: number;
  /** Children spawned and not ready yet: each is offered when it is. */
  loading: number;
  /** Calls waiting for a child, in arrival order. */
  waiters: Waiter[];
}

/** The procedure children of every profile. */
export class ChildPool {
  readonly #options: ChildPoolOptions;
  readonly #clock: Clock;
  readonly #profiles = new Map<ProfileName, ProfileState>();
  readonly #idleTimers = new Map<Child, TimerId>();
  readonly #calls = new Map<Child, number>();
  /** Children that became ready at least once (only their exit tops the warm count up). */
  readonly #wasReady = new WeakSet<Child>();
  #closed = false;

  /** Creates an empty pool. */
  constructor(options: ChildPoolOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
  }

  #state(profile: ProfileName): ProfileState {
    let state = this.#profiles.get(profile);
    if (!state) {
      this.#profiles.set(profile, state = { idle: [], live: 0, loading: 0, waiters: [] });
    }
    return state;
  }

  /**
   * Children of `profile` alive now.
   * @param profile the profile
   * @returns how many are idle, busy or loading
   */
  live(profile: ProfileName): number {
    return this.#profiles.get(profile)?.live ?? 0;
  }

  /**
   * Idle children of `profile` now.
   * @param profile the profile
   * @returns how many are ready with no call
   */
  idle(profile: ProfileName): number {
    return this.#profiles.get(profile)?.idle.length ?? 0;
  }

  /** Starts the warm children the policy asks for (those missing). */
  prewarm(): void {
    for (const profile of Object.keys(this.#options.warm) as ProfileName[]) this.#topUp(profile);
  }

  /**
   * A call of `profile` is coming (the host's next call is predictable): keep the idle child
   * that call would get (its idle time starts again now), or else start one unless one is
   * loading for nobody already or the profile is at its cap. The child is offered like any
   * other once ready, and retired when idle as usual.
   * @param profile the profile of the predicted call
   */
  prepare(profile: ProfileName): void {
    if (this.#closed) return;
    const state = this.#state(profile);
    const next = state.idle.at(-1);
    if (next) {
      if (this.#idleTimers.has(next)) {
        this.#stopIdleTimer(next);
        this.#startIdleTimer(state, next);
      }
      return;
    }
    if (state.loading > state.waiters.length) return;
    if (state.live >= this.#options.limits.maxPerProfile) return;
    this.#options.log.debug("child started ahead of a predicted call", { profile });
    this.#start(profile);
  }

  /**
   * A ready child for one call of `profile`: an idle one, else the first one offered after the
   * calls that came earlier were served (a child is started for it while the profile is under its
   * cap). Rejects with `signal`'s reason when it aborts first, and with a child's load error when
   * a child of the profile fails to load while this is the oldest waiting call.
   * @param profile the call's profile
   * @param signal the call's deadline, stop or teardown
   * @returns the child, now the caller's until `release`
   */
  acquire(profile: ProfileName, signal?: AbortSignal): Promise<Child> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) return Promise.reject(new Error("the child pool is closed"));
    const state = this.#state(profile);
    const idle = state.idle.pop();
    if (idle) {
      this.#stopIdleTimer(idle);
      return Promise.resolve(idle);
    }
    const acquired = new Promise<Child>((resolve, reject) => {
      const onAbort = () => {
        const index = state.waiters.indexOf(waiter);
        if (index !== -1) state.waiters.splice(index, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        resolve: (child) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(child);
        },
        reject: (reason) => {
          signal?.removeEventListener("abort", onAbort);
          reject(reason);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      state.waiters.push(waiter);
    });
    this.#fill(profile);
    return acquired;
  }

  /**
   * Gives a child back after a call. A healthy child within its limits is offered (the next
   * waiting call, else idle); any other is killed (with its whole tree) and, if calls wait,
   * replaced.
   * @param profile the child's profile
   * @param child the child
   * @param healthy whether its call succeeded (a child that failed never serves again)
   */
  release(profile: ProfileName, child: Child, healthy: boolean): void {
    const calls = (this.#calls.get(child) ?? 0) + 1;
    this.#calls.set(child, calls);
    const { limits } = this.#options;
    const reusable = healthy && limits.reuse && !this.#closed && !child.hasExited &&
      calls < limits.maxCalls && this.#clock.now() - child.spawnedAt < limits.maxAgeMs;
    if (!reusable) {
      this.#options.log.debug("child retired", { child: child.name, calls, healthy });
      child.kill();
      return;
    }
    this.#offer(profile, child);
  }

  /** The one hand-off: a ready child goes to the first waiting call, else to the idle list. */
  #offer(profile: ProfileName, child: Child): void {
    if (this.#closed || child.hasExited) {
      child.kill();
      return;
    }
    const waiter = this.#state(profile).waiters.shift();
    if (waiter) waiter.resolve(child);
    else this.#park(profile, child);
  }

  /** Starts children for the waiting calls no loading child will serve, up to the cap. */
  #fill(profile: ProfileName): void {
    const state = this.#state(profile);
    while (
      !this.#closed && state.waiters.length > state.loading &&
      state.live < this.#options.limits.maxPerProfile
    ) {
      if (!this.#start(profile)) return;
    }
  }

  /** Starts the policy's warm children of `profile` that are missing. */
  #topUp(profile: ProfileName): void {
    const state = this.#state(profile);
    const warm = Math.min(this.#options.warm[profile] ?? 0, this.#options.limits.maxPerProfile);
    while (!this.#closed && state.live < warm) {
      if (!this.#start(profile)) return;
    }
  }

  /**
   * Spawns a child of `profile`, counted live until it exits and loading until it is ready;
   * offered when ready. False when the spawn itself failed (the oldest waiting call gets why).
   */
  #start(profile: ProfileName): boolean {
    const state = this.#state(profile);
    let child: Child;
    try {
      child = this.#options.spawn(profile);
    } catch (error) {
      this.#failOldest(profile, error);
      return false;
    }
    state.live++;
    state.loading++;
    child.exited.then(() => {
      state.live--;
      this.#calls.delete(child);
      this.#stopIdleTimer(child);
      const index = state.idle.indexOf(child);
      if (index !== -1) state.idle.splice(index, 1);
      if (this.#wasReady.has(child)) this.#topUp(profile);
      this.#fill(profile);
    });
    child.ready.then(() => {
      state.loading--;
      this.#wasReady.add(child);
      this.#offer(profile, child);
    }, (error) => {
      state.loading--;
      child.kill();
      this.#failOldest(profile, error);
      this.#fill(profile);
    });
    return true;
  }

  /** A child of `profile` could not start: the oldest waiting call is answered with why. */
  #failOldest(profile: ProfileName, error: unknown): void {
    const waiter = this.#state(profile).waiters.shift();
    if (waiter) waiter.reject(error);
    else this.#options.log.warn("a child failed to start", { profile, reason: String(error) });
  }

  /** Puts a ready child in the idle list, retired after `idleMs` unless it is a warm one. */
  #park(profile: ProfileName, child: Child): void {
    const state = this.#state(profile);
    state.idle.push(child);
    if (state.idle.length <= (this.#options.warm[profile] ?? 0)) return;
    this.#startIdleTimer(state, child);
  }

  /** Retires `child` (idle in `state`) after `idleMs` unless it is taken first. */
  #startIdleTimer(state: ProfileState, child: Child): void {
    const timer = this.#clock.setTimeout(() => {
      this.#idleTimers.delete(child);
      const index = state.idle.indexOf(child);
      if (index === -1) return;
      state.idle.splice(index, 1);
      child.kill().then(() => this.#options.log.debug("idle child retired", { child: child.name }));
    }, this.#options.limits.idleMs);
    this.#idleTimers.set(child, timer);
  }

  #stopIdleTimer(child: Child): void {
    const timer = this.#idleTimers.get(child);
    if (timer === undefined) return;
    this.#clock.clearTimeout(timer);
    this.#idleTimers.delete(child);
  }

  /**
   * Kills every idle child and refuses every waiting call; busy children are the caller's, and
   * children still loading are killed once ready.
   * @param reason what the waiting calls are rejected with
   */
  async close(reason: unknown): Promise<void> {
    this.#closed = true;
    const idle: Child[] = [];
    for (const state of this.#profiles.values()) {
      idle.push(...state.idle.splice(0));
      for (const waiter of state.waiters.splice(0)) waiter.reject(reason);
    }
    for (const timer of this.#idleTimers.values()) this.#clock.clearTimeout(timer);
    this.#idleTimers.clear();
    await Promise.all(idle.map((child) => child.kill()));
  }
}
