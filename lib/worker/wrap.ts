/**
 * Replacing a function package code calls while keeping what is attached to it: Node hangs
 * `util.promisify.custom` on `setTimeout` and `fs.exists` (not enumerable), and
 * `util.promisify(setTimeout)` relies on it.
 * Runs inside the worker process.
 * @module
 */

/** Any function, as a wrapper sees it. */
export type AnyFunction = (...args: unknown[]) => unknown;

/**
 * Gives `wrapper` every own property of `original` but its length, name and prototype.
 * @example
 * ```ts
 * const original = globalThis.setTimeout;
 * globalThis.setTimeout = keepingProperties(original, function (...args) {
 *   return original.apply(this, args);
 * });
 * ```
 * @param original the function replaced
 * @param wrapper what replaces it
 * @returns `wrapper`
 */
export function keepingProperties<T extends AnyFunction>(original: AnyFunction, wrapper: T): T {
  for (const key of Reflect.ownKeys(original)) {
    if (key === "length" || key === "name" || key === "prototype") continue;
    Object.defineProperty(wrapper, key, Object.getOwnPropertyDescriptor(original, key)!);
  }
  return wrapper;
}
