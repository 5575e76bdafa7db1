/**
 * A token bucket: `perSecond` tokens on average, at most `burst` at once. The rate limits of the
 * runtime (effects per child and per container, output lines and bytes per child) are each one.
 * @module
 */

/** A rate as a bucket's refill and size. */
export interface Rate {
  /** Tokens added per second (fractions accrue continuously). */
  perSecond: number;
  /** The most tokens the bucket holds; it starts full. */
  burst: number;
}

/** One bucket; the clock (ms) comes from outside so tests can drive it. */
export class TokenBucket {
  /** The rate the bucket was created with. */
  readonly rate: Readonly<Rate>;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  /**
   * Creates a full bucket (`burst` tokens).
   * @param rate the refill per second and the size
   * @param now the clock in ms (default `performance.now`)
   * @example
   * ```ts
   * const bucket = new TokenBucket({ perSecond: 10, burst: 100 });
   * if (!bucket.take()) console.log("over the rate");
   * ```
   */
  constructor(rate: Rate, now: () => number = () => performance.now()) {
    this.rate = rate;
    this.#now = now;
    this.#tokens = rate.burst;
    this.#at = now();
  }

  /**
   * Takes `count` tokens if they are there.
   * @param count how many (default 1)
   * @returns whether they were taken
   */
  take(count = 1): boolean {
    const now = this.#now();
    const { perSecond, burst } = this.rate;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#at) / 1000) * perSecond);
    this.#at = now;
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }
}
