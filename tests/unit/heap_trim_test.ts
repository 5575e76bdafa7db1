/**
 * `takeCollector` (taking V8's exposed collector off the global object) and `HeapTrimmer` (when
 * to call it) against a fake clock and a fake heap: no real collection, no real time.
 */

import assert from "node:assert/strict";
import { COLLECTOR_GLOBAL, HeapTrimmer, takeCollector } from "../../lib/memory/heap_trim.ts";
import { FakeClock } from "./fakes.ts";

const MiB = 1024 * 1024;
const QUIET = 1_000;
const CHECK = 10_000;
const GROWTH = 2 * MiB;

/** A trimmer on a fake clock; its collector frees `freed` bytes of the fake heap each time. */
function setup(freed = MiB) {
  const clock = new FakeClock();
  const heap = { bytes: 40 * MiB };
  const trimmer = new HeapTrimmer({
    clock,
    collect: () => heap.bytes -= freed,
    heapBytes: () => heap.bytes,
    quietMs: QUIET,
    checkMs: CHECK,
    growthBytes: GROWTH,
  });
  return { clock, heap, trimmer };
}

// ---------------------------------------------------------------------------------------------
// takeCollector
// ---------------------------------------------------------------------------------------------

Deno.test("takeCollector returns a collector that asks for a synchronous last-resort major GC", () => {
  const asked: unknown[][] = [];
  const holder: Record<string, unknown> = {
    [COLLECTOR_GLOBAL]: (...args: unknown[]) => asked.push(args),
  };
  const collect = takeCollector(holder);
  assert.ok(collect);
  assert.deepEqual(asked, [], "taking it collects nothing");
  collect();
  collect();
  assert.deepEqual(asked, [
    [{ type: "major", execution: "sync", flavor: "last-resort" }],
    [{ type: "major", execution: "sync", flavor: "last-resort" }],
  ]);
});

Deno.test("takeCollector leaves undefined in the global, and it cannot be written again", () => {
  const exposed = () => {};
  const holder: Record<string, unknown> = { [COLLECTOR_GLOBAL]: exposed };
  assert.ok(takeCollector(holder));
  assert.ok(Object.hasOwn(holder, COLLECTOR_GLOBAL));
  assert.equal(holder[COLLECTOR_GLOBAL], undefined);
  assert.throws(() => {
    holder[COLLECTOR_GLOBAL] = exposed;
  }, TypeError);
  assert.equal(holder[COLLECTOR_GLOBAL], undefined);
  assert.equal(takeCollector(holder), null, "code loaded afterwards finds nothing to take");
});

Deno.test("takeCollector on a V8-style (non-configurable) global leaves it undeletable and read-only", () => {
  // The descriptor V8 gives `--expose-gc-as=NAME`: writable, enumerable, not configurable.
  const holder: Record<string, unknown> = {};
  let calls = 0;
  Object.defineProperty(holder, COLLECTOR_GLOBAL, {
    value: () => calls++,
    writable: true,
    enumerable: true,
    configurable: false,
  });
  const collect = takeCollector(holder);
  assert.ok(collect);
  collect();
  assert.equal(calls, 1, "the collector still reaches the function it took");
  const descriptor = Object.getOwnPropertyDescriptor(holder, COLLECTOR_GLOBAL);
  assert.equal(descriptor?.value, undefined);
  assert.equal(descriptor?.writable, false);
  assert.equal(descriptor?.configurable, false);
  assert.throws(() => {
    holder[COLLECTOR_GLOBAL] = () => {};
  }, TypeError);
  assert.throws(() => {
    delete holder[COLLECTOR_GLOBAL];
  }, TypeError);
  assert.throws(
    () => Object.defineProperty(holder, COLLECTOR_GLOBAL, { value: () => {} }),
    TypeError,
  );
});

Deno.test("takeCollector gives null for a process started without the flag, and adds nothing", () => {
  const holder = {};
  assert.equal(takeCollector(holder), null);
  assert.equal(Object.hasOwn(holder, COLLECTOR_GLOBAL), false);
});

// ---------------------------------------------------------------------------------------------
// HeapTrimmer
// ---------------------------------------------------------------------------------------------

Deno.test("HeapTrimmer does nothing before start", async () => {
  const { clock, trimmer } = setup();
  await clock.advance(5 * CHECK);
  assert.equal(trimmer.trims, 0);
  assert.equal(clock.pending, 0);
});

Deno.test("HeapTrimmer trims once quietMs after start when no call comes", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET - 1);
  assert.equal(trimmer.trims, 0);
  await clock.advance(1);
  assert.equal(trimmer.trims, 1);
  assert.equal(heap.bytes, 39 * MiB, "the collector ran once");
  await clock.advance(3 * CHECK);
  assert.equal(trimmer.trims, 1, "the heap did not grow: periodic looks do not trim");
});

Deno.test("HeapTrimmer never trims while a call is in progress, and trims quietMs after it ends", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET / 2);
  trimmer.begin();
  heap.bytes += 10 * GROWTH;
  await clock.advance(3 * CHECK + QUIET);
  assert.equal(trimmer.trims, 0, "neither the first quiet trim nor a periodic look runs in a call");
  trimmer.end();
  await clock.advance(QUIET - 1);
  assert.equal(trimmer.trims, 0, "the quiet time starts again when the call ends");
  await clock.advance(1);
  assert.equal(trimmer.trims, 1);
});

