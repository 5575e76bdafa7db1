/**
 * Procedure children, one set per permission profile: a child serves one call at a time and is
 * reused for later calls of the same profile while it is healthy; more children start only for
 * concurrent calls, up to a per-profile cap, beyond which calls wait in arrival order. A child is
 * retired (killed with everything it spawned) when it has been idle for `idleMs`, after
 * `maxCalls` calls or `maxAgeMs`, and at once after any failure. Nothing stays alive idle unless
 * the policy asks for warm children.
 */

import type { Logger } from "../log.ts";
import type { ProfileName } from "../policy/permissions.ts";
import type { ReuseLimits } from "../policy/policy.ts";
import type { ChildHandle as Child } from "./child_handle.ts";

/** Options of `ChildPool`. */
export interface ChildPoolOptions {
  /** Spawns a child for a profile. */
  spawn(profile: ProfileName): Child;
  limits: ReuseLimits;
  /** Idle children kept ready per profile (never retired for idleness). */
  warm: Partial<Record<ProfileName, number>>;
  log: Logger;
}

/** A child being spawned (undefined when the spawn itself failed) and its readiness. */
interface Starting {
  child: Child | undefined;
  ready: Promise<Child>;
}

interface Waiter {
  /** Hands the waiter a ready child. */
  resolve(child: Child): void;
  /** Hands the waiter a child that is still loading (spawned for it). */
  starting(started: Starting): void;
  reject(reason: unknown): void;
}

interface ProfileState {
  /** Ready children with no call, most recently used last. */
  idle: Child[];
  /** Children alive or starting (idle, busy or loading). */
  live: number;
  /** Calls waiting for a child, in arrival order. */
  waiters: Waiter[];
}

/** The procedure children of every profile. */
export class ChildPool {
  readonly #options: ChildPoolOptions;
  readonly #profiles = new Map<ProfileName, ProfileState>();
  readonly #idleTimers = new Map<Child, ReturnType<typeof setTimeout>>();
  readonly #calls = new Map<Child, number>();
  #closed = false;

  /** Creates an empty pool. */
  constructor(options: ChildPoolOptions) {
    this.#options = options;
  }

