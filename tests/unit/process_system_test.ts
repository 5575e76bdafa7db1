/**
 * `ProcessSystem` against fake children and a fake clock: the package host (init, retired once
 * it holds nothing, uninit in it or in a fresh child), main (start … stop), procedure calls with
 * their timeouts, cancellations and teardown, and the children started ahead of predicted calls.
 */

import assert from "node:assert/strict";
import type { Logger } from "../../lib/log.ts";
import type { ProfileName } from "../../lib/policy/permissions.ts";
import type { ReuseLimits } from "../../lib/policy/policy.ts";
import {
  HOST_KEPT_NOTICE_MS,
  MAIN_TRANSITIONS,
  type MainKind,
  ProcessSystem,
  REPLAY_KEEP_COUNT,
  REPLAY_WINDOW_MS,
} from "../../lib/process/process_system.ts";
import { ErrorKind } from "../../lib/protocol/error_codes.ts";
import type { Next } from "../../lib/state_machine.ts";
import type { ExecuteRequest } from "../../lib/service/system.ts";
import {
  assertRpcError,
  type FakeChild,
  type FakeChildOptions,
  FakeClock,
  FakeSpawner,
  flush,
  recordingLog,
  silentLog,
  testPolicy,
  watch,
  within,
} from "./fakes.ts";

/** Upper bound for an event that should come within milliseconds (only reached when broken). */
const BOUND_MS = 2_000;

/** By default the package host's init and main's start answer at once; procedures wait. */
function defaultChild(profile: ProfileName): FakeChildOptions {
  return profile === "init" || profile === "main" ? { answer: () => null } : {};
}

function setup(
  options: {
    children?: Partial<ReuseLimits>;
    pool?: Partial<Record<ProfileName, number>>;
    stopTimeoutMs?: number;
    child?: (profile: ProfileName) => FakeChildOptions;
    log?: Logger;
    /** What `watchFor` answers (default: it watches; see `watched`). */
    watchFor?: "watch" | string;
  } = {},
) {
  const clock = new FakeClock();
  const spawner = new FakeSpawner(options.child ?? defaultChild, clock);
  const reported = { mainStopped: 0, killAll: 0, callbacks: [] as [number, unknown[]][] };
  /** What the system asked to be watched for retired hosts, in order. */
  const watched: { child: string; changed: () => void; released: boolean }[] = [];
  const system = new ProcessSystem({
    watchFor: (child, _held, changed) => {
      if (options.watchFor !== undefined && options.watchFor !== "watch") return options.watchFor;
      const entry = { child: child.name, changed, released: false };
      watched.push(entry);
      return { release: () => entry.released = true };
    },
    spawn: spawner.spawn,
    reportMainStopped: () => reported.mainStopped++,
    deliverCallback: (id, args) => reported.callbacks.push([id, args]),
    killAll: () => {
      reported.killAll++;
      return Promise.resolve();
    },
    policy: testPolicy(options.children ?? {}, options.pool ?? {}),
    log: options.log ?? silentLog,
    stopTimeoutMs: options.stopTimeoutMs ?? 60_000,
    clock,
  });
  /** Tears everything down so no timer or promise outlives the test. */
  const cleanup = async () => {
    const done = system.shutdown();
    await spawner.killAll();
    await done;
  };
  return { spawner, system, reported, clock, cleanup, watched };
}

function runRequest(overrides: Partial<ExecuteRequest> = {}): ExecuteRequest {
  return {
    eventId: "ev-1",
    procedure: { kind: "run", actionId: "greet" },
    input: { input: { name: "x" } },
    timeoutMs: null,
    sandbox: false,
    ...overrides,
  };
}

/** The `index`th child spawned for `profile` (now or soon), bounded. */
function spawned(spawner: FakeSpawner, profile: ProfileName, index = 0): Promise<FakeChild> {
  return within(spawner.nth(profile, index), BOUND_MS, `spawn ${index} of ${profile}`);
}

Deno.test("ProcessSystem.execute runs the procedure in a child of its profile and answers its value", async () => {
  const { spawner, system, cleanup } = setup({ child: () => ({ answer: (p) => p.fn }) });
  assert.equal(await system.execute(runRequest()), "run");
  assert.equal(
    await system.execute(runRequest({
      procedure: { kind: "getInput", actionId: "greet" },
      input: { prefill: { a: 1 } },
    })),
    "getInput",
  );
  assert.equal(
    await system.execute(runRequest({ procedure: { kind: "backup" }, input: null })),
    "createBackup",
  );
  assert.equal(await system.execute(runRequest({ sandbox: true })), "run");
  assert.deepEqual(spawner.children.map((c) => c.role), ["run", "getInput", "backup", "sandbox"]);
  assert.deepEqual(spawner.children.map((c) => c.runs[0].params), [
    { fn: "run", eventId: "ev-1", args: { actionId: "greet", input: { name: "x" } } },
    { fn: "getInput", eventId: "ev-1", args: { actionId: "greet", prefill: { a: 1 } } },
    { fn: "createBackup", eventId: "ev-1", args: {} },
    { fn: "run", eventId: "ev-1", args: { actionId: "greet", input: { name: "x" } } },
  ]);
  await cleanup();
});

