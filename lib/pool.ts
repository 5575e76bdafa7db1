/**
 * Warm children per profile: spawned ahead of demand with the package
 * loaded, each handed out for exactly one call. The pool fills only in quiet
 * moments (never while a call is running, so spawning does not steal CPU
 * from a call), a few children at a time, backs off when children fail to
 * start, and retires children left idle.
 */

import type { Logger } from "./log.ts";
import type { ProfileName } from "./permissions.ts";
import type { Child } from "./supervisor.ts";

/** Options of `WarmPool`. */
export interface PoolOptions {
  /** Warm children to keep per profile. */
  sizes: Partial<Record<ProfileName, number>>;
  /** Spawns a child for a profile. */
  spawn(profile: ProfileName): Child;
  /** True while calls are running: filling waits for a quiet moment. */
  busy(): boolean;
  log: Logger;
  /** Pool spawns in progress at once (default 2). */
  maxConcurrentSpawns?: number;
  /** A warm child unused for this long is retired and not replaced until demand returns (default 10 min). */
  idleMs?: number;
}

interface Slot {
  child: Child;
  idleTimer: ReturnType<typeof setTimeout>;
}

const MAX_BACKOFF_MS = 60_000;

/** The warm pool. */
export class WarmPool {
  readonly #options: PoolOptions;
  readonly #slots = new Map<ProfileName, Slot[]>();
  readonly #failures = new Map<ProfileName, number>();
  readonly #notBefore = new Map<ProfileName, number>();
  readonly #cold = new Set<ProfileName>();
  #spawning = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #running = false;

  /** Creates an empty, stopped pool. */
  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Starts filling every profile with a non-zero size. */
  start(): void {
    this.#running = true;
    this.fill();
  }

  /** Warm children currently held for `profile` (ready or still loading). */
  size(profile: ProfileName): number {
    return this.#slots.get(profile)?.length ?? 0;
  }

  /** Hands out a warm child for one call (ready ones first), or undefined when none is held. */
  take(profile: ProfileName): Child | undefined {
    this.#cold.delete(profile);
    const slots = (this.#slots.get(profile) ?? []).filter((slot) => !slot.child.hasExited);
    const index = slots.findIndex((slot) => slot.child.isReady);
    const slot = index === -1 ? slots.shift() : slots.splice(index, 1)[0];
    this.#slots.set(profile, slots);
    if (!slot) return undefined;
    clearTimeout(slot.idleTimer);
    return slot.child;
  }

  /** Spawns what the pool lacks, unless calls are running or enough spawns are in progress. */
  fill(): void {
    if (!this.#running || this.#options.busy()) return;
    const limit = this.#options.maxConcurrentSpawns ?? 2;
    while (this.#spawning < limit) {
      const profile = this.#nextProfile();
      if (!profile) return;
      this.#spawn(profile);
    }
  }

  /** The profile most short of warm children that may spawn now. */
  #nextProfile(): ProfileName | undefined {
    const now = Date.now();
    let best: ProfileName | undefined;
    let bestShort = 0;
    let retryAt = Infinity;
    for (const [profile, size] of Object.entries(this.#options.sizes) as [ProfileName, number][]) {
      const short = size - this.size(profile);
      if (short <= 0 || this.#cold.has(profile)) continue;
      const notBefore = this.#notBefore.get(profile) ?? 0;
      if (notBefore > now) {
        retryAt = Math.min(retryAt, notBefore);
        continue;
      }
      if (short > bestShort) [best, bestShort] = [profile, short];
    }
    if (!best && retryAt !== Infinity && !this.#retryTimer) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.fill();
      }, retryAt - now);
    }
    return best;
  }

  #spawn(profile: ProfileName): void {
    this.#spawning++;
    const child = this.#options.spawn(profile);
    const slot: Slot = {
      child,
      idleTimer: setTimeout(() => this.#retire(profile, slot), this.#options.idleMs ?? 600_000),
    };
    Deno.unrefTimer(slot.idleTimer as unknown as number);
    const slots = this.#slots.get(profile) ?? [];
    slots.push(slot);
    this.#slots.set(profile, slots);
    child.ready.then(
      () => this.#failures.set(profile, 0),
      () => {
        const failures = (this.#failures.get(profile) ?? 0) + 1;
        this.#failures.set(profile, failures);
        const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (failures - 1));
        this.#notBefore.set(profile, Date.now() + backoff);
        this.#options.log.warn("a warm child failed to start", {
          child: child.name,
          retry_ms: backoff,
        });
        this.#remove(profile, slot);
        child.kill();
      },
    ).finally(() => {
      this.#spawning--;
      this.fill();
    });
    // A warm child that dies before use leaves the pool.
    child.exited.then(() => this.#remove(profile, slot));
  }

  #remove(profile: ProfileName, slot: Slot): boolean {
    const slots = this.#slots.get(profile);
    const index = slots?.indexOf(slot) ?? -1;
    if (index === -1) return false;
    slots!.splice(index, 1);
    clearTimeout(slot.idleTimer);
    return true;
  }

  #retire(profile: ProfileName, slot: Slot): void {
    if (!this.#remove(profile, slot)) return;
    this.#cold.add(profile);
    this.#options.log.debug("idle warm child retired", { child: slot.child.name });
    slot.child.kill();
  }

  /** Stops filling and kills every warm child. */
  async drain(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const all = [...this.#slots.values()].flat();
    this.#slots.clear();
    for (const slot of all) clearTimeout(slot.idleTimer);
    await Promise.all(all.map((slot) => slot.child.kill()));
  }
}