  #state(profile: ProfileName): ProfileState {
    let state = this.#profiles.get(profile);
    if (!state) this.#profiles.set(profile, state = { idle: [], live: 0, waiters: [] });
    return state;
  }

  /** Children of `profile` alive now (idle, busy or starting). */
  live(profile: ProfileName): number {
    return this.#profiles.get(profile)?.live ?? 0;
  }

  /** Idle children of `profile` now. */
  idle(profile: ProfileName): number {
    return this.#profiles.get(profile)?.idle.length ?? 0;
  }

  /** Starts the warm children the policy asks for. */
  prewarm(): void {
    for (const [profile, count] of Object.entries(this.#options.warm) as [ProfileName, number][]) {
      const state = this.#state(profile);
      for (let i = state.live; i < count; i++) {
        this.#start(profile).ready.then((child) => this.#park(profile, child), () => {});
      }
    }
  }

  /**
   * A ready child for one call of `profile`: an idle one, a new one while the profile is under
   * its cap, or the next one released, in arrival order. Rejects with `signal`'s reason when it
   * aborts first, and with the spawn's error when a new child fails to start.
   */
  acquire(profile: ProfileName, signal?: AbortSignal): Promise<Child> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) return Promise.reject(new Error("the child pool is closed"));
    const state = this.#state(profile);
    const idle = state.idle.pop();
    if (idle) {
      clearTimeout(this.#idleTimers.get(idle));
      this.#idleTimers.delete(idle);
      return Promise.resolve(idle);
    }
    if (state.live < this.#options.limits.maxPerProfile) {
      return this.#forCaller(this.#start(profile), signal);
    }
    return new Promise<Child>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (child) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(child);
        },
        starting: (started) => {
          signal?.removeEventListener("abort", onAbort);
          this.#forCaller(started, signal).then(resolve, reject);
        },
        reject,
      };
      const onAbort = () => {
        const index = state.waiters.indexOf(waiter);
        if (index !== -1) state.waiters.splice(index, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      state.waiters.push(waiter);
    });
  }

  /**
   * Hands a child that is still loading to a caller: rejects as soon as `signal` aborts (a
   * timeout is not held up by a slow load), and then kills the child: it failed to be ready in
   * time for its call, and a child that failed never serves.
   */
  #forCaller(starting: Starting, signal: AbortSignal | undefined): Promise<Child> {
    if (!signal) return starting.ready;
    return new Promise<Child>((resolve, reject) => {
      const onAbort = () => {
        starting.child?.kill();
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      starting.ready.then((child) => {
        signal.removeEventListener("abort", onAbort);
        resolve(child);
      }, (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      });
    });
  }

  /**
   * Gives a child back after a call. A healthy child within its limits serves the next waiter or
   * waits idle; any other is killed (with its whole tree) and, if calls wait, replaced.
   */
  release(profile: ProfileName, child: Child, healthy: boolean): void {
    const calls = (this.#calls.get(child) ?? 0) + 1;
    this.#calls.set(child, calls);
    const { limits } = this.#options;
    const reusable = healthy && limits.reuse && !this.#closed && !child.hasExited &&
      calls < limits.maxCalls && Date.now() - child.spawnedAt < limits.maxAgeMs;
    if (!reusable) {
      this.#options.log.debug("child retired", { child: child.name, calls, healthy });
      child.kill();
      return;
    }
    const waiter = this.#state(profile).waiters.shift();
    if (waiter) waiter.resolve(child);
    else this.#park(profile, child);
  }

  /** Spawns a child of `profile`, counted live until it exits; resolves when it is ready. */
  #start(profile: ProfileName): Starting {
    const state = this.#state(profile);
    state.live++;
    let child: Child;
    try {
      child = this.#options.spawn(profile);
    } catch (error) {
      state.live--;
      return { child: undefined, ready: Promise.reject(error) };
    }
    child.exited.then(() => {
      state.live--;
      this.#calls.delete(child);
      clearTimeout(this.#idleTimers.get(child));
      this.#idleTimers.delete(child);
      const index = state.idle.indexOf(child);
      if (index !== -1) state.idle.splice(index, 1);
      this.#serveWaiters(profile);
    });
    const ready = child.ready.then(() => child, (error) => {
      child.kill();
      throw error;
    });
    return { child, ready };
  }

  /** A child left the profile: start one for the first waiter, if any. */
  #serveWaiters(profile: ProfileName): void {
    const state = this.#state(profile);
    if (this.#closed || state.waiters.length === 0) return;
    if (state.live >= this.#options.limits.maxPerProfile) return;
    const waiter = state.waiters.shift()!;
    waiter.starting(this.#start(profile));
  }

  /** Puts a ready child in the idle list, retired after `idleMs` unless it is a warm one. */
  #park(profile: ProfileName, child: Child): void {
    if (this.#closed || child.hasExited) {
      child.kill();
      return;
    }
    const state = this.#state(profile);
    state.idle.push(child);
    if (state.idle.length <= (this.#options.warm[profile] ?? 0)) return;
    const timer = setTimeout(() => {
      this.#idleTimers.delete(child);
      const index = state.idle.indexOf(child);
      if (index === -1) return;
      state.idle.splice(index, 1);
      child.kill().then(() => this.#options.log.debug("idle child retired", { child: child.name }));
    }, this.#options.limits.idleMs);
    this.#idleTimers.set(child, timer);
  }

  /** Kills every idle child and refuses every waiting call; busy children are the caller's. */
  async close(reason: unknown): Promise<void> {
    this.#closed = true;
    const idle: Child[] = [];
    for (const state of this.#profiles.values()) {
      idle.push(...state.idle.splice(0));
      for (const waiter of state.waiters.splice(0)) waiter.reject(reason);
    }
    for (const timer of this.#idleTimers.values()) clearTimeout(timer);
    this.#idleTimers.clear();
    await Promise.all(idle.map((child) => child.kill()));
  }
}
