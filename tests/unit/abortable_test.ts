/** `abortable` and `timeoutSignal`: how every wait of the runtime is bounded. */

import assert from "node:assert/strict";
import { abortable, timeoutSignal } from "../../lib/async/abortable.ts";
import { deferred, flush, watch, within } from "./fakes.ts";

const BOUND_MS = 2_000;

Deno.test("abortable settles like the work when the signal does not abort", async () => {
  const controller = new AbortController();
  assert.equal(await abortable(Promise.resolve(7), controller.signal), 7);
  const failure = new Error("work failed");
  await assert.rejects(abortable(Promise.reject(failure), controller.signal), (e) => e === failure);
});

Deno.test("abortable without a signal returns the work itself", () => {
  const work = Promise.resolve(1);
  assert.equal(abortable(work, undefined), work);
});

Deno.test("abortable rejects with the signal's reason as soon as it aborts", async () => {
  const work = deferred<number>();
  const controller = new AbortController();
  const bounded = watch(abortable(work.promise, controller.signal));
  await flush();
  assert.equal(bounded.settled, false);
  const reason = new Error("deadline");
  controller.abort(reason);
  await assert.rejects(bounded.promise, (error) => error === reason);
  assert.equal(work.settled, false, "the work itself is left alone");
});

Deno.test("abortable rejects at once when the signal has already aborted", async () => {
  const reason = { why: "too late" };
  const work = deferred<number>();
  await assert.rejects(abortable(work.promise, AbortSignal.abort(reason)), (e) => e === reason);
});

Deno.test("abortable leaves no unhandled rejection when the work fails after the abort", async () => {
  for (const already of [true, false]) {
    const work = deferred<number>();
    const controller = new AbortController();
    if (already) controller.abort("early");
    const bounded = abortable(work.promise, controller.signal);
    controller.abort("late");
    await assert.rejects(bounded);
    // Unhandled, this rejection would fail the test run.
    work.reject(new Error("the work failed afterwards"));
    await flush();
  }
});

Deno.test("abortable ignores an abort after the work settled", async () => {
  const controller = new AbortController();
  const bounded = abortable(Promise.resolve("done"), controller.signal);
  assert.equal(await bounded, "done");
  controller.abort(new Error("too late to matter"));
  assert.equal(await bounded, "done");
});

Deno.test("timeoutSignal aborts with the reason computed when the time is up", async () => {
  let calls = 0;
  const { signal } = timeoutSignal(5, () => `reason ${++calls}`);
  assert.equal(signal.aborted, false);
  assert.equal(calls, 0, "the reason is not computed up front");
  await within(
    new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true })),
    BOUND_MS,
    "the timeout",
  );
  assert.equal(signal.reason, "reason 1");
});

Deno.test("timeoutSignal.clear cancels the abort", async () => {
  const cleared = timeoutSignal(1, () => "cleared");
  cleared.clear();
  // A second timer with a longer delay marks when the first one would have fired.
  const marker = timeoutSignal(10, () => "marker");
  await within(
    new Promise((resolve) => marker.signal.addEventListener("abort", resolve, { once: true })),
    BOUND_MS,
    "the marker timeout",
  );
  assert.equal(cleared.signal.aborted, false);
});
