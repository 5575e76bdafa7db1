/**
 * `Child`'s lifecycle, driven state by state: a real process (`sleep`, so signals reach a real
 * pid) with a fake channel whose every answer the test decides. What each operation does in each
 * state, and that every move it makes is one `CHILD_TRANSITIONS` allows.
 */

import assert from "node:assert/strict";
import { ConnectionClosedError, RpcError } from "../../lib/jsonrpc/errors.ts";
import type { Peer, RequestOptions } from "../../lib/jsonrpc/peer.ts";
import type { Profile } from "../../lib/policy/permissions.ts";
import {
  CALLBACK,
  IDLE,
  RUN,
  type RunParams,
  TERMINATE,
  WARM,
} from "../../lib/protocol/channel.ts";
import { ErrorKind } from "../../lib/protocol/error_codes.ts";
import { Child, CHILD_TRANSITIONS, type ChildState } from "../../lib/process/child.ts";
import type { IdleHoldings } from "../../lib/process/child_handle.ts";
import { IllegalTransition, type Next } from "../../lib/state_machine.ts";
import { flush } from "./fakes.ts";

/** One request the child sent on its channel, answered by the test. */
interface SentRequest {
  method: string;
  params: unknown;
  readonly settled: boolean;
  answer(value: unknown): void;
  fail(error: Error): void;
}

/** A channel whose requests the test answers; `onAnswer` runs as `Peer` runs it. */
class FakePeer {
  readonly requests: SentRequest[] = [];
  readonly notifications: { method: string; params: unknown }[] = [];

  #closed = false;

  request(method: string, params: unknown, options: RequestOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError());
    return new Promise((resolve, reject) => {
      let settled = false;
      this.requests.push({
        method,
        params,
        get settled() {
          return settled;
        },
        answer: (value) => {
          if (settled) return;
          settled = true;
          options.onAnswer?.();
          resolve(value);
        },
        fail: (error) => {
          if (settled) return;
          settled = true;
          if (!(error instanceof ConnectionClosedError)) options.onAnswer?.();
          reject(error);
        },
      });
    });
  }

  /** The connection closes (the process died): what is pending rejects, as with `Peer`. */
  close(): void {
    this.#closed = true;
    for (const request of this.requests) request.fail(new ConnectionClosedError());
  }

  notify(method: string, params: unknown): void {
    this.notifications.push({ method, params });
  }

  /** The latest request of `method`. */
  last(method: string): SentRequest {
    const found = this.requests.findLast((r) => r.method === method);
    assert.ok(found, `no ${method} request was sent`);
    return found;
  }

  /** Answers every pending warm-up. */
  async warm(): Promise<void> {
    for (let i = 0; i < 2; i++) {
      await flush();
      this.last(WARM).answer({});
    }
    await flush();
  }
}

const CALL: RunParams = { fn: "run", eventId: "call-1", args: {} };

/**
 * A child over a real `sleep` process (its own group leader, so signals reach a real pid) and a
 * fake channel. With `holdExit`, the child sees its process exit only once the test ends it
 * (`crash` or `cleanUp`), so that `killing` lasts.
 */