Deno.test("ProcessSystem.execute reuses a child that answered, and retires one that failed", async () => {
  const { spawner, system, cleanup } = setup();
  const first = system.execute(runRequest());
  const child = await spawned(spawner, "run");
  (await child.nextRun()).resolve(1);
  assert.equal(await first, 1);
  const second = system.execute(runRequest({ eventId: "ev-2" }));
  (await child.nextRun()).reject(new Error("the action threw"));
  await assert.rejects(second, /the action threw/);
  assert.equal(child.killed, true, "a child whose call failed never serves again");
  const third = system.execute(runRequest({ eventId: "ev-3" }));
  const replacement = await spawned(spawner, "run", 1);
  assert.notEqual(replacement, child);
  (await replacement.nextRun()).resolve(3);
  assert.equal(await third, 3);
  await cleanup();
});

Deno.test("ProcessSystem.execute with a timeout while running answers 71 and kills the child", async () => {
  const { spawner, system, clock, cleanup } = setup();
  const call = watch(system.execute(runRequest({ timeoutMs: 20_000 })));
  const child = await spawned(spawner, "run");
  await child.nextRun(); // it runs, and never answers
  await clock.advance(19_999);
  assert.equal(call.settled, false, "not before its timeout");
  await clock.advance(1);
  await within(
    assertRpcError(call.promise, ErrorKind.Timeout, /execute ev-1 was stopped after 20000 ms/),
    BOUND_MS,
    "the timeout",
  );
  assert.equal(child.killed, true);
  assert.equal(child.hasExited, true);
  await cleanup();
});

Deno.test("ProcessSystem.execute with a timeout while queued answers 71 'never ran'", async () => {
  const { spawner, system, clock, cleanup } = setup({ children: { maxPerProfile: 1 } });
  const running = system.execute(runRequest());
  const child = await spawned(spawner, "run");
  await child.nextRun();
  const queued = watch(system.execute(runRequest({ eventId: "ev-2", timeoutMs: 20_000 })));
  await clock.advance(20_000);
  await within(
    assertRpcError(queued.promise, ErrorKind.Timeout, /execute ev-2 waited 20000 ms .*never ran/),
    BOUND_MS,
    "the timeout",
  );
  assert.equal(spawner.children.length, 1, "no child was started for it");
  assert.equal(child.runs.length, 1);
  assert.equal(child.killed, false, "the running call is untouched");
  (await child.nextRun()).resolve("done");
  assert.equal(await running, "done");
  await cleanup();
});

Deno.test("ProcessSystem.shutdown answers a running call 73 and waits for that answer", async () => {
  const { spawner, system, reported, cleanup } = setup({
    child: (profile) => profile === "run" ? { holdKill: true } : {},
  });
  const call = watch(system.execute(runRequest()));
  const child = await spawned(spawner, "run");
  await child.nextRun();
  const shutdown = watch(system.shutdown());
  await flush();
  assert.equal(child.killed, true, "the aborted call kills its child");
  assert.equal(reported.killAll, 1);
  assert.equal(call.settled, false, "the call is answered once its child is gone");
  assert.equal(shutdown.settled, false, "shutdown waits for the call's answer");
  child.releaseKill();
  await assertRpcError(call.promise, ErrorKind.Cancelled, /execute ev-1 was cancelled/);
  await within(shutdown.promise, BOUND_MS, "shutdown");
  await cleanup();
});

Deno.test("ProcessSystem.shutdown answers a queued call 73", async () => {
  const { spawner, system, cleanup } = setup({ children: { maxPerProfile: 1 } });
  system.execute(runRequest()).catch(() => {});
  await (await spawned(spawner, "run")).nextRun();
  const queued = system.execute(runRequest({ eventId: "ev-2" }));
  await system.shutdown();
  await assertRpcError(queued, ErrorKind.Cancelled, /execute ev-2/);
  assert.equal(spawner.children.length, 1);
  await cleanup();
});

Deno.test("ProcessSystem.execute after shutdown answers 73 without spawning", async () => {
  const { spawner, system, cleanup } = setup();
  await system.shutdown();
  await assertRpcError(system.execute(runRequest()), ErrorKind.Cancelled);
  assert.equal(spawner.children.length, 0);
  await cleanup();
});

// A timeout that expires while the call's child still loads is answered 71 at once (once the
// call waited for the load, for ever if it hung). The child ran nothing of the call: it goes on
// loading for the next call (a hung load is ended by the launcher's load timeout).
Deno.test({
  name: "ProcessSystem.execute with a timeout answers 71 while its child is still loading",
  fn: async () => {
    const { spawner, system, clock, cleanup } = setup({ child: () => ({ ready: "pending" }) });
    const call = watch(system.execute(runRequest({ timeoutMs: 20_000 })));
    const child = await spawned(spawner, "run");
    await clock.advance(20_000);
    await within(
      assertRpcError(call.promise, ErrorKind.Timeout, /never ran/),
      BOUND_MS,
      "the timeout of a call whose child never gets ready",
    );
    const next = system.execute(runRequest({ eventId: "ev-2" }));
    child.markReady();
    (await child.nextRun()).resolve("served by the child that loaded meanwhile");
    assert.equal(await next, "served by the child that loaded meanwhile");
    assert.equal(spawner.of("run").length, 1);
    await cleanup();
  },
});

