/**
 * The timers package code sets (`setTimeout`, `setInterval`, global and `node:timers`), each
 * known while it is live: what lets the package host tell a timer that only polls (a start-sdk
 * `Watchable` whose `produce()` stats a database every few seconds, as open-webui's does) from
 * work of its own (worker/idle.ts, worker/tick_observation.ts).
 *
 * Every timer stays a Node `Timeout` as Deno makes it; the wrappers only note it when it is set,
 * when it fires (before its callback runs) and when it is cleared, and let the idle look unref the
 * timers that keep the event loop alive and ref them again. A timer its creator unref'd keeps
 * nothing alive and is left alone (Node would not wait for it either). A timer cleared by
 * `timeout.close()` is not seen cleared: it is then waited for in vain and the host is kept, as
 * before. `timers/promises` is not wrapped: a package waiting on it keeps its host.
 * Runs inside the worker process.
 * @module
 */

import { type AnyFunction, keepingProperties } from "./wrap.ts";

/** A live timer, as the idle look sees it. */
export interface TimerInfo {
  /** The timer's id (a `Timeout`'s primitive value). */
  key: number;
  /** Its delay (ms). */
  delayMs: number;
  /** An interval (fires until cleared), not a one-shot timeout. */
  repeating: boolean;
}

/** What the idle look is told of the timers. */
export interface TimerHooks {
  /** A timer was set. */
  created(timer: TimerInfo): void;
  /** A timer that keeps the event loop alive fires: its callback runs right after. */
  fired(timer: TimerInfo): void;
}

/** A Node `Timeout`, as far as it is used here. */
interface Timeout {
  ref(): unknown;
  unref(): unknown;
  hasRef(): boolean;
  [Symbol.toPrimitive](): number;
}

interface Live {
  info: TimerInfo;
  timeout: Timeout;
  /** Unref'd by the idle look (so ref'd again by it), not by its creator. */
  unrefdHere: boolean;
}

function isTimeout(value: unknown): value is Timeout {
  return typeof value === "object" && value !== null &&
    typeof (value as Timeout).ref === "function" &&
    typeof (value as Timeout).unref === "function" &&
    typeof (value as Timeout).hasRef === "function";
}

/** The id a `clearTimeout` argument names (a `Timeout` or its number), or null. */
function keyOf(value: unknown): number | null {
  if (typeof value === "number") return value;
  if (isTimeout(value)) return Number(value);
  return null;
}

/** The live timers of this process. */
export class PackageTimers {
  readonly #live = new Map<number, Live>();
  readonly #hooks: TimerHooks;
  #unrefd = false;

  /**
   * Creates the registry; nothing is wrapped until `install`.
   * @param hooks told of every timer set and fired
   */
  constructor(hooks: TimerHooks) {
    this.#hooks = hooks;
  }

  /**
   * Wraps `setTimeout`, `setInterval`, `clearTimeout` and `clearInterval` on each target (the
   * global object, `node:timers`); call before the package loads.
   * @example
   * ```ts
   * const timers = new PackageTimers({ created() {}, fired() {} });
   * timers.install(globalThis, createRequire(import.meta.url)("node:timers"));
   * ```
   * @param targets the objects whose timer functions package code calls
   */
  install(...targets: object[]): void {
    for (const target of targets) {
      const functions = target as Record<string, AnyFunction>;
      for (const [name, repeating] of [["setTimeout", false], ["setInterval", true]] as const) {
        const set = functions[name];
        if (typeof set !== "function") continue;
        functions[name] = this.#wrapSet(set, repeating);
      }
      for (const name of ["clearTimeout", "clearInterval"]) {
        const clear = functions[name];
        if (typeof clear !== "function") continue;
        const live = this.#live;
        functions[name] = keepingProperties(clear, function (this: unknown, ...args: unknown[]) {
          const key = keyOf(args[0]);
          if (key !== null) live.delete(key);
          return clear.apply(this, args);
        });
      }
    }
  }

  #wrapSet(set: AnyFunction, repeating: boolean): AnyFunction {
    const fire = (info: TimerInfo) => this.#fire(info);
    const track = (timeout: Timeout, delay: unknown): TimerInfo => {
      const info = { key: Number(timeout), delayMs: Math.max(1, Number(delay) || 1), repeating };
      const live: Live = { info, timeout, unrefdHere: false };
      this.#live.set(info.key, live);
      // Set while the idle look has the timers unref'd (a poll re-arming itself): so is this one.
      if (this.#unrefd) this.#unrefOne(live);
      this.#hooks.created(info);
      return info;
    };
    return keepingProperties(set, function (this: unknown, ...args: unknown[]) {
      const [callback, delay] = args;
      if (typeof callback !== "function") return set.apply(this, args);
      const tracked: { info?: TimerInfo } = {};
      args[0] = function (this: unknown, ...callArgs: unknown[]) {
        if (tracked.info !== undefined) fire(tracked.info);
        return (callback as AnyFunction).apply(this, callArgs);
      };
      const timeout = set.apply(this, args);
      if (isTimeout(timeout)) tracked.info = track(timeout, delay);
      return timeout;
    });
  }

  #fire(info: TimerInfo): void {
    const live = this.#live.get(info.key);
    if (live === undefined) return; // cleared meanwhile
    if (!info.repeating) this.#live.delete(info.key);
    // One that held nothing (the runtime's own, unref'd) is no tick of the package's.
    if (live.unrefdHere || live.timeout.hasRef()) this.#hooks.fired(info);
  }

  #unrefOne(live: Live): void {
    if (live.unrefdHere || !live.timeout.hasRef()) return;
    live.timeout.unref();
    live.unrefdHere = true;
  }

  /** The live timers that keep the event loop alive (their creator did not unref them). */
  holding(): TimerInfo[] {
    return [...this.#live.values()]
      .filter((live) => live.unrefdHere || live.timeout.hasRef())
      .map((live) => live.info);
  }

  /** Lets the event loop end while only these timers are pending (the idle look). */
  unref(): void {
    this.#unrefd = true;
    for (const live of this.#live.values()) this.#unrefOne(live);
  }

  /** Makes every timer the idle look unref'd keep the event loop alive again. */
  ref(): void {
    this.#unrefd = false;
    for (const live of this.#live.values()) {
      if (!live.unrefdHere) continue;
      live.unrefdHere = false;
      live.timeout.ref();
    }
  }
}