Deno.test("HeapTrimmer's periodic look does not trim after an interval with activity", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET);
  assert.equal(trimmer.trims, 1);
  heap.bytes += 10 * GROWTH;
  // Activity every half quiet time: no quiet trim, and every look saw activity since the last.
  for (let t = 0; t < 3 * CHECK; t += QUIET / 2) {
    trimmer.touch();
    await clock.advance(QUIET / 2);
  }
  assert.equal(trimmer.trims, 1);
  await clock.advance(2 * QUIET);
  assert.equal(trimmer.trims, 2, "the first quiet spell");
});

Deno.test("HeapTrimmer waits while activity is noted, however much, with one timer at a time", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  heap.bytes += GROWTH;
  for (let i = 0; i < 5 * QUIET; i += 10) {
    for (let j = 0; j < 100; j++) trimmer.touch();
    assert.ok(clock.pending <= 2, "the quiet timer and the periodic look, nothing more");
    await clock.advance(10);
  }
  assert.equal(trimmer.trims, 0, "no quiet spell yet (and no periodic look within that time)");
  await clock.advance(2 * QUIET);
  assert.equal(trimmer.trims, 1);
});

Deno.test("HeapTrimmer waits for every overlapping call to end", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  trimmer.begin();
  trimmer.begin();
  heap.bytes += GROWTH;
  trimmer.end();
  await clock.advance(2 * CHECK);
  assert.equal(trimmer.trims, 0, "one call is still running");
  trimmer.end();
  await clock.advance(2 * QUIET);
  assert.equal(trimmer.trims, 1);
});

Deno.test("HeapTrimmer restarts the quiet time when a new call starts and ends within it", async () => {
  const { clock, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET - 100);
  trimmer.begin();
  trimmer.end();
  await clock.advance(QUIET - 1);
  assert.equal(trimmer.trims, 0);
  await clock.advance(QUIET + 1);
  assert.equal(trimmer.trims, 1);
});

Deno.test("HeapTrimmer trims after a call only when the heap grew by growthBytes since the last trim", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET);
  assert.equal(trimmer.trims, 1);
  const trimmedAt = heap.bytes;

  trimmer.begin();
  heap.bytes = trimmedAt + GROWTH - 1;
  trimmer.end();
  await clock.advance(2 * QUIET);
  assert.equal(trimmer.trims, 1, "one byte short of growthBytes: not worth a pause");

  trimmer.begin();
  heap.bytes = trimmedAt + GROWTH;
  trimmer.end();
  await clock.advance(2 * QUIET);
  assert.equal(trimmer.trims, 2);
});

Deno.test("HeapTrimmer's periodic look trims only when the heap grew by growthBytes", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET);
  assert.equal(trimmer.trims, 1);
  // Growth counts from the heap right after the trim (the collector freed 1 MiB of it).
  const trimmedAt = heap.bytes;
  heap.bytes = trimmedAt + GROWTH - 1;
  await clock.advance(CHECK - QUIET);
  assert.equal(trimmer.trims, 1, "first look: one byte short");
  heap.bytes = trimmedAt + GROWTH;
  await clock.advance(CHECK - 1);
  assert.equal(trimmer.trims, 1, "the next look is checkMs after the previous one");
  await clock.advance(1);
  assert.equal(trimmer.trims, 2, "second look: grown by growthBytes");
  assert.equal(heap.bytes, trimmedAt + GROWTH - MiB);
  await clock.advance(CHECK);
  assert.equal(trimmer.trims, 2, "no growth since that trim");
});

Deno.test("HeapTrimmer's periodic look does not trim during a call, however much the heap grew", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET);
  trimmer.begin();
  heap.bytes += 100 * GROWTH;
  await clock.advance(5 * CHECK);
  assert.equal(trimmer.trims, 1);
  assert.ok(clock.pending > 0, "the periodic look keeps going during the call");
});

Deno.test("HeapTrimmer.stop cancels every timer and nothing is trimmed afterwards", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET / 2);
  trimmer.stop();
  assert.equal(clock.pending, 0);
  heap.bytes += 10 * GROWTH;
  trimmer.begin();
  trimmer.end();
  assert.equal(clock.pending, 0, "a call ending after stop arms nothing");
  await clock.advance(5 * CHECK);
  assert.equal(trimmer.trims, 0);
});

Deno.test("HeapTrimmer.stop during a call leaves nothing to fire when the call ends", async () => {
  const { clock, trimmer } = setup();
  trimmer.start();
  await clock.advance(QUIET);
  assert.equal(trimmer.trims, 1);
  trimmer.begin();
  trimmer.stop();
  trimmer.end();
  assert.equal(clock.pending, 0);
  await clock.advance(5 * CHECK);
  assert.equal(trimmer.trims, 1);
});

Deno.test("HeapTrimmer.start after stop arms the quiet trim and the periodic look again", async () => {
  const { clock, heap, trimmer } = setup();
  trimmer.start();
  trimmer.stop();
  await clock.advance(CHECK);
  assert.equal(trimmer.trims, 0);
  trimmer.start();
  await clock.advance(QUIET);
  assert.equal(trimmer.trims, 1);
  heap.bytes += GROWTH;
  await clock.advance(CHECK - QUIET);
  assert.equal(trimmer.trims, 2);
});