Deno.test("ProcessSystem.start joins a start in progress", async () => {
  const { spawner, system, cleanup } = setup({ child: () => ({}) });
  const first = watch(system.start());
  const second = watch(system.start());
  const main = await spawned(spawner, "main");
  const run = await main.nextRun();
  assert.deepEqual(run.params, { fn: "main", eventId: null, args: {} });
  await flush();
  assert.equal(first.settled || second.settled, false);
  run.resolve(undefined);
  await Promise.all([first.promise, second.promise]);
  await system.start(); // running: nothing to do
  assert.equal(spawner.of("main").length, 1);
  assert.equal(main.runs.length, 1);
  await cleanup();
});

Deno.test("ProcessSystem.stop during start rejects the start 73 and main can start again", async () => {
  const { spawner, system, cleanup } = setup({ child: () => ({}) });
  const start = system.start();
  const main = await spawned(spawner, "main");
  await main.nextRun();
  const stop = system.stop();
  await assertRpcError(start, ErrorKind.Cancelled, /stop was called while main was starting/);
  await within(stop, BOUND_MS, "stop");
  assert.equal(main.terminateCalls, 1, "main is asked to stop, so its daemons can term()");
  assert.equal(main.hasExited, true);
  const again = system.start();
  const second = await spawned(spawner, "main", 1);
  assert.notEqual(second, main);
  (await second.nextRun()).resolve(undefined);
  await again;
  await cleanup();
});

Deno.test("ProcessSystem.stop during start gives main its grace period before killing it", async () => {
  const { spawner, system, clock, cleanup } = setup({
    stopTimeoutMs: 20_000,
    child: () => ({ ignoreTerminate: true }),
  });
  const start = system.start();
  const main = await spawned(spawner, "main");
  await main.nextRun();
  const stop = system.stop();
  await assertRpcError(start, ErrorKind.Cancelled);
  assert.equal(main.terminateCalls, 1);
  await clock.advance(19_999);
  assert.equal(main.killed, false, "the daemons built so far may still term() cleanly");
  await clock.advance(1);
  await within(stop, BOUND_MS, "stop");
  assert.equal(main.killed, true);
  await cleanup();
});

Deno.test("ProcessSystem reports main that exits on its own once, and start spawns a new main", async () => {
  const { log, lines } = recordingLog();
  const { spawner, system, reported, cleanup } = setup({ log });
  await system.start();
  const [main] = spawner.of("main");
  main.recentOutput.push("Error: daemon crashed");
  main.exit({ code: 1 });
  await flush();
  assert.equal(reported.mainStopped, 1);
  const warning = lines.find((line) => line.level === "warn" && line.fields.code === 1);
  assert.equal(warning?.fields.last_output, "Error: daemon crashed", "its last words are logged");
  await system.start();
  assert.equal(spawner.of("main").length, 2, "the dead main is not taken for a running one");
  assert.equal(spawner.of("main")[1].hasExited, false);
  await flush();
  assert.equal(reported.mainStopped, 1, "reported exactly once");
  await cleanup();
});

Deno.test("ProcessSystem.stop of a running main does not report it stopped", async () => {
  const { spawner, system, reported, cleanup } = setup();
  await system.start();
  await system.stop();
  await flush();
  const [main] = spawner.of("main");
  assert.equal(main.hasExited, true);
  assert.equal(main.terminateCalls, 1);
  assert.equal(reported.mainStopped, 0);
  await cleanup();
});

Deno.test("ProcessSystem.start of a main that dies while starting rejects and reports nothing", async () => {
  const { spawner, system, reported, cleanup } = setup({ child: () => ({}) });
  const start = system.start();
  const main = await spawned(spawner, "main");
  await main.nextRun();
  main.exit({ code: 1 });
  await assert.rejects(start, /exited before it answered/);
  await flush();
  assert.equal(reported.mainStopped, 0, "start itself failed: the host already knows");
  const again = system.start();
  (await (await spawned(spawner, "main", 1)).nextRun()).resolve(undefined);
  await again;
  await cleanup();
});

Deno.test("ProcessSystem.stop kills main that ignores termination after stopTimeoutMs", async () => {
  const { spawner, system, clock, cleanup } = setup({
    stopTimeoutMs: 30_000,
    child: (profile) => ({ ...defaultChild(profile), ignoreTerminate: true }),
  });
  await system.start();
  const [main] = spawner.of("main");
  const stop = watch(system.stop());
  assert.equal(main.terminateCalls, 1);
  await clock.advance(29_999);
  assert.equal(main.killed, false, "main gets its grace period first");
  assert.equal(stop.settled, false);
  await clock.advance(1);
  await within(stop.promise, BOUND_MS, "stop");
  assert.equal(main.killed, true);
  assert.equal(main.status?.signal, "SIGKILL");
  await cleanup();
});

Deno.test("ProcessSystem.stop of a main that exits when asked does not wait out stopTimeoutMs", async () => {
  const { spawner, system, cleanup } = setup({ stopTimeoutMs: 60_000 });
  await system.start();
  await within(system.stop(), BOUND_MS, "stop");
  assert.equal(spawner.of("main")[0].status?.signal, "SIGTERM");
  await cleanup();
});

