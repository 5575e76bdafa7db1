/**
 * Bounds how much of a child's output reaches the log: a token bucket of lines and one of bytes.
 * A child (or a daemon it runs) that floods stdout/stderr cannot flood the container's log or
 * starve the runtime; what was dropped is said in a warning line at most once a second, and when
 * the output ends.
 */

import type { Logger } from "../log.ts";
import { TokenBucket } from "../async/token_bucket.ts";

/** Lines per second a child may log on average. */
export const OUTPUT_LINES_PER_SECOND = 500;
/** Lines a child may log in one burst. */
export const OUTPUT_BURST_LINES = 5_000;
/** Bytes of output a child may log per second on average, and in one burst. */
export const OUTPUT_BYTES = { perSecond: 256 * 1024, burst: 4 * 1024 * 1024 } as const;

/** Decides, line by line, what of one child's output is logged. */
export class OutputLimiter {
  readonly #log: Logger;
  readonly #lines: TokenBucket;
  readonly #bytes: TokenBucket;
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * A limiter that reports drops to `log`.
   * @param log where the warnings about dropped lines go
   * @param rate lines per second on average
   * @param burst lines in one burst
   * @param bytes the byte budget, per second on average and in one burst (a line counts its
   *   length plus one)
   */
  constructor(
    log: Logger,
    rate = OUTPUT_LINES_PER_SECOND,
    burst = OUTPUT_BURST_LINES,
    bytes: { perSecond: number; burst: number } = OUTPUT_BYTES,
  ) {
    this.#log = log;
    this.#lines = new TokenBucket({ perSecond: rate, burst });
    this.#bytes = new TokenBucket(bytes);
  }

  /**
   * Whether the next line may be logged; a line refused is counted as dropped.
   * @param length the line's length (counted against the byte budget)
   * @returns whether to log it
   */
  admit(length = 0): boolean {
    if (!this.#lines.take() || !this.#bytes.take(length + 1)) {
      this.#dropped++;
      // Say what was dropped within a second, even if the child then stays quiet.
      this.#timer ??= setTimeout(() => this.#report(), 1000);
      return false;
    }
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
    const lines = this.#lines.rate;
    const bytes = this.#bytes.rate;
    this.#log.warn(
      `${this.#dropped} output lines dropped: over ${lines.perSecond} lines/s (burst ` +
        `${lines.burst}) or ${bytes.perSecond} bytes/s (burst ${bytes.burst})`,
    );
    this.#dropped = 0;
  }
}
