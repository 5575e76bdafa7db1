/**
 * Gives a process's free JavaScript heap back to the system when it goes quiet.
 *
 * V8 keeps the pages its collector emptied: a child that loaded a 2.5 MB start-sdk bundle holds
 * ~5 MB of them after loading (anonymous memory 44.9 MB → 40.0 MB after one memory-reducing
 * collection, 30–50 ms), and a long-lived child (main, the package host) keeps them for its whole
 * life. Deno exposes no API for a memory-reducing collection, so the process is started with
 * V8's collector exposed under a private name (`EXPOSE_COLLECTOR_FLAG`), which `takeCollector`
 * removes from the global object before any other code runs; `HeapTrimmer` then decides when to
 * call it: once the process has been quiet (no call in progress, nothing noted) for `quietMs`, and
 * on a periodic look after a quiet interval, when the heap grew by `growthBytes` since the last
 * trim.
 * @module
 */

import type { Clock, TimerId } from "../process/clock.ts";

/** The global V8's collector is exposed under; taken away at startup by `takeCollector`. */
export const COLLECTOR_GLOBAL = "__startosCollectGarbage";

/** The V8 flag (inside `--v8-flags=`) that exposes the collector under `COLLECTOR_GLOBAL`. */
export const EXPOSE_COLLECTOR_FLAG = `--expose-gc-as=${COLLECTOR_GLOBAL}`;

/** A full, memory-reducing collection (compacts the heap and returns empty pages). */
export type Collector = () => void;

/**
 * Takes the collector V8 exposed and leaves `undefined` in its place, read-only for good (V8 makes
 * the property non-configurable, so it cannot be deleted), so code loaded afterwards (package
 * code, in a child) cannot reach it.
 * @example
 * ```ts
 * const collect = takeCollector(); // first thing the process does
 * collect?.();
 * ```
 * @param global where V8 put it (default: globalThis)
 * @returns the collector, or null when the process was not started with the flag
 */
export function takeCollector(global: object = globalThis): Collector | null {
  const slots = global as Record<string, unknown>;
  const exposed = slots[COLLECTOR_GLOBAL];
  if (Object.hasOwn(slots, COLLECTOR_GLOBAL)) {
    Object.defineProperty(slots, COLLECTOR_GLOBAL, { value: undefined, writable: false });
  }
  if (typeof exposed !== "function") return null;
  return () => exposed({ type: "major", execution: "sync", flavor: "last-resort" });
}

/** When `HeapTrimmer` collects, and what it reads. */
export interface HeapTrimOptions {
  /** The clock its timers run on (they never keep the process alive). */
  clock: Clock;
  /** The memory-reducing collection. */
  collect: Collector;
  /** The heap's committed size now, in bytes (`Deno.memoryUsage().heapTotal`). */
  heapBytes: () => number;
  /** Quiet time (no call, no activity) before a trim (ms); the trim comes within twice that. */
  quietMs: number;
  /** How often the heap is looked at while nothing ends a call (ms). */
  checkMs: number;
  /** Growth since the last trim that makes a trim worth its pause (bytes). */
  growthBytes: number;
}

/** The defaults: 1 s of quiet, a look every 10 s, 2 MiB of growth. */
export const DEFAULT_HEAP_TRIM = Object.freeze({
  quietMs: 1_000,
  checkMs: 10_000,
  growthBytes: 2 * 1024 * 1024,
});

/**
 * Decides when to trim the heap: never during a call or a busy spell; once the process was quiet
 * (no call, no activity) for `quietMs` to twice that, and on a periodic look that follows a whole
 * quiet `checkMs`; each time only if the heap grew by `growthBytes` since the last trim (the first
 * trim, after startup, always runs). Noting activity costs a counter and, at most, one timer: a
 * flood of requests arms nothing more.
 * @example
 * ```ts
 * const collect = takeCollector();
 * if (collect) {
 *   const trimmer = new HeapTrimmer({
 *     ...DEFAULT_HEAP_TRIM,
 *     clock: realClock,
 *     collect,
 *     heapBytes: () => Deno.memoryUsage().heapTotal,
 *   });
 *   trimmer.start();
 *   trimmer.begin(); // a call starts
 *   trimmer.end(); // and ends: a trim follows 1–2 s later unless something else happens
 *   trimmer.touch(); // activity that is not a call (a request answered at once, say)
 * }
 * ```
 */
export class HeapTrimmer {
  readonly #options: HeapTrimOptions;
  #calls = 0;
  /** Counts what happened (calls begun and ended, activity noted). */
  #activity = 0;
  /** `#activity` when the quiet timer was armed, and at the last periodic look. */
  #quietSeen = 0;
  #checkSeen = 0;
  /** The heap size right after the last trim; null before the first. */
  #trimmedAt: number | null = null;
  #quiet: TimerId | null = null;
  #check: TimerId | null = null;
  #running = false;
  /** Trims done so far (for tests and logs). */
  trims = 0;

  /**
   * Creates a trimmer; nothing runs before `start`.
   * @param options its clock, collector and thresholds
   */
  constructor(options: HeapTrimOptions) {
    this.#options = options;
  }

  /** Arms the first quiet trim and the periodic look (again after `stop`; once while running). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#armQuiet();
    this.#armCheck();
  }

  /** Cancels every timer; nothing is trimmed until `start` again. */
  stop(): void {
    this.#running = false;
    for (const id of [this.#quiet, this.#check]) {
      if (id !== null) this.#options.clock.clearTimeout(id);
    }
    this.#quiet = this.#check = null;
  }

  /** A call started: no trim until every call has ended. */
  begin(): void {
    this.#calls++;
    this.touch();
  }

  /** A call ended: once none is left and nothing else happens, a trim follows. */
  end(): void {
    if (this.#calls > 0) this.#calls--;
    this.touch();
  }

  /** Something happened: trims wait for a spell without anything (a collection in a busy
   * process would pause it, and a heap that is in use has little to give back). */
  touch(): void {
    this.#activity++;
    if (this.#quiet === null) this.#armQuiet();
  }

  #armQuiet(): void {
    if (!this.#running) return;
    this.#quietSeen = this.#activity;
    this.#quiet = this.#options.clock.setTimeout(() => {
      this.#quiet = null;
      // A call in progress arms the next quiet timer when it ends.
      if (this.#calls > 0) return;
      if (this.#activity !== this.#quietSeen) this.#armQuiet();
      else this.#trimIfGrown();
    }, this.#options.quietMs);
  }

  #armCheck(): void {
    if (!this.#running) return;
    this.#checkSeen = this.#activity;
    this.#check = this.#options.clock.setTimeout(() => {
      this.#check = null;
      // Only after a whole quiet interval: never in the middle of a flood of requests.
      if (this.#activity === this.#checkSeen) this.#trimIfGrown();
      this.#armCheck();
    }, this.#options.checkMs);
  }

  #trimIfGrown(): void {
    if (!this.#running || this.#calls > 0) return;
    const before = this.#options.heapBytes();
    if (this.#trimmedAt !== null && before - this.#trimmedAt < this.#options.growthBytes) return;
    this.#options.collect();
    this.trims++;
    this.#trimmedAt = this.#options.heapBytes();
  }
}
