/**
 * `TickObservation` (does a package host's timer only poll?) against fake timers and a fake
 * recorder: a tick that only looked and re-armed itself makes the host idle with its reads as
 * polls; a tick that did more keeps it; what arrives between ticks starts the observation again.
 */

import assert from "node:assert/strict";
import { LEFTOVER_TIMERS_MS, TickObservation } from "../../lib/worker/tick_observation.ts";
import type { TimerInfo } from "../../lib/worker/package_timers.ts";
import type { TickReads } from "../../lib/worker/poll_reads.ts";
import { FakeClock } from "./fakes.ts";

function setup() {
  const holding: TimerInfo[] = [];
  let tick: TickReads = { reads: new Map(), impure: null };
  let begun = 0;
  const recorder = {
    begin: () => void begun++,
    spoil: (what: string) => void (tick.impure ??= what),
    end: () => {
      const done = tick;
      tick = { reads: new Map(), impure: null };
      return done;
    },
  };
  const clock = new FakeClock();
  /** What the observation said keeps the host. */
  const held: string[] = [];
  const observation = new TickObservation({ holding: () => [...holding] }, recorder, {
    clock,
    onHeld: (why) => held.push(why),
  });
  const read = (path: string, mtimeMs: number | null) =>
    tick.reads.set(path, mtimeMs === null ? null : { mtimeMs, ctimeMs: 0, size: 1, ino: 1 });
  return {
    observation,
    clock,
    held,
    holding,
    read,
    spoil: (what: string) => tick.impure = what,
    get begun() {
      return begun;
    },
  };
}

const poll = (key: number): TimerInfo => ({ key, delayMs: 3000, repeating: false });

Deno.test("TickObservation: nothing held is idle at once, with nothing polled", () => {
  const { observation } = setup();
  assert.equal(observation.drained(), "idle");
  assert.deepEqual(observation.take(), { polls: [], droppedTimers: [] });
});

Deno.test("TickObservation: a timeout re-armed by a tick that only looked is a poll", () => {
  const t = setup();
  t.holding.push(poll(1));
  assert.equal(t.observation.drained(), "wait", "a timer holds: its tick first");
  assert.equal(t.observation.waiting, true);
  assert.equal(t.observation.fired(poll(1)), true, "the tick is observed");
  assert.equal(t.begun, 1);
  t.holding.splice(0); // fired: gone
  t.read("/media/startos/volumes/main/settings.db", null);
  t.read("/media/startos/volumes/main/settings.db-wal", 5);
  t.holding.push(poll(2));
  t.observation.created(poll(2)); // the re-arm, during the tick
  assert.equal(t.observation.drained(), "idle");
  assert.deepEqual(t.observation.take().polls, [
    { path: "/media/startos/volumes/main/settings.db", state: null, everyMs: 3000 },
    {
      path: "/media/startos/volumes/main/settings.db-wal",
      state: { mtimeMs: 5, ctimeMs: 0, size: 1, ino: 1 },
      everyMs: 3000,
    },
  ]);
});

Deno.test("TickObservation: an interval is a poll once it ticked", () => {
  const t = setup();
  const every = { key: 7, delayMs: 1000, repeating: true };
  t.holding.push(every);
  assert.equal(t.observation.drained(), "wait");
  t.observation.fired(every);
  t.read("/media/startos/volumes/main/x", 1);
  assert.equal(t.observation.drained(), "idle");
  assert.equal(t.observation.take().polls[0].everyMs, 1000);
});

Deno.test("TickObservation: every holding timer must have ticked", () => {
  const t = setup();
  const slow = { key: 2, delayMs: 10_000, repeating: false };
  t.holding.push(poll(1), slow);
  assert.equal(t.observation.drained(), "wait");
  t.observation.fired(poll(1));
  t.holding.splice(0, 1);
  t.holding.push(poll(3));
  t.observation.created(poll(3));
  assert.equal(t.observation.drained(), "wait", "the 10 s timer has not ticked");
  t.observation.fired(slow);
  t.holding.splice(t.holding.indexOf(slow), 1);
  assert.equal(t.observation.drained(), "idle");
  assert.equal(t.observation.take().polls.length, 0, "ticks that looked at nothing poll nothing");
});

