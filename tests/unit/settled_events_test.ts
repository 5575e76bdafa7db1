/**
 * `settledEvents` (lib/worker/compat.ts): watch events are handed on once the file was quiet for
 * the quiet time — all of them, in order — so that a watcher never reads a write half done.
 * Driven by a fake event source and fake timers.
 */

import assert from "node:assert/strict";
import { type QuietTimer, settledEvents } from "../../lib/worker/compat.ts";

/** An event source the test pushes into, and timers it fires by hand. */
function fakes() {
  const queued: IteratorResult<string>[] = [];
  let wake: ((result: IteratorResult<string>) => void) | null = null;
  let returned = false;
  const source: AsyncIterable<string> = {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        queued.length > 0
          ? Promise.resolve(queued.shift()!)
          : new Promise((resolve) => wake = resolve),
      return: () => {
        returned = true;
        return Promise.resolve({ done: true, value: undefined });
      },
    }),
  };
  const push = (result: IteratorResult<string>) => {
    if (wake) {
      const resolve = wake;
      wake = null;
      resolve(result);
    } else queued.push(result);
  };
  const timers = new Map<number, () => void>();
  let nextId = 1;
  const timer: QuietTimer = {
    set: (fn) => {
      timers.set(nextId, fn);
      return nextId++;
    },
    clear: (id) => void timers.delete(id),
  };
  /** Fires the quiet timer now pending (the newest; the burst's cap is the oldest). */
  const fire = (which: "quiet" | "cap") => {
    assert.equal(timers.size, 2, "a quiet timer and the burst's cap pending");
    const [id, fn] = which === "quiet" ? [...timers].at(-1)! : [...timers][0];
    timers.delete(id);
    fn();
  };
  const quiet = () => fire("quiet");
  const cap = () => fire("cap");
  return { source, push, timer, quiet, cap, returned: () => returned, pending: () => timers.size };
}

/** Lets every settled promise's reactions run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Reads every settled event of `f` into `out` (a 50 ms quiet time, a 1 s cap); ends with it. */
function readAll(f: ReturnType<typeof fakes>, out: string[]): Promise<void> {
  return (async () => {
    for await (const event of settledEvents(f.source, 50, f.timer, 1000)) out.push(event);
  })();
}

Deno.test("settledEvents hands a burst on only once it is quiet, every event in order", async () => {
  const f = fakes();
  const out: string[] = [];
  const reading = readAll(f, out);
  f.push({ done: false, value: "truncate" });
  await settle();
  f.push({ done: false, value: "write" });
  await settle();
  assert.deepEqual(out, [], "nothing while the file still changes");
  f.quiet();
  await settle();
  assert.deepEqual(out, ["truncate", "write"]);
  // A later change is a burst of its own.
  f.push({ done: false, value: "again" });
  await settle();
  assert.deepEqual(out, ["truncate", "write"]);
  f.quiet();
  await settle();
  assert.deepEqual(out, ["truncate", "write", "again"]);
  f.push({ done: true, value: undefined });
  await reading;
  assert.equal(f.pending(), 0, "no timer left");
});

Deno.test("settledEvents hands a burst on at its cap when the file never goes quiet", async () => {
  const f = fakes();
  const out: string[] = [];
  const reading = readAll(f, out);
  for (const event of ["w1", "w2", "w3"]) {
    f.push({ done: false, value: event });
    await settle();
  }
  assert.deepEqual(out, []);
  f.cap();
  await settle();
  assert.deepEqual(out, ["w1", "w2", "w3"]);
  f.push({ done: true, value: undefined });
  await reading;
});

Deno.test("settledEvents hands on what it holds when the source ends in a burst", async () => {
  const f = fakes();
  const out: string[] = [];
  const reading = readAll(f, out);
  f.push({ done: false, value: "a" });
  await settle();
  f.push({ done: true, value: undefined });
  await reading;
  assert.deepEqual(out, ["a"]);
  assert.equal(f.pending(), 0);
});

Deno.test("settledEvents closes the source when the reader stops (start-sdk aborts at the first event)", async () => {
  const f = fakes();
  let first: string | undefined;
  const reading = (async () => {
    for await (const event of settledEvents(f.source, 50, f.timer)) {
      first = event;
      break;
    }
  })();
  f.push({ done: false, value: "modify" });
  await settle();
  f.quiet();
  await reading;
  assert.equal(first, "modify");
  assert.ok(f.returned(), "the watch was closed");
});