Deno.test("ProcessSystem.stop joins a stop in progress", async () => {
  const { spawner, system, clock, cleanup } = setup({
    stopTimeoutMs: 20_000,
    child: (profile) => ({ ...defaultChild(profile), ignoreTerminate: true }),
  });
  await system.start();
  const first = system.stop();
  const second = system.stop();
  await clock.advance(20_000);
  await within(Promise.all([first, second]), BOUND_MS, "stop");
  assert.equal(spawner.of("main")[0].terminateCalls, 1);
  assert.equal(spawner.of("main")[0].killCalls, 1);
  await cleanup();
});

Deno.test("ProcessSystem.start while main stops starts a new main once the old one is gone", async () => {
  const { spawner, system, clock, cleanup } = setup({
    stopTimeoutMs: 20_000,
    child: (profile) => ({ ...defaultChild(profile), ignoreTerminate: true }),
  });
  await system.start();
  const [old] = spawner.of("main");
  const stop = system.stop();
  const next = spawned(spawner, "main", 1);
  const start = system.start();
  assert.equal(spawner.of("main").length, 1, "nothing spawned while the old main stops");
  await clock.advance(20_000);
  const fresh = await next;
  assert.equal(old.hasExited, true, "the old main was gone before the new one spawned");
  await within(Promise.all([stop, start]), BOUND_MS, "stop and start");
  assert.equal(fresh.hasExited, false);
  await cleanup();
});

// The last word wins: a start queued behind a stop is cancelled (73) by a later stop (once it
// spawned a new main after that stop had answered).
Deno.test({
  name: "ProcessSystem.stop after a start queued behind a stop leaves no main running",
  fn: async () => {
    const { spawner, system, clock, cleanup } = setup({
      stopTimeoutMs: 20_000,
      child: (profile) => ({ ...defaultChild(profile), ignoreTerminate: true }),
    });
    await system.start();
    const firstStop = system.stop();
    const queuedStart = system.start();
    const lastStop = system.stop();
    const settled = Promise.allSettled([firstStop, queuedStart, lastStop]);
    await clock.advance(20_000);
    await within(
      settled,
      BOUND_MS,
      "start and stops",
    );
    await flush();
    const running = spawner.of("main").filter((main) => !main.hasExited);
    assert.deepEqual(running.map((main) => main.name), [], "stop was the last request");
    await cleanup();
  },
});

Deno.test("ProcessSystem.stop without main resolves at once", async () => {
  const { spawner, system, cleanup } = setup();
  await system.stop();
  assert.equal(spawner.children.length, 0);
  await cleanup();
});

Deno.test("ProcessSystem.init runs the package's init in a package host child", async () => {
  const { spawner, system, cleanup } = setup();
  await system.init({ eventId: "init-1", kind: "restore" });
  const [host] = spawner.of("init");
  assert.deepEqual(host.runs.map((r) => r.params), [
    { fn: "init", eventId: "init-1", args: { kind: "restore" } },
  ]);
  await flush();
  assert.equal(host.killed, false, "a package host that holds something stays (for uninit too)");
  await cleanup();
});

Deno.test("ProcessSystem retires the package host once it holds nothing; uninit runs in a fresh child", async () => {
  const { log, lines } = recordingLog();
  const { spawner, system, cleanup } = setup({ log });
  await system.init({ eventId: "init-1", kind: null });
  const [host] = spawner.of("init");
  host.markIdle();
  await flush();
  assert.equal(host.killed, true, "nothing alive that holds nothing");
  assert.ok(lines.some((line) => line.level === "info" && /retired/.test(line.msg)));
  assert.equal(lines.some((line) => line.level === "warn"), false, "its exit is no surprise");
  await system.exit({ eventId: "exit-1", target: "1.0.0", uninit: true });
  const fresh = spawner.of("init")[1];
  assert.deepEqual(fresh.runs.map((r) => r.params), [
    { fn: "uninit", eventId: "exit-1", args: { target: "1.0.0" } },
  ]);
  await cleanup();
});

Deno.test("ProcessSystem does not retire the package host while uninit runs in it", async () => {
  const { spawner, system, cleanup } = setup({
    child: (profile) => profile === "init" ? {} : defaultChild(profile),
  });
  const init = system.init({ eventId: "init-1", kind: null });
  const host = await spawned(spawner, "init");
  (await host.nextRun()).resolve(null);
  await init;
  const exit = system.exit({ eventId: "exit-1", target: null, uninit: true });
  const uninit = await host.nextRun();
  assert.equal(uninit.params.fn, "uninit");
  host.markIdle();
  await flush();
  assert.equal(host.killed, false, "a host running uninit is not idle");
  uninit.resolve(null);
  await exit;
  assert.equal(spawner.of("init").length, 1);
  await cleanup();
});

Deno.test("ProcessSystem.exit runs uninit in a fresh child when the package host died", async () => {
  const { spawner, system, cleanup } = setup();
  await system.init({ eventId: "init-1", kind: null });
  spawner.of("init")[0].exit({ code: 1 });
  await system.exit({ eventId: "exit-1", target: null, uninit: true });
  assert.deepEqual(spawner.of("init")[1].runs.map((r) => r.params.fn), ["uninit"]);
  await cleanup();
});

