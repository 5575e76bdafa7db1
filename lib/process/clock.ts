/**
 * The time the process layer waits on: idle retirement, a child's age, a call's deadline and
 * main's stop grace all read this clock, so that unit tests drive time with a fake one instead
 * of waiting for real milliseconds.
 */

/** What `Clock.setTimeout` returns; only ever handed back to `Clock.clearTimeout`. */
export type TimerId = number;

/** Wall-clock time and one-shot timers. */
export interface Clock {
  /** Milliseconds since the epoch (comparable with a child's `spawnedAt`). */
  now(): number;
  /** Runs `fn` once after `ms` ms; the timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a timer; an unknown or fired one is ignored. */
  clearTimeout(id: TimerId): void;
}

/** The real clock: `Date.now` and unref'd timers. */
export const realClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerId => {
    // Deno's timers are numbers (Node's typings, in the same program, say otherwise).
    const id = setTimeout(fn, ms) as unknown as number;
    Deno.unrefTimer(id);
    return id;
  },
  clearTimeout: (id: TimerId) => clearTimeout(id),
});

/**
 * A signal aborted with `reason()` after `ms` on `clock`.
 * @param clock the clock to wait on
 * @param ms how long until it aborts
 * @param reason computes the abort reason when the time is up
 * @returns the signal, and `clear` to cancel it
 */
export function deadline(
  clock: Clock,
  ms: number,
  reason: () => unknown,
): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const id = clock.setTimeout(() => controller.abort(reason()), ms);
  return { signal: controller.signal, clear: () => clock.clearTimeout(id) };
}
