/**
 * The permission denials of the call a child runs, including those package code catches.
 *
 * start-sdk swallows some failures (a refused spawn inside a retry loop, a file check that reads
 * a denial as "missing"); the runtime must not let such a call answer as if nothing happened. The
 * worker records every denial it raises or receives here, and a call that fails for another
 * reason after one is answered 34 naming the first denial.
 * @module
 */

let denials: Error[] = [];

/** Records a denial of the current call. */
export function recordDenial(error: Error): void {
  if (denials.length < 16) denials.push(error);
}

/** Starts a new call: forgets earlier denials. */
export function resetDenials(): void {
  denials = [];
}

/** The first denial of the current call, if any. */
export function firstDenial(): Error | undefined {
  return denials[0];
}