Deno.test("ProcessSystem.exit answers 59 naming why when no package host can start", async () => {
  const { spawner, system, cleanup } = setup();
  await system.init({ eventId: "init-1", kind: null });
  spawner.of("init")[0].markIdle();
  await flush();
  spawner.options = () => ({ ready: "pending" });
  const exit = system.exit({ eventId: "exit-1", target: null, uninit: true });
  const fresh = await spawned(spawner, "init", 1);
  fresh.failReady(new Error("the package failed to load"));
  await assert.rejects(exit, /the package failed to load/);
  await cleanup();
});

Deno.test("ProcessSystem.stop of main starts the uninit child ahead of exit, retired when idle", async () => {
  const { spawner, system, clock, cleanup } = setup({ children: { idleMs: 5_000 } });
  await system.init({ eventId: "init-1", kind: null });
  spawner.of("init")[0].markIdle();
  await system.start();
  await system.stop();
  await clock.advance(0);
  assert.equal(spawner.of("init").length, 2, "exit follows stop: its child is started");
  const spare = spawner.of("init")[1];
  await clock.advance(5_000);
  assert.equal(spare.killed, true, "no exit came: retired when idle");
  await system.start();
  await system.stop();
  await clock.advance(0);
  const next = spawner.of("init")[2];
  await system.exit({ eventId: "exit-1", target: null, uninit: true });
  assert.deepEqual(next.runs.map((r) => r.params.fn), ["uninit"], "exit uses the spare");
  assert.equal(spawner.of("init").length, 3);
  await cleanup();
});

Deno.test("ProcessSystem.stop starts no uninit child while the package host is alive, or at shutdown", async () => {
  const { spawner, system, clock, cleanup } = setup();
  await system.init({ eventId: "init-1", kind: null });
  await system.start();
  await system.stop();
  await clock.advance(0);
  assert.equal(spawner.of("init").length, 1, "the package host will run uninit");
  spawner.of("init")[0].markIdle();
  await flush();
  await system.start();
  await system.stop(false); // SIGTERM: stop, then shutdown
  const shutdown = system.shutdown();
  await clock.advance(0);
  await shutdown;
  assert.equal(spawner.of("init").length, 1, "a teardown needs no uninit child");
  await cleanup();
});

Deno.test("ProcessSystem.execute of getInput starts a run child for the run that follows", async () => {
  const { spawner, system, cleanup } = setup({ child: () => ({ answer: (p) => p.fn }) });
  const getInput = runRequest({
    procedure: { kind: "getInput", actionId: "greet" },
    input: { prefill: null },
  });
  assert.equal(await system.execute(getInput), "getInput");
  assert.equal(spawner.of("run").length, 1, "the run child is started with the getInput");
  assert.equal(await system.execute(runRequest()), "run");
  assert.equal(spawner.of("run").length, 1, "and serves the run");
  assert.equal(await system.execute(getInput), "getInput");
  assert.equal(spawner.of("run").length, 1, "an idle run child is kept, not doubled");
  assert.equal(await system.execute({ ...getInput, sandbox: true }), "getInput");
  assert.equal(spawner.of("sandbox").length, 1);
  await cleanup();
});

Deno.test("ProcessSystem.init failure kills the package host and rejects with its error", async () => {
  const { spawner, system, cleanup } = setup({ child: () => ({}) });
  const init = system.init({ eventId: "init-1", kind: null });
  const host = await spawned(spawner, "init");
  (await host.nextRun()).reject(new Error("init threw"));
  await assert.rejects(init, /init threw/);
  assert.equal(host.killed, true);
  await cleanup();
});

Deno.test("ProcessSystem.init a second time kills the previous package host", async () => {
  const { spawner, system, cleanup } = setup();
  await system.init({ eventId: "init-1", kind: null });
  await system.init({ eventId: "init-2", kind: null });
  const [first, second] = spawner.of("init");
  assert.equal(first.killed, true);
  assert.equal(second.killed, false);
  assert.deepEqual(second.runs.map((r) => r.params.eventId), ["init-2"]);
  await cleanup();
});

Deno.test("ProcessSystem.init prewarms the policy's warm children", async () => {
  const { spawner, system, cleanup } = setup({ pool: { run: 2, sandbox: 1 } });
  assert.equal(spawner.of("run").length, 0, "nothing is spawned before init");
  await system.init({ eventId: "init-1", kind: null });
  assert.equal(spawner.of("run").length, 2);
  assert.equal(spawner.of("sandbox").length, 1);
  await cleanup();
});

Deno.test("ProcessSystem.exit with uninit false stops main and does not run uninit", async () => {
  const { spawner, system, cleanup } = setup();
  await system.init({ eventId: "init-1", kind: null });
  await system.start();
  await system.exit({ eventId: "exit-1", target: "1.0.0", uninit: false });
  const [host] = spawner.of("init");
  assert.deepEqual(host.runs.map((r) => r.params.fn), ["init"]);
  assert.equal(spawner.of("main")[0].hasExited, true, "main is stopped first");
  await cleanup();
});

Deno.test("ProcessSystem.exit with uninit true runs uninit with the target in a package host that holds something", async () => {
  const { spawner, system, cleanup } = setup();
  await system.init({ eventId: "init-1", kind: null });
  await system.exit({ eventId: "exit-1", target: "#remove:1.0.0", uninit: true });
  const [host] = spawner.of("init");
  assert.deepEqual(host.runs.map((r) => r.params), [
    { fn: "init", eventId: "init-1", args: { kind: null } },
    { fn: "uninit", eventId: "exit-1", args: { target: "#remove:1.0.0" } },
  ]);
  assert.equal(spawner.of("init").length, 1, "uninit runs in the same package host");
  await cleanup();
});

