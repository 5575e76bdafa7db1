/**
 * Bounds how much of a child's output reaches the log: a token bucket of lines. A child (or a
 * daemon it runs) that floods stdout/stderr cannot flood the container's log or starve the
 * runtime; what was dropped is said in a warning line at most once a second, and when the output
 * ends.
 */

import type { Logger } from "../log.ts";

/** Lines per second a child may log on average. */
export const OUTPUT_LINES_PER_SECOND = 500;
/** Lines a child may log in one burst. */
export const OUTPUT_BURST_LINES = 5_000;

/** Decides, line by line, what of one child's output is logged. */
export class OutputLimiter {
  readonly #log: Logger;
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last = performance.now();
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** A limiter that reports drops to `log`. */
  constructor(log: Logger, rate = OUTPUT_LINES_PER_SECOND, burst = OUTPUT_BURST_LINES) {
    this.#log = log;
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Whether the next line may be logged; a line refused is counted as dropped. */
  admit(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
    if (this.#tokens < 1) {
      this.#dropped++;
      // Say what was dropped within a second, even if the child then stays quiet.
      this.#timer ??= setTimeout(() => this.#report(), 1000);
      return false;
    }
    this.#tokens--;
    return true;
  }

  /** Reports lines still counted as dropped (the output ended). */
  close(): void {
    this.#report();
  }

  #report(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#dropped === 0) return;
    this.#log.warn(
      `${this.#dropped} output lines dropped: over ${this.#rate} lines/s (burst ${this.#burst})`,
    );
    this.#dropped = 0;
  }
}