Deno.test("TickObservation: a tick that did more is work: observed anew, and it says why", () => {
  const t = setup();
  const work = "an effect, a process or a call";
  t.holding.push(poll(1));
  t.observation.drained();
  t.observation.fired(poll(1));
  t.read("/v/a", null);
  t.spoil(work);
  t.observation.created(poll(2));
  t.holding.splice(0, 1, poll(2));
  assert.equal(t.observation.drained(), "wait", "its re-armed timer is seen anew");
  assert.match(t.observation.heldFor ?? "", /did more than look at files: an effect/);
  assert.equal(t.observation.fired(poll(2)), true, "the next tick is observed");
  t.spoil(work);
  t.observation.created(poll(3));
  t.holding.splice(0, 1, poll(3));
  assert.equal(t.observation.drained(), "wait", "working again");
  assert.equal(t.held.length, 1, "said once");
  t.holding.splice(0);
  t.observation.fired(poll(3));
  t.spoil(work);
  assert.equal(t.observation.drained(), "idle", "its last timer worked and left nothing");
  assert.deepEqual(t.observation.take().polls, [], "what working ticks looked at is not polled");
});

Deno.test("TickObservation: a write in a tick is work", () => {
  const t = setup();
  t.holding.push(poll(1));
  t.observation.drained();
  t.observation.fired(poll(1));
  t.spoil("writeFile()");
  t.holding.splice(0, 1, poll(2));
  t.observation.created(poll(2));
  assert.equal(t.observation.drained(), "wait");
  assert.match(t.observation.heldFor ?? "", /writeFile\(\)/);
});

Deno.test("TickObservation: a call between ticks starts the observation again", () => {
  const t = setup();
  t.holding.push(poll(1));
  assert.equal(t.observation.drained(), "wait");
  t.observation.interrupted("a call");
  assert.equal(t.observation.waiting, false);
  assert.equal(t.observation.fired(poll(1)), false, "not observed: the observation restarts");
  assert.equal(t.observation.heldFor, null, "not kept for it");
  assert.equal(t.observation.drained(), "wait");
});

Deno.test("TickObservation: timers init left are waited for until the look's wait ends", async () => {
  const t = setup();
  const leftover = { key: 9, delayMs: 600_000, repeating: false };
  t.holding.push(leftover, poll(1));
  let expired = 0;
  t.observation.lookBegan(() => expired++);
  assert.equal(t.observation.drained(), "wait");
  t.observation.fired(poll(1));
  t.holding.splice(1, 1, poll(2));
  t.observation.created(poll(2));
  assert.equal(t.observation.drained(), "wait", "the leftover is still waited for");
  await t.clock.advance(LEFTOVER_TIMERS_MS - 1);
  assert.equal(expired, 0);
  await t.clock.advance(1);
  assert.equal(expired, 1, "the look is told to look again");
  assert.equal(t.observation.waiting, false, "nothing awaited now: the loop may drain");
  assert.equal(t.observation.drained(), "idle");
  assert.deepEqual(t.observation.take().droppedTimers, [600_000]);
  assert.equal(t.clock.pending, 0);
});

Deno.test("TickObservation: a timer set after the look began is no leftover", async () => {
  const t = setup();
  t.observation.lookBegan(() => {});
  assert.equal(t.observation.drained(), "idle", "nothing held at first");
  t.observation.take();
  t.observation.lookBegan(() => {});
  assert.equal(t.observation.drained(), "idle");
  const t2 = setup();
  t2.observation.lookBegan(() => {});
  t2.holding.push(poll(1));
  t2.observation.drained(); // the leftovers: poll 1
  t2.observation.fired(poll(1));
  t2.spoil("writeFile()"); // work, which sets another timer
  t2.holding.splice(0, 1, poll(5));
  assert.equal(t2.observation.drained(), "wait");
  await t2.clock.advance(LEFTOVER_TIMERS_MS);
  assert.equal(t2.observation.drained(), "wait", "set by work after the look began: waited for");
});

Deno.test("TickObservation: work by the last timer is not reported as keeping the host", () => {
  const t = setup();
  t.holding.push(poll(1));
  t.observation.drained();
  t.observation.fired(poll(1));
  t.spoil("an effect, a process or a call");
  t.holding.splice(0);
  assert.equal(t.observation.drained(), "idle", "its work done, nothing left");
  assert.deepEqual(t.held, [], "no 'kept' line for a host about to retire");
});