Deno.test("ProcessSystem.exit answers a queued call 73", async () => {
  const { spawner, system, cleanup } = setup({ children: { maxPerProfile: 1 } });
  const running = system.execute(runRequest());
  const child = await spawned(spawner, "run");
  const run = await child.nextRun();
  const queued = system.execute(runRequest({ eventId: "ev-2" }));
  await system.exit({ eventId: "exit-1", target: null, uninit: false });
  await assertRpcError(queued, ErrorKind.Cancelled, /execute ev-2/);
  run.resolve("still answered");
  assert.equal(await running, "still answered");
  await cleanup();
});

Deno.test("ProcessSystem.callback hands the host's callback to deliverCallback", async () => {
  const { system, reported, cleanup } = setup();
  system.callback(7, [1, "two"]);
  assert.deepEqual(reported.callbacks, [[7, [1, "two"]]]);
  await cleanup();
});

/**
 * Follows `system.mainState`: each change must be a move of `MAIN_TRANSITIONS`; the moves seen
 * are collected so that a test can check it made every move of the table.
 */
// Moves out of the table do not compile (`ProcessSystem.#move` takes a `Next` of its state).
const _legal: Next<typeof MAIN_TRANSITIONS, "stopping"> = "none";
// @ts-expect-error: a main being stopped cannot be taken for a running one
const _illegal: Next<typeof MAIN_TRANSITIONS, "stopping"> = "running";
// @ts-expect-error: main cannot run without starting
const _skipped: Next<typeof MAIN_TRANSITIONS, "none"> = "running";

function mainMoves(system: ProcessSystem) {
  let last: MainKind = system.mainState;
  const seen = new Set<string>();
  /**
   * Asserts main is in `expected`, reached from the last state by a move of the table (through
   * `via` first, for two moves made in one turn).
   */
  const expect = (expected: MainKind, why: string, via?: MainKind) => {
    const now = system.mainState;
    assert.equal(now, expected, why);
    if (via !== undefined) {
      assert.ok(
        (MAIN_TRANSITIONS[last] as readonly MainKind[]).includes(via),
        `${last} → ${via} is not in the table (${why})`,
      );
      seen.add(`${last} → ${via}`);
      last = via;
    }
    if (now !== last) {
      assert.ok(
        (MAIN_TRANSITIONS[last] as readonly MainKind[]).includes(now),
        `${last} → ${now} is not in the table (${why})`,
      );
      seen.add(`${last} → ${now}`);
    }
    last = now;
  };
  return { expect, seen };
}

Deno.test("ProcessSystem drives main through every state: start and stop in each do what MAIN_TRANSITIONS says", async () => {
  const { spawner, system, clock, reported, cleanup } = setup({
    stopTimeoutMs: 20_000,
    child: () => ({ ignoreTerminate: true }),
  });
  const { expect, seen } = mainMoves(system);

  // none: stop has nothing to stop; start spawns main (none → starting).
  expect("none", "no main before start");
  await within(system.stop(), BOUND_MS, "stop without main");
  expect("none", "stop without main stays none");
  assert.equal(spawner.of("main").length, 0);
  const first = watch(system.start());
  expect("starting", "start without main spawns one");
  const main1 = await spawned(spawner, "main");

  // starting: start joins; the start answering moves on (starting → running).
  const joined = watch(system.start());
  expect("starting", "start while starting joins");
  assert.equal(spawner.of("main").length, 1);
  (await main1.nextRun()).resolve(undefined);
  await within(Promise.all([first.promise, joined.promise]), BOUND_MS, "start");
  expect("running", "the start answered");

  // running: start is a no-op; main exiting on its own ends it (running → none).
  await system.start();
  expect("running", "start while running does nothing");
  assert.equal(spawner.of("main").length, 1);
  main1.exit({ code: 1 });
  await flush();
  expect("none", "main exited on its own");
  assert.equal(reported.mainStopped, 1);

  // starting: a start that fails ends it (starting → none).
  const failing = system.start();
  expect("starting", "start again");
  const main2 = await spawned(spawner, "main", 1);
  await main2.nextRun();
  main2.exit({ code: 1 });
  await assert.rejects(failing, /exited before it answered/);
  expect("none", "the start failed");

  // starting: stop cancels the start (starting → stopping), then main is gone (stopping → none).
  const cancelled = system.start();
  expect("starting", "start once more");
  const main3 = await spawned(spawner, "main", 2);
  await main3.nextRun();
  const stopStarting = watch(system.stop());
  expect("stopping", "stop while starting");
  await assertRpcError(cancelled, ErrorKind.Cancelled, /stop was called while main was starting/);
  assert.equal(main3.terminateCalls, 1);

  // stopping: stop joins, start waits for main to be gone and then starts a new one.
  const joinedStop = watch(system.stop());
  const queued = watch(system.start());
  await flush();
  expect("stopping", "stop and start while stopping wait");
  assert.equal(spawner.of("main").length, 3, "nothing spawned while main stops");
  assert.equal(stopStarting.settled || joinedStop.settled || queued.settled, false);
  await clock.advance(20_000);
  await within(Promise.all([stopStarting.promise, joinedStop.promise]), BOUND_MS, "stop");
  assert.equal(main3.killCalls, 1, "one stop, killed once after its grace period");
  const main4 = await spawned(spawner, "main", 3);
  // Main is gone (stopping → none) and, in the same turn, the queued start runs (none → starting).
  expect("starting", "the queued start starts a new main once the old one is gone", "none");
  (await main4.nextRun()).resolve(undefined);
  await within(queued.promise, BOUND_MS, "queued start");
  expect("running", "the queued start answered");

  // running: stop moves to stopping, then none once main is gone.
  const stopRunning = watch(system.stop());
  expect("stopping", "stop while running");
  assert.equal(main4.terminateCalls, 1);
  await clock.advance(20_000);
  await within(stopRunning.promise, BOUND_MS, "stop");
  expect("none", "main is gone");
  assert.equal(reported.mainStopped, 1, "a stop is not reported as main stopping on its own");

  const table = Object.entries(MAIN_TRANSITIONS).flatMap(([from, tos]) =>
    tos.map((to) => `${from} → ${to}`)
  );
  assert.deepEqual([...seen].sort(), table.sort(), "every move of the table, and only those");
  await cleanup();
});