function spawnChild(holdExit = false) {
  const process = new Deno.Command("setsid", {
    args: ["sleep", "60"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let release!: () => void;
  const gate = holdExit ? new Promise<void>((resolve) => release = resolve) : Promise.resolve();
  release ??= () => {};
  const status = process.status.then(async (status) => {
    await gate;
    return status;
  });
  const child = new Child(1, "run", {} as Profile, { pid: process.pid, status }, 64);
  const peer = new FakePeer();
  /** Promises the test started and did not await (awaited by `cleanUp`). */
  const pending: Promise<unknown>[] = [];
  const end = () => {
    try {
      Deno.kill(process.pid, "SIGKILL");
    } catch {
      // gone already
    }
    peer.close();
    release();
  };
  /** The child's process dies on its own (a crash). */
  const crash = async () => {
    end();
    await child.exited;
    await flush();
  };
  const hello = () => child.acceptHello(peer as unknown as Peer, undefined);
  return { child, peer, crash, end, pending, hello };
}

type Harness = ReturnType<typeof spawnChild>;

/** Brings a fresh child to `state`. */
async function inState(state: ChildState): Promise<Harness> {
  const t = spawnChild(state === "killing");
  if (state === "starting") return t;
  t.hello();
  await t.peer.warm();
  await t.child.ready;
  if (state === "ready") return t;
  if (state === "busy") {
    t.pending.push(t.child.run(CALL).catch(() => {}));
    await flush();
    return t;
  }
  if (state === "killing") {
    t.pending.push(t.child.kill());
    await flush();
    return t;
  }
  await t.crash();
  return t;
}

/** Ends the child's process (idempotent) and waits for everything the test left running. */
async function cleanUp(t: Harness): Promise<void> {
  t.end();
  await t.child.exited;
  await Promise.all(t.pending);
  await flush();
}

function assertMove(from: ChildState, to: ChildState): void {
  if (from === to) return;
  assert.ok(
    (CHILD_TRANSITIONS[from] as readonly ChildState[]).includes(to),
    `${from} → ${to} is not in CHILD_TRANSITIONS`,
  );
}

const STATES: ChildState[] = ["starting", "ready", "busy", "killing", "exited"];

/** What each operation leaves each state in (the moves `Child` makes; each is in the table). */
const AFTER_KILL: Record<ChildState, ChildState> = {
  starting: "killing",
  ready: "killing",
  busy: "killing",
  killing: "killing",
  exited: "exited",
};
const AFTER_CRASH: Record<ChildState, ChildState> = {
  starting: "exited",
  ready: "exited",
  busy: "exited",
  killing: "exited",
  exited: "exited",
};

Deno.test("Child: what kill and a crash leave each state in, each move in CHILD_TRANSITIONS", async () => {
  for (const from of STATES) {
    const killed = await inState(from);
    assert.equal(killed.child.state, from);
    const kill = killed.child.kill();
    assert.equal(killed.child.state, AFTER_KILL[from], `kill in ${from}`);
    assertMove(from, killed.child.state);
    await cleanUp(killed);
    await kill;
    assert.equal(killed.child.state, "exited");

    const crashed = await inState(from);
    await crashed.crash().catch(() => {});
    await flush();
    assert.equal(crashed.child.state, AFTER_CRASH[from], `crash in ${from}`);
    assertMove(from, crashed.child.state);
    await cleanUp(crashed);
  }
});

Deno.test("Child: what each state reports (eventId, inCall, hasExited, killedByRuntime)", async () => {
  const expected: Record<ChildState, [string | null, boolean, boolean, boolean]> = {
    starting: [null, false, false, false],
    ready: [null, false, false, false],
    busy: ["call-1", true, false, false],
    killing: [null, false, false, true],
    exited: [null, false, true, false],
  };
  for (const state of STATES) {
    const t = await inState(state);
    const { eventId, inCall, hasExited, killedByRuntime } = t.child;
    assert.deepEqual([eventId, inCall, hasExited, killedByRuntime], expected[state], state);
    await cleanUp(t);
  }
});

Deno.test("Child.run in each state: waits, calls, refuses a second call, or rejects with the exit", async () => {
  // starting: the call waits for the warm-up, then runs.
  const starting = await inState("starting");
  const waiting = starting.child.run(CALL);
  starting.hello();
  await flush();
  assert.equal(starting.peer.requests.filter((r) => r.method === RUN).length, 0);
  await starting.peer.warm();
  assert.equal(starting.child.state, "busy");
  starting.peer.last(RUN).answer("done");
  assert.equal(await waiting, "done");
  assert.equal(starting.child.state, "ready");
  await cleanUp(starting);

  // ready: the call runs.
  const ready = await inState("ready");
  const call = ready.child.run(CALL);
  assert.equal(ready.child.state, "busy");
  await flush();
  assert.deepEqual(ready.peer.last(RUN).params, CALL);
  ready.peer.last(RUN).answer(42);
  assert.equal(await call, 42);
  await cleanUp(ready);

  // busy: one call at a time; the running one is untouched.
  const busy = await inState("busy");
  await assert.rejects(busy.child.run(CALL), IllegalTransition);
  assert.equal(busy.child.state, "busy");
  assert.equal(busy.peer.requests.filter((r) => r.method === RUN).length, 1);
  await cleanUp(busy);

  // killing and exited: no call is sent; it rejects with how the child ended.
  for (const state of ["killing", "exited"] as const) {
    const t = await inState(state);
    const refused = t.child.run(CALL);
    refused.catch(() => {});
    await flush();
    if (state === "killing") assert.equal(t.child.state, "killing");
    await cleanUp(t);
    await assert.rejects(refused, (error) => {
      assert.ok(error instanceof RpcError, state);
      assert.equal(error.code, ErrorKind.Javascript);
      assert.match(error.message, /was killed by SIGKILL/);
      return true;
    });
    assert.equal(t.peer.requests.filter((r) => r.method === RUN).length, 0, state);
  }
});

Deno.test("Child.inCall turns false synchronously when the answer is read, eventId stays", async () => {
  const t = await inState("ready");
  const call = t.child.run({ fn: "run", eventId: "call-7", args: {} });
  await flush();
  assert.equal(t.child.inCall, true);
  assert.equal(t.child.eventId, "call-7");
  t.peer.last(RUN).answer("ok");
  // No microtask has run yet: the call's promise has not settled.
  assert.equal(t.child.inCall, false);
  assert.equal(t.child.state, "busy");
  assert.equal(await call, "ok");
  assert.equal(t.child.state, "ready");
  assert.equal(t.child.eventId, "call-7");
  // The next call has its own id.
  const next = t.child.run({ fn: "run", eventId: "call-8", args: {} });
  assert.equal(t.child.eventId, "call-8");
  await flush();
  t.peer.last(RUN).fail(new RpcError(5, "package error"));
  await assert.rejects(next, /package error/);
  assert.equal(t.child.eventId, "call-8");
  assert.equal(t.child.inCall, false);
  // Killed, then gone: still the last call's id (the effects it sends meanwhile carry it).
  const kill = t.child.kill();
  assert.equal(t.child.state, "killing");
  assert.equal(t.child.eventId, "call-8");
  await kill;
  assert.equal(t.child.state, "exited");
  assert.equal(t.child.eventId, "call-8");
  await cleanUp(t);
});

Deno.test("Child: the channel takes notifications right after the hello, before the warm-up", async () => {
  const t = await inState("starting");
  t.child.notify("x", 1);
  t.child.callback(3, ["a"]);
  assert.deepEqual(t.peer.notifications, [], "before the hello, nothing can be sent");
  t.hello();
  assert.equal(t.child.state, "starting");
  t.child.notify("x", 2);
  t.child.callback(4, ["b"]);
  t.child.terminate();
  assert.deepEqual(t.peer.notifications, [
    { method: "x", params: 2 },
    { method: CALLBACK, params: { id: 4, args: ["b"] } },
    { method: TERMINATE, params: {} },
  ]);
  assert.equal(t.child.hasExited, false, "terminate with a channel sends no signal");
  await cleanUp(t);
});

Deno.test("Child.terminate before the hello SIGKILLs the child; after its exit does nothing", async () => {
  const t = await inState("starting");
  t.child.terminate();
  const status = await t.child.exited;
  assert.equal(status.signal, "SIGKILL");
  assert.equal(t.child.killedByRuntime, false);
  t.child.terminate();
  t.child.notify("x", 1);
  assert.deepEqual(t.peer.notifications, []);
  await cleanUp(t);
});

Deno.test("Child.killedByRuntime: true after kill in each live state, false after a crash", async () => {
  for (const state of ["starting", "ready", "busy"] as const) {
    const killed = await inState(state);
    await killed.child.kill();
    assert.equal(killed.child.killedByRuntime, true, state);
    const crashed = await inState(state);
    await crashed.crash();
    assert.equal(crashed.child.killedByRuntime, false, state);
    await crashed.child.kill(); // killing a dead child does not make it killed by the runtime
    assert.equal(crashed.child.killedByRuntime, false, state);
  }
});

Deno.test("Child.run: a code the runtime gave the call's effects passes, another is replaced", async () => {
  for (const given of [true, false]) {
    const t = await inState("ready");
    t.child.noteCodeGiven(ErrorKind.Timeout); // outside a call: dropped
    const call = t.child.run(CALL);
    await flush();
    if (given) t.child.noteCodeGiven(ErrorKind.Timeout);
    t.peer.last(RUN).fail(new RpcError(ErrorKind.Timeout, "effect timed out"));
    await assert.rejects(call, (error) => {
      assert.ok(error instanceof RpcError);
      assert.equal(error.code, given ? ErrorKind.Timeout : ErrorKind.Javascript);
      return true;
    });
    await cleanUp(t);
  }
});

Deno.test("Child.whenIdle asks a live child, and never resolves for a dead one", async () => {
  const t = await inState("ready");
  let idle: IdleHoldings | undefined;
  t.child.whenIdle().then((held) => idle = held);
  await flush();
  assert.equal(idle, undefined);
  const watches = [{ path: "/v/main/store.json", recursive: false, state: null }];
  const polls = [{ path: "/v/main/settings.db", state: null, everyMs: 3000 }];
  t.peer.last(IDLE).answer({ callbacks: 2, watches, polls, droppedTimers: [], callbacksSeen: 0 });
  await flush();
  assert.deepEqual(idle, {
    callbacks: 2,
    watches,
    polls,
    droppedTimers: [],
    callbacksSeen: 0,
    touched: false,
  });
  await cleanUp(t);

  // A callback delivered while the question was out: the answer may be older than it.
  const late = await inState("ready");
  let lateIdle: IdleHoldings | undefined;
  late.child.whenIdle().then((held) => lateIdle = held);
  late.child.callback(1, []);
  late.peer.last(IDLE).answer({
    callbacks: 0,
    watches: [],
    polls: [],
    droppedTimers: [],
    callbacksSeen: 0,
  });
  await flush();
  assert.equal(lateIdle?.touched, true);
  await cleanUp(late);

  // One the child received before it answered (it waited out its reaction): not touched.
  const seen = await inState("ready");
  let seenIdle: IdleHoldings | undefined;
  seen.child.callback(1, []);
  seen.child.whenIdle().then((held) => seenIdle = held);
  seen.peer.last(IDLE).answer({
    callbacks: 0,
    watches: [],
    polls: [],
    droppedTimers: [],
    callbacksSeen: 1,
  });
  await flush();
  assert.equal(seenIdle?.touched, false);
  await cleanUp(seen);

  // An answer that is not an IdleResult (a child runs package code) is not believed.
  const liar = await inState("ready");
  let liarIdle = false;
  liar.child.whenIdle().then(() => liarIdle = true);
  liar.peer.last(IDLE).answer({ callbacks: -1, watches: "everything" });
  await flush();
  assert.equal(liarIdle, false);
  await cleanUp(liar);

  const dead = await inState("exited");
  let deadIdle = false;
  dead.child.whenIdle().then(() => deadIdle = true);
  await flush();
  assert.equal(deadIdle, false);
  assert.equal(dead.peer.requests.filter((r) => r.method === IDLE).length, 0);
});

Deno.test("CHILD_TRANSITIONS types the moves: a move outside the table does not compile", () => {
  const fromReady: Next<typeof CHILD_TRANSITIONS, "ready">[] = ["busy", "killing", "exited"];
  // @ts-expect-error: a child never goes back to loading
  const back: Next<typeof CHILD_TRANSITIONS, "ready"> = "starting";
  // @ts-expect-error: nothing leaves exited
  const revive: Next<typeof CHILD_TRANSITIONS, "exited"> = "ready";
  assert.deepEqual([...CHILD_TRANSITIONS.ready], fromReady);
  assert.deepEqual([back, revive], ["starting", "ready"]);
  assert.deepEqual(CHILD_TRANSITIONS.exited, []);
});
