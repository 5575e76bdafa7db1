/**
 * Warm children per profile: spawned ahead of demand with the package
 * loaded, each handed out for exactly one call. Refills in the background
 * under a spawn-rate limit, backs off when children fail to start, and
 * retires idle children.
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
  log: Logger;
  /** Spawns allowed per profile per second (default 4). */
  spawnsPerSecond?: number;
  /** A warm child unused for this long is retired and not replaced until demand returns (default 10 min). */
  idleMs?: number;
}

interface Slot {
  child: Child;
  idleTimer: ReturnType<typeof setTimeout>;
}

/** The warm pool. */
export class WarmPool {
  readonly #options: PoolOptions;
  readonly #slots = new Map<ProfileName, Slot[]>();
  readonly #recentSpawns = new Map<ProfileName, number[]>();
  readonly #failures = new Map<ProfileName, number>();
  readonly #cold = new Set<ProfileName>();
  readonly #refillTimers = new Map<ProfileName, ReturnType<typeof setTimeout>>();
  #running = false;

  /** Creates an empty, stopped pool. */
  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Starts filling every profile with a non-zero size. */
  start(): void {
    this.#running = true;
    for (const profile of Object.keys(this.#options.sizes) as ProfileName[]) this.#refill(profile);
  }

  /** Warm children currently held for `profile` (ready or still loading). */
  size(profile: ProfileName): number {
    return this.#slots.get(profile)?.length ?? 0;
  }

  /** Hands out a warm child for one call, or undefined when none is held; triggers a refill. */
  take(profile: ProfileName): Child | undefined {
    this.#cold.delete(profile);
    const slots = this.#slots.get(profile) ?? [];
    let taken: Child | undefined;
    while (slots.length > 0 && !taken) {
      const slot = slots.shift()!;
      clearTimeout(slot.idleTimer);
      if (!slot.child.hasExited) taken = slot.child;
    }
    if (this.#running) queueMicrotask(() => this.#refill(profile));
    return taken;
  }

  #refill(profile: ProfileName): void {
    if (!this.#running || this.#cold.has(profile) || this.#refillTimers.has(profile)) return;
    const want = this.#options.sizes[profile] ?? 0;
    const slots = this.#slots.get(profile) ?? [];
    this.#slots.set(profile, slots);
    while (slots.length < want) {
      const wait = this.#delayBeforeSpawn(profile);
      if (wait > 0) {
        this.#refillTimers.set(
          profile,
          setTimeout(() => {
            this.#refillTimers.delete(profile);
            this.#refill(profile);
          }, wait),
        );
        return;
      }
      slots.push(this.#spawn(profile));
    }
  }

  /** Milliseconds to wait before the next spawn: rate limit plus backoff after failures. */
  #delayBeforeSpawn(profile: ProfileName): number {
    const now = Date.now();
    const perSecond = this.#options.spawnsPerSecond ?? 4;
    const recent = (this.#recentSpawns.get(profile) ?? []).filter((t) => now - t < 1000);
    this.#recentSpawns.set(profile, recent);
    const rate = recent.length >= perSecond ? 1000 - (now - recent[0]) : 0;
    const failures = this.#failures.get(profile) ?? 0;
    const backoff = failures === 0 ? 0 : Math.min(60_000, 250 * 2 ** (failures - 1));
    return Math.max(rate, backoff);
  }

  #spawn(profile: ProfileName): Slot {
    this.#recentSpawns.get(profile)!.push(Date.now());
    const child = this.#options.spawn(profile);
    const slot: Slot = {
      child,
      idleTimer: setTimeout(() => this.#retire(profile, slot), this.#options.idleMs ?? 600_000),
    };
    Deno.unrefTimer(slot.idleTimer as unknown as number);
    child.ready.then(
      () => this.#failures.set(profile, 0),
      () => this.#failures.set(profile, (this.#failures.get(profile) ?? 0) + 1),
    );
    // A warm child that dies before use leaves the pool and is replaced.
    child.exited.then(() => {
      const slots = this.#slots.get(profile);
      const index = slots?.indexOf(slot) ?? -1;
      if (index === -1) return;
      slots!.splice(index, 1);
      clearTimeout(slot.idleTimer);
      this.#refill(profile);
    });
    return slot;
  }

  #retire(profile: ProfileName, slot: Slot): void {
    const slots = this.#slots.get(profile) ?? [];
    const index = slots.indexOf(slot);
    if (index === -1) return;
    slots.splice(index, 1);
    this.#cold.add(profile);
    this.#options.log.debug("idle warm child retired", { child: slot.child.name });
    slot.child.kill();
  }

  /** Stops refilling and kills every warm child. */
  async drain(): Promise<void> {
    this.#running = false;
    for (const timer of this.#refillTimers.values()) clearTimeout(timer);
    this.#refillTimers.clear();
    const all = [...this.#slots.values()].flat();
    this.#slots.clear();
    for (const slot of all) clearTimeout(slot.idleTimer);
    await Promise.all(all.map((slot) => slot.child.kill()));
  }
}