/** What a package host whose init watches one file answers to `idle`. */
const WATCHING = {
  watches: [{ path: "/v/main/store.json", recursive: false, state: null }],
};

Deno.test("ProcessSystem retires a host that only watches, and replays init (kind null) at a change", async () => {
  const { log, lines } = recordingLog();
  const { spawner, system, clock, cleanup, watched } = setup({ log });
  await system.init({ eventId: "init-1", kind: "install" });
  const [host] = spawner.of("init");
  host.markIdle(WATCHING);
  await flush();
  assert.equal(host.killed, true, "retired: the runtime watches for it");
  assert.equal(watched.length, 1);
  assert.equal(watched[0].child, host.name);
  assert.ok(lines.some((l) => /but what it watches: retired/.test(l.msg)));

  await clock.advance(REPLAY_WINDOW_MS);
  watched[0].changed();
  watched[0].changed(); // a second change before the replay started: one replay
  await flush();
  assert.equal(watched[0].released, true, "the watches stop once init is replayed");
  const replays = spawner.of("init").slice(1);
  assert.equal(replays.length, 1);
  assert.deepEqual(replays[0].runs.map((r) => r.params), [
    { fn: "init", eventId: "init-1", args: { kind: null, replay: true } },
  ]);
  // The replayed host watches again: retired again, watched anew.
  replays[0].markIdle(WATCHING);
  await flush();
  assert.equal(replays[0].killed, true);
  assert.equal(watched.length, 2);
  await cleanup();
  assert.equal(watched[1].released, true, "the teardown stops watching");
});

Deno.test("ProcessSystem keeps a host replayed too often, and retires one replayed now and then", async () => {
  const { log, lines } = recordingLog();
  const { spawner, system, clock, cleanup, watched } = setup({ log });
  await system.init({ eventId: "init-1", kind: null });
  spawner.of("init")[0].markIdle({ callbacks: 1 });
  await flush();
  /** The latest watch fires; the replayed host answers idle. */
  const replayOnce = async () => {
    watched.at(-1)!.changed();
    await flush();
    const host = spawner.of("init").at(-1)!;
    host.markIdle(WATCHING);
    await flush();
    return host;
  };
  // Two replays a minute apart: each replayed host is retired again.
  assert.equal((await replayOnce()).killed, true);
  await clock.advance(REPLAY_WINDOW_MS);
  assert.equal((await replayOnce()).killed, true);
  // Then REPLAY_KEEP_COUNT within the window: kept.
  for (let i = 1; i < REPLAY_KEEP_COUNT - 1; i++) {
    await clock.advance(1_000);
    assert.equal((await replayOnce()).killed, true);
  }
  await clock.advance(1_000);
  const kept = await replayOnce();
  assert.equal(kept.killed, false, "kept: its values change too often to replay each time");
  assert.ok(lines.some((l) => /package host is kept: init was replayed/.test(l.msg)));
  // exit runs uninit in the kept host.
  await system.exit({ eventId: "exit-1", target: null, uninit: true });
  assert.equal(kept.runs.at(-1)?.params.fn, "uninit");
  await cleanup();
});

Deno.test("ProcessSystem asks a host kept for its replays again once a window passed", async () => {
  const { spawner, system, clock, cleanup, watched } = setup();
  await system.init({ eventId: "init-1", kind: null });
  spawner.of("init")[0].markIdle({ callbacks: 1 });
  await flush();
  let host = spawner.of("init")[0];
  for (let i = 0; i < REPLAY_KEEP_COUNT; i++) {
    await clock.advance(1_000);
    watched.at(-1)!.changed();
    await flush();
    host = spawner.of("init").at(-1)!;
    host.markIdle(WATCHING);
    await flush();
  }
  assert.equal(host.killed, false, "kept after a burst of replays");
  const watches = watched.length;
  await clock.advance(REPLAY_WINDOW_MS - 1);
  assert.equal(host.killed, false);
  await clock.advance(1);
  assert.equal(host.killed, true, "asked again: it still holds only what it watches, retired");
  assert.equal(watched.length, watches + 1, "watched for it again");
  // The next change replays as after any retirement.
  watched.at(-1)!.changed();
  await flush();
  assert.equal(spawner.of("init").length, 2 + REPLAY_KEEP_COUNT);
  await cleanup();
});

