/**
 * `abortable(work, signal)`: the one way this code bounds a wait. Replaces hand-written
 * `Promise.race` + `setTimeout` blocks: deadlines are `AbortSignal`s (a timer's, stop's,
 * shutdown's, combined with `AbortSignal.any`), and their reason says why.
 */

/** Settles like `work`, or rejects with `signal.reason` as soon as `signal` aborts (at once if it already has). */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** A signal aborted with `reason()` after `ms` (the timer does not keep the process alive); `clear` cancels it. */
export function timeoutSignal(
  ms: number,
  reason: () => unknown,
): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(reason()), ms);
  Deno.unrefTimer(timer);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
