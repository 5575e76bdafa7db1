/**
 * `IdleWatch` (the package host's answer to `idle`) against a fake connection and a fake
 * `beforeunload`: it answers only when nothing is counted and the event loop has drained.
 */

import assert from "node:assert/strict";
import { type CountedHoldings, IdleWatch } from "../../lib/worker/idle.ts";
import { flush, watch } from "./fakes.ts";

/** A connection that records whether it keeps the event loop alive. */
class FakeConn {
  refd = true;
  ref(): void {
    this.refd = true;
  }
  unref(): void {
    this.refd = false;
  }
}

function setup() {
  const conn = new FakeConn();
  const watches = new FakeConn();
  const events = new EventTarget();
  const held: CountedHoldings = { requests: 0, processes: 0, calls: 0 };
  const idle = new IdleWatch([conn, watches], () => held, events);
  /** The event loop drained: Deno dispatches a cancelable `beforeunload`; true if cancelled. */
  const drain = () => !events.dispatchEvent(new Event("beforeunload", { cancelable: true }));
  return { conn, watches, held, idle, drain };
}

Deno.test("IdleWatch answers once the event loop drains with nothing counted", async () => {
  const { conn, watches, idle, drain } = setup();
  assert.equal(drain(), false, "not asked: the unload is not cancelled");
  assert.equal(conn.refd, true, "not asked: the channel keeps the loop alive");
  assert.equal(watches.refd, true, "not asked: the file watches keep the loop alive");
  const answered = watch(idle.whenIdle());
  assert.equal(conn.refd, false, "asked and holding nothing counted: the loop may drain");
  assert.equal(watches.refd, false, "the file watches are listed in the answer, not held");
  await flush();
  assert.equal(answered.settled, false, "the loop has not drained yet (a timer, a watcher)");
  assert.equal(drain(), true, "the unload is cancelled: the child lives to answer");
  assert.equal(conn.refd, true);
  assert.equal(watches.refd, true);
  await answered.promise;
});

Deno.test("IdleWatch holds while a request, process or call is counted", async () => {
  for (const kind of ["requests", "processes", "calls"] as const) {
    const { conn, held, idle, drain } = setup();
    held[kind] = 1;
    const answered = watch(idle.whenIdle());
    assert.equal(conn.refd, true, `${kind}: the channel stays ref'd`);
    // An unref'd channel can still drain while something counted waits on it: no answer then.
    assert.equal(drain(), true);
    await flush();
    assert.equal(answered.settled, false, `${kind}: not idle`);
    held[kind] = 0;
    idle.check();
    assert.equal(conn.refd, false, `${kind}: released, the loop may drain`);
    assert.equal(drain(), true);
    await answered.promise;
  }
});

Deno.test("IdleWatch refs the channel again when something is counted after an unref", () => {
  const { conn, held, idle } = setup();
  idle.whenIdle();
  assert.equal(conn.refd, false);
  held.requests = 1; // an effect started (a callback fired, say)
  idle.check();
  assert.equal(conn.refd, true);
});