Deno.test("ProcessSystem keeps a host whose watches cannot be taken over", async () => {
  const { log, lines } = recordingLog();
  const { spawner, system, cleanup } = setup({ log, watchFor: "/etc: outside what init reads" });
  await system.init({ eventId: "init-1", kind: null });
  const [host] = spawner.of("init");
  host.markIdle(WATCHING);
  await flush();
  assert.equal(host.killed, false);
  assert.ok(
    lines.some((l) =>
      /kept for what it watches/.test(l.msg) && l.fields.why === "/etc: outside what init reads"
    ),
  );
  await cleanup();
});

Deno.test("ProcessSystem replays at once for a host a callback reached after it was asked", async () => {
  const { spawner, system, cleanup, watched } = setup();
  await system.init({ eventId: "init-1", kind: null });
  spawner.of("init")[0].markIdle({ callbacks: 1, touched: true });
  await flush();
  assert.equal(watched[0].released, true);
  assert.equal(spawner.of("init").length, 2, "replayed: the host may have been reacting to it");
  await cleanup();
});

Deno.test("ProcessSystem exit stops watching, and waits for a replay in progress", async () => {
  const { spawner, system, cleanup, watched } = setup({
    child: (profile) => profile === "init" ? {} : { answer: () => null },
  });
  const init = system.init({ eventId: "init-1", kind: null });
  await flush();
  spawner.of("init")[0].runs[0].resolve(null);
  await init;
  spawner.of("init")[0].markIdle(WATCHING);
  await flush();
  watched[0].changed();
  await flush();
  const replay = spawner.of("init")[1];
  const exit = watch(system.exit({ eventId: "exit-1", target: null, uninit: true }));
  await flush();
  assert.equal(exit.settled, false, "the replay's init runs");
  replay.runs[0].resolve(null);
  await flush();
  assert.equal(replay.runs.at(-1)?.params.fn, "uninit", "uninit in the replayed host");
  replay.runs.at(-1)!.resolve(null);
  await exit.promise;
  await cleanup();

  // Watching, no replay: exit stops watching; uninit runs in a fresh child.
  const second = setup();
  await second.system.init({ eventId: "init-1", kind: null });
  second.spawner.of("init")[0].markIdle(WATCHING);
  await flush();
  await second.system.exit({ eventId: "exit-1", target: null, uninit: true });
  assert.equal(second.watched[0].released, true);
  assert.equal(second.spawner.of("init")[1].runs[0].params.fn, "uninit");
  await second.cleanup();
});

Deno.test("ProcessSystem keeps watching after a failed replay, and puts off replays that keep failing", async () => {
  const { log, lines } = recordingLog();
  let failing = false;
  const { spawner, system, clock, cleanup, watched } = setup({
    log,
    child: (profile) =>
      profile === "init"
        ? {
          answer: (p) => {
            if (failing && p.fn === "init") throw new Error("step 2 threw");
            return null;
          },
        }
        : { answer: () => null },
  });
  await system.init({ eventId: "init-1", kind: null });
  spawner.of("init")[0].markIdle(WATCHING);
  await flush();
  failing = true;
  watched[0].changed();
  await flush();
  assert.equal(spawner.of("init").length, 2);
  assert.equal(spawner.of("init")[1].killed, true, "the failed replay's child is gone");
  assert.equal(watched[0].released, false, "what the retired host watched is still watched");
  assert.ok(lines.some((l) => /the replay of init failed/.test(l.msg)));
  // The next change replays again; after REPLAY_KEEP_COUNT failures in the window, it waits.
  for (let i = 1; i < REPLAY_KEEP_COUNT; i++) {
    watched[0].changed();
    await flush();
  }
  assert.equal(spawner.of("init").length, 1 + REPLAY_KEEP_COUNT);
  watched[0].changed();
  await flush();
  assert.equal(spawner.of("init").length, 1 + REPLAY_KEEP_COUNT, "put off");
  assert.ok(lines.some((l) => /init replays keep failing/.test(l.msg)));
  failing = false;
  await clock.advance(REPLAY_WINDOW_MS);
  await flush();
  const replayed = spawner.of("init").at(-1)!;
  assert.equal(spawner.of("init").length, 2 + REPLAY_KEEP_COUNT, "replayed once the window passed");
  assert.equal(watched[0].released, true, "a replay that succeeded replaces the old watches");
  replayed.markIdle(WATCHING);
  await flush();
  assert.equal(watched.length, 2);
  await cleanup();
});

Deno.test("ProcessSystem says why a package host that never answers idle is kept", async () => {
  const { log, lines } = recordingLog();
  const { spawner, system, clock, cleanup } = setup({ log });
  await system.init({ eventId: "init-1", kind: null });
  await clock.advance(HOST_KEPT_NOTICE_MS);
  assert.equal(spawner.of("init")[0].killed, false);
  assert.ok(lines.some((l) => /kept: 10 s after init it still holds something/.test(l.msg)));
  await cleanup();
});
