/**
 * Child-local registry of effect callback functions (see PROTOCOL.md "Effects").
 * Runs inside the worker process: imports nothing.
 * @module
 */

/** A callback function a package passed to an effect. */
export type CallbackFn = (...args: unknown[]) => unknown;

/** Child-local callback functions by id; each fires at most once. */
export class CallbackRegistry {
  #next = 1;
  readonly #fns = new Map<number, CallbackFn>();
  readonly #onError: (error: unknown) => void;
  readonly #onChange: () => void;

  /**
   * Creates an empty registry.
   * @param onError receives whatever a fired callback throws or rejects with (default:
   *   console.error)
   * @param onChange told after every registration, firing and forgetting (the package host's
   *   idle watch looks again whether it still holds a callback)
   */
  constructor(
    onError: (error: unknown) => void = (error) => console.error(error),
    onChange: () => void = () => {},
  ) {
    this.#onError = onError;
    this.#onChange = onChange;
  }

  /**
   * Stores `fn`.
   * @param fn the package's callback function
   * @returns its id (1, 2, 3, ... unique within this registry)
   */
  register(fn: CallbackFn): number {
    const id = this.#next++;
    this.#fns.set(id, fn);
    this.#onChange();
    return id;
  }

  /**
   * Runs and forgets the callback. Errors thrown/rejected by it are reported via onError, never
   * thrown.
   * @param id the callback's id
   * @param args what the host fired it with
   * @returns false if the id is unknown
   */
  fire(id: number, args: unknown[]): boolean {
    const fn = this.#fns.get(id);
    if (fn === undefined) return false;
    this.#fns.delete(id);
    try {
      const result = fn(...args);
      if (isThenable(result)) result.then(undefined, (error) => this.#report(error));
    } catch (error) {
      this.#report(error);
    }
    // After the callback ran: what it started (an effect, a re-registration) is counted by now.
    this.#onChange();
    return true;
  }

  /**
   * Forgets these ids without running them; unknown ids are ignored.
   * @param ids the callbacks' ids
   */
  forget(ids: number[]): void {
    for (const id of ids) this.#fns.delete(id);
    this.#onChange();
  }

  /**
   * Whether `id` is registered and has not fired or been forgotten.
   * @param id the callback's id
   * @returns true while it can still fire
   */
  has(id: number): boolean {
    return this.#fns.has(id);
  }

  /** Number of outstanding callbacks. */
  get size(): number {
    return this.#fns.size;
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // A failing reporter must not break the caller.
    }
  }
}

/** Whether `value` has a callable `then` (a promise-like). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}
