/**
 * Whether this child holds anything that could run package code again other than what it
 * watches: the package host's answer to the runtime's `idle` request (protocol/channel.ts). What
 * it watches — live callbacks and `fs/promises.watch` watches (file_watches.ts) — is not a holding
 * but the answer: the runtime can watch the same for a retired host and replay init when one
 * fires.
 *
 * Two kinds of holding, checked together:
 * - what only arrives over the channel, counted by the entry: the child's own channel requests
 *   still unanswered (effects, spawns, `/proc/net` reads), brokered processes still running,
 *   calls being served;
 * - everything else package code can wait on — timers, intervals, sockets, processes Deno runs
 *   itself, pending reads, a watch of Node's callback API (`fs.watch`) — is the event loop's own
 *   pending work. Deno has no public API listing pending timers or ops, so the watch lets the
 *   event loop answer: while asked and holding nothing countable, it unrefs the channel
 *   connection (the one op always pending) and the file watches, and Deno dispatches
 *   `beforeunload` once nothing else is pending. The watch cancels that unload
 *   (`preventDefault`), refs them again and, if still nothing is counted, answers.
 *
 * Timers package code set are unref'd with them (worker/package_timers.ts). When the loop drains
 * with timers still set, the look waits for their ticks and answers only if each of them merely
 * looked at files, or was left by init's call and did not fire within a few seconds
 * (worker/tick_observation.ts): the answer then lists those paths as polls, and counts the
 * leftovers.
 *
 * What it cannot see: a timer package code unref'd itself (`Deno.unrefTimer`, Node's
 * `timer.unref()`), which would not keep a Node process alive either, and a promise that waits
 * on nothing (it can never settle). Everything the child decides here is advisory: a child that
 * says it is idle when it is not only loses its own reactivity.
 * @module
 */

import type { TimerInfo } from "./package_timers.ts";
import type { ObservedTimers, TickObservation } from "./tick_observation.ts";

/** The channel connection, whose pending read keeps the event loop alive. */
export interface Refable {
  /** Makes the connection keep the event loop alive (the default). */
  ref(): void;
  /** Lets the event loop end while only the connection is pending. */
  unref(): void;
}

/** What the entry counts of the child's holdings, read at every look. */
export interface CountedHoldings {
  /** The child's channel requests not answered yet. */
  requests: number;
  /** Brokered processes started and not ended. */
  processes: number;
  /** Calls (`run`, `warm`) being served. */
  calls: number;
}

/**
 * Runs a ref or unref that must not throw into the caller: `check()` runs inside package code's
 * effect calls, which a failure here would fail. One that throws only costs the idle answer.
 */
function guarded(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    console.error("idle watch:", error);
  }
}

/** Lets the event loop tell when the child holds nothing. */
export class IdleWatch {
  readonly #pending: readonly Refable[];
  readonly #counted: () => CountedHoldings;
  readonly #ticks: TickObservation | null;
  readonly #waiters: Array<(observed: ObservedTimers) => void> = [];
  #unrefd = false;

  /**
   * Creates a watch; it does nothing until `whenIdle` is called.
   * @param pending what is always pending but holds nothing: the channel connection, the file
   *   watches, the package's timers (held only as far as `ticks` says)
   * @param counted reads the counted holdings
   * @param events where `beforeunload` is dispatched (default: globalThis)
   * @param ticks what tells timers that only poll from work (none: any timer holds the child)
   */
  constructor(
    pending: readonly Refable[],
    counted: () => CountedHoldings,
    events: EventTarget = globalThis,
    ticks: TickObservation | null = null,
  ) {
    this.#pending = pending;
    this.#counted = counted;
    this.#ticks = ticks;
    events.addEventListener("beforeunload", (event) => this.#drained(event));
  }

  /**
   * Resolves once the child holds nothing but what it watches: nothing counted and an empty event
   * loop, or timers whose ticks only look at files.
   * @returns a promise settled at that moment with what the timers poll and the leftovers not
   *   waited for (never, while the child holds something)
   */
  whenIdle(): Promise<ObservedTimers> {
    const idle = new Promise<ObservedTimers>((resolve) => this.#waiters.push(resolve));
    this.#ticks?.lookBegan(() => this.check());
    this.check();
    return idle;
  }

  /** Why the last timer's tick that did work was not a poll; null while none did. */
  get heldFor(): string | null {
    return this.#ticks?.heldFor ?? null;
  }

  /** A holding may have begun or ended: look again (cheap, call freely). */
  check(): void {
    if (this.#waiters.length === 0) return;
    if (this.#holdsCounted()) {
      this.#ticks?.interrupted("an effect, a process or a call");
      this.#ref();
    } else if (!this.#ticks?.waiting) this.#unref();
    // (While ticks are awaited, the timers stay ref'd: they must fire.)
  }

  /** A callback of the package's reached the child: package code runs that no timer started. */
  callbackArrived(): void {
    if (this.#waiters.length > 0) this.#ticks?.interrupted("a callback");
  }

  /** A package timer was set (package_timers.ts's hook). */
  timerCreated(timer: TimerInfo): void {
    this.#ticks?.created(timer);
  }

  /** A package timer fires (package_timers.ts's hook): a tick to observe may begin. */
  timerFired(timer: TimerInfo): void {
    if (this.#waiters.length === 0 || !this.#ticks?.fired(timer)) return;
    if (!this.#holdsCounted()) this.#unref();
  }

  #holdsCounted(): boolean {
    const held = this.#counted();
    return held.requests > 0 || held.processes > 0 || held.calls > 0;
  }

  #unref(): void {
    if (this.#unrefd) return;
    this.#unrefd = true;
    for (const refable of this.#pending) guarded(() => refable.unref());
  }

  #ref(): void {
    if (!this.#unrefd) return;
    this.#unrefd = false;
    for (const refable of this.#pending) guarded(() => refable.ref());
  }

  /** The event loop has nothing left but what the look unref'd. */
  #drained(event: Event): void {
    if (this.#waiters.length === 0) return;
    event.preventDefault();
    this.#ref();
    if (this.#holdsCounted()) return;
    const verdict = this.#ticks?.drained() ?? "idle";
    if (verdict !== "idle") return; // ticks to see (ref'd, they fire)
    const observed = this.#ticks?.take() ?? { polls: [], droppedTimers: [] };
    for (const resolve of this.#waiters.splice(0)) resolve(observed);
  }
}
