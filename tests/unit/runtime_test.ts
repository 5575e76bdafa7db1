/**
 * The lifecycle of `Runtime` and its method handlers, against a `FakeSystem`: which method is
 * answered what in which state, and what reaches the system.
 */

import assert from "node:assert/strict";
import { JsonRpcCode } from "../../lib/jsonrpc/errors.ts";
import { ErrorKind } from "../../lib/protocol/error_codes.ts";
import { Runtime, RUNTIME_TRANSITIONS, type State } from "../../lib/service/runtime.ts";
import { IllegalTransition, transition } from "../../lib/state_machine.ts";
import { assertRpcError, FakeSystem, flush, silentLog, watch } from "./fakes.ts";

const CONTEXT = { id: 1, signal: new AbortController().signal };

/** Valid params of every method. */
const PARAMS = {
  init: { id: "init-1", kind: "install" },
  exit: { id: "exit-1", target: null },
  start: {},
  stop: null,
  execute: { id: "exec-1", procedure: "/actions/greet/run", input: { input: 1 }, timeout: null },
  sandbox: { id: "sb-1", procedure: "/actions/greet/getInput", input: { prefill: null } },
  callback: { id: 3, args: ["a"] },
  eval: { script: "1 + 1" },
} as const;

type Method = keyof typeof PARAMS;
const METHODS = Object.keys(PARAMS) as Method[];
/** Methods that need a successful init. */
const GATED: Method[] = ["start", "execute", "sandbox", "callback"];

function setup(options: { dev?: boolean; checkTarget?: (target: string) => string | null } = {}) {
  const system = new FakeSystem();
  const runtime = new Runtime({ system, log: silentLog, dev: options.dev ?? false, ...options });
  /** Sends one request; a synchronous throw becomes a rejection. */
  const request = (method: string, params: unknown = PARAMS[method as Method]) =>
    Promise.resolve().then(() => runtime.handleRequest(method, params, CONTEXT));
  return { system, runtime, request };
}

async function initialized() {
  const t = setup();
  assert.equal(await t.request("init"), null);
  assert.equal(t.runtime.state, "initialized");
  return t;
}

Deno.test("Runtime answers 40 to start, execute, sandbox and callback before init", async () => {
  const { system, request } = setup();
  for (const method of GATED) {
    await assertRpcError(request(method), ErrorKind.Uninitialized, new RegExp(`^${method} `));
  }
  assert.deepEqual(system.calls, []);
  assert.deepEqual(system.callbacks, []);
});

Deno.test("Runtime answers 40 to start, execute, sandbox and callback while init runs", async () => {
  const { system, runtime, request } = setup();
  system.held.add("init");
  const init = request("init");
  await flush();
  assert.equal(runtime.state, "initializing");
  for (const method of GATED) await assertRpcError(request(method), ErrorKind.Uninitialized);
  assert.deepEqual(system.calls.map((c) => c.method), ["init"]);
  system.of("init")[0].answer.resolve(undefined);
  assert.equal(await init, null);
});

Deno.test("Runtime answers 40 to start, execute, sandbox and callback after a failed init", async () => {
  const { system, runtime, request } = setup();
  system.failing.set("init", new Error("init blew up"));
  await assert.rejects(request("init"), /init blew up/);
  assert.equal(runtime.state, "fresh");
  for (const method of GATED) await assertRpcError(request(method), ErrorKind.Uninitialized);
  assert.deepEqual(system.calls.map((c) => c.method), ["init"]);
});

Deno.test("Runtime serves start, execute, sandbox and callback after init", async () => {
  const { system, request } = await initialized();
  assert.equal(await request("start"), null);
  assert.deepEqual(await request("execute"), { ok: true });
  assert.deepEqual(await request("sandbox"), { ok: true });
  assert.equal(await request("callback"), null);
  assert.deepEqual(system.calls.map((c) => c.method), ["init", "start", "execute", "execute"]);
  assert.deepEqual(system.callbacks, [{ id: 3, args: ["a"] }]);
});

Deno.test("Runtime.handleRequest passes a validated ExecuteRequest to the system", async () => {
  const { system, request } = await initialized();
  await request("execute", { ...PARAMS.execute, timeout: 500 });
  await request("sandbox");
  await request("execute", { id: "b", procedure: "/backup/create", input: null });
  assert.deepEqual(system.of("execute").map((c) => c.args), [
    {
      eventId: "exec-1",
      procedure: { kind: "run", actionId: "greet" },
      input: { input: 1 },
      timeoutMs: 500,
      sandbox: false,
    },
    {
      eventId: "sb-1",
      procedure: { kind: "getInput", actionId: "greet" },
      input: { prefill: null },
      timeoutMs: null,
      sandbox: true,
    },
    { eventId: "b", procedure: { kind: "backup" }, input: null, timeoutMs: null, sandbox: false },
  ]);
});

Deno.test("Runtime.handleRequest answers -32602 to a bad procedure or input, without a call", async () => {
  const { system, request } = await initialized();
  await assertRpcError(
    request("execute", { ...PARAMS.execute, procedure: "/actions/../run" }),
    JsonRpcCode.InvalidParams,
    /procedure/,
  );
  await assertRpcError(
    request("execute", { ...PARAMS.execute, input: { prefill: null } }),
    JsonRpcCode.InvalidParams,
    /input of \/actions\/greet\/run/,
  );
  assert.equal(system.of("execute").length, 0);
});

Deno.test("Runtime.handleRequest validates params before the lifecycle: -32602, not 40", async () => {
  const { system, request } = setup();
  await assertRpcError(request("execute", { id: 1 }), JsonRpcCode.InvalidParams, /execute:/);
  assert.deepEqual(system.calls, []);
});

Deno.test("Runtime stop before init answers null (there is nothing to stop)", async () => {
  const { system, runtime, request } = setup();
  assert.equal(await request("stop"), null);
  assert.equal(await request("stop", {}), null);
  assert.equal(await request("stop", undefined), null);
  assert.equal(runtime.state, "fresh");
  // The system is asked (it has no main yet, so it resolves at once).
  assert.equal(system.of("stop").length, 3);
});

Deno.test("Runtime init after a successful init is a no-op", async () => {
  const { system, runtime, request } = await initialized();
  assert.equal(await request("init", { id: "init-2", kind: "update" }), null);
  assert.equal(system.of("init").length, 1);
  assert.deepEqual(system.of("init")[0].args, { eventId: "init-1", kind: "install" });
  assert.equal(runtime.state, "initialized");
});

Deno.test("Runtime concurrent inits join one system init", async () => {
  const { system, runtime, request } = setup();
  system.held.add("init");
  const first = watch(request("init"));
  const second = watch(request("init", { id: "init-2", kind: null }));
  await flush();
  assert.equal(system.of("init").length, 1);
  assert.equal(first.settled || second.settled, false, "both wait for the one init");
  system.of("init")[0].answer.resolve(undefined);
  assert.deepEqual(await Promise.all([first.promise, second.promise]), [null, null]);
  assert.equal(runtime.state, "initialized");
});

Deno.test("Runtime concurrent inits share a failure", async () => {
  const { system, request } = setup();
  system.held.add("init");
  const first = request("init");
  const second = request("init");
  await flush();
  system.of("init")[0].answer.reject(new Error("boom"));
  await assert.rejects(first, /boom/);
  await assert.rejects(second, /boom/);
  assert.equal(system.of("init").length, 1);
});

Deno.test("Runtime after a failed init is fresh again and init can be retried", async () => {
  const { system, runtime, request } = setup();
  system.failing.set("init", new Error("first try fails"));
  await assert.rejects(request("init"), /first try fails/);
  assert.equal(runtime.state, "fresh");
  system.failing.delete("init");
  assert.equal(await request("init", { id: "init-2", kind: null }), null);
  assert.equal(runtime.state, "initialized");
  assert.deepEqual(system.of("init").map((c) => c.args), [
    { eventId: "init-1", kind: "install" },
    { eventId: "init-2", kind: null },
  ]);
});

Deno.test("Runtime exit before init calls system.exit with uninit false", async () => {
  const { system, runtime, request } = setup();
  assert.equal(await request("exit", { id: "bye", target: "1.0.0" }), null);
  assert.deepEqual(system.of("exit").map((c) => c.args), [
    { eventId: "bye", target: "1.0.0", uninit: false },
  ]);
  assert.equal(runtime.state, "exiting");
  await runtime.exitRequested;
});

Deno.test("Runtime exit after a failed init calls system.exit with uninit false", async () => {
  const { system, runtime, request } = setup();
  system.failing.set("init", new Error("no"));
  await assert.rejects(request("init"));
  await request("exit");
  assert.deepEqual(system.of("exit")[0].args, { eventId: "exit-1", target: null, uninit: false });
  await runtime.exitRequested;
});

Deno.test("Runtime exit while init runs calls system.exit with uninit false", async () => {
  const { system, runtime, request } = setup();
  system.held.add("init");
  const init = request("init");
  await flush();
  await request("exit");
  assert.deepEqual(system.of("exit")[0].args, { eventId: "exit-1", target: null, uninit: false });
  // The init finishing afterwards does not bring the runtime back to life.
  system.of("init")[0].answer.resolve(undefined);
  assert.equal(await init, null);
  assert.equal(runtime.state, "exiting");
  await assertRpcError(request("start"), ErrorKind.Cancelled);
  await runtime.exitRequested;
});

Deno.test("Runtime exit after init calls system.exit with uninit true", async () => {
  const { system, runtime, request } = await initialized();
  assert.equal(await request("exit", { id: "bye", target: null }), null);
  assert.deepEqual(system.of("exit")[0].args, { eventId: "bye", target: null, uninit: true });
  await runtime.exitRequested;
});

Deno.test("Runtime answers 73 to every request once exit began", async () => {
  const { system, runtime, request } = await initialized();
  system.held.add("exit");
  const exit = request("exit");
  await flush();
  assert.equal(runtime.state, "exiting");
  for (const method of METHODS) {
    await assertRpcError(request(method), ErrorKind.Cancelled, /exiting/);
  }
  runtime.handleNotification("callback", { id: 9, args: [] });
  await flush();
  assert.deepEqual(system.callbacks, []);
  assert.deepEqual(system.calls.map((c) => c.method), ["init", "exit"]);
  system.of("exit")[0].answer.resolve(undefined);
  assert.equal(await exit, null);
  await assertRpcError(request("stop"), ErrorKind.Cancelled);
  await runtime.exitRequested;
});

Deno.test("Runtime.exitRequested resolves only after exit is answered", async () => {
  const { system, runtime, request } = setup();
  system.held.add("exit");
  const order: string[] = [];
  const exit = request("exit").then(() => order.push("answered"));
  runtime.exitRequested.then(() => order.push("exit requested"));
  await flush();
  assert.deepEqual(order, [], "not while system.exit runs");
  system.of("exit")[0].answer.resolve(undefined);
  await exit;
  await runtime.exitRequested;
  assert.deepEqual(order, ["answered", "exit requested"]);
});

Deno.test("Runtime.exitRequested resolves after a failed exit too", async () => {
  const { system, runtime, request } = await initialized();
  system.failing.set("exit", new Error("uninit failed"));
  await assert.rejects(request("exit"), /uninit failed/);
  await runtime.exitRequested;
  assert.equal(runtime.state, "exiting");
});

Deno.test("Runtime.beginShutdown makes every later request answer 73", async () => {
  const { system, runtime, request } = await initialized();
  runtime.beginShutdown();
  assert.equal(runtime.state, "gone");
  for (const method of METHODS) await assertRpcError(request(method), ErrorKind.Cancelled);
  runtime.beginShutdown(); // a second SIGTERM is harmless
  assert.equal(runtime.state, "gone");
  assert.deepEqual(system.calls.map((c) => c.method), ["init"]);
});

Deno.test("Runtime.beginShutdown works in every state", async () => {
  for (const before of ["fresh", "initializing", "exiting"] as const) {
    const { system, runtime, request } = setup();
    system.held.add("init");
    system.held.add("exit");
    if (before === "initializing") request("init").catch(() => {});
    if (before === "exiting") request("exit").catch(() => {});
    await flush();
    assert.equal(runtime.state, before);
    runtime.beginShutdown();
    assert.equal(runtime.state, "gone");
    await assertRpcError(request("stop"), ErrorKind.Cancelled);
    for (const call of system.calls) call.answer.resolve(undefined);
    if (before === "exiting") await runtime.exitRequested;
  }
});

Deno.test("Runtime exit with an empty target answers -32602 and changes nothing", async () => {
  const { system, runtime, request } = await initialized();
  for (const target of ["", "   "]) {
    await assertRpcError(
      request("exit", { id: "x", target }),
      JsonRpcCode.InvalidParams,
      /empty target/,
    );
  }
  assert.equal(runtime.state, "initialized");
  assert.equal(system.of("exit").length, 0);
  assert.equal(await request("start"), null, "the runtime still serves");
});

Deno.test("Runtime exit with a target checkTarget refuses answers -32602 and changes nothing", async () => {
  const seen: string[] = [];
  const { system, runtime, request } = setup({
    checkTarget: (target) => {
      seen.push(target);
      return target === "1.0.0" ? null : "not a version";
    },
  });
  await assertRpcError(
    request("exit", { id: "x", target: "nope" }),
    JsonRpcCode.InvalidParams,
    /params\.target: not a version/,
  );
  assert.equal(runtime.state, "fresh");
  assert.equal(system.of("exit").length, 0);
  assert.equal(await request("exit", { id: "x", target: "1.0.0" }), null);
  assert.deepEqual(seen, ["nope", "1.0.0"]);
  await runtime.exitRequested;
});

Deno.test("Runtime answers -32601 to an unknown method in every state", async () => {
  const { system, runtime, request } = setup();
  await assertRpcError(request("reboot", {}), JsonRpcCode.MethodNotFound, /reboot.*init, exit/);
  await request("init");
  await assertRpcError(request("toString", {}), JsonRpcCode.MethodNotFound);
  runtime.beginShutdown();
  await assertRpcError(request("__proto__", {}), JsonRpcCode.MethodNotFound);
  assert.deepEqual(system.calls.map((c) => c.method), ["init"]);
});

Deno.test("Runtime answers -32601 to eval without dev, before and after init", async () => {
  const { request } = setup();
  await assertRpcError(request("eval"), JsonRpcCode.MethodNotFound, /--dev/);
  await request("init");
  await assertRpcError(request("eval"), JsonRpcCode.MethodNotFound, /--dev/);
});

Deno.test("Runtime evaluates eval with dev, before init", async () => {
  const { request } = setup({ dev: true });
  assert.equal(await request("eval", { script: "1 + 1" }), 2);
  assert.equal(await request("eval", { script: "Promise.resolve(undefined)" }), null);
  await assertRpcError(request("eval", { script: "throw new Error('x')" }), ErrorKind.Javascript);
});

Deno.test("Runtime.handleNotification delivers callback only after init", async () => {
  const { system, runtime, request } = setup();
  runtime.handleNotification("callback", { id: 1, args: [] });
  runtime.handleNotification("callback", { id: "bad" });
  await flush();
  assert.deepEqual(system.callbacks, []);
  await request("init");
  runtime.handleNotification("callback", { id: 2, args: [true] });
  runtime.handleNotification("callback", { id: 4 });
  runtime.handleNotification("start", {});
  await flush();
  assert.deepEqual(system.callbacks, [{ id: 2, args: [true] }, { id: 4, args: [] }]);
  assert.equal(system.of("start").length, 0, "only callback is served as a notification");
});

Deno.test("RUNTIME_TRANSITIONS rejects an illegal move", () => {
  const illegal: [State, State][] = [
    ["fresh", "initialized"],
    ["initialized", "fresh"],
    ["initialized", "initializing"],
    ["exiting", "fresh"],
    ["exiting", "initialized"],
    ["gone", "fresh"],
    ["gone", "exiting"],
  ];
  for (const [from, to] of illegal) {
    assert.throws(
      () => transition("runtime", RUNTIME_TRANSITIONS, from, to),
      (error) => error instanceof IllegalTransition && error.message.includes(`${from} → ${to}`),
      `${from} → ${to}`,
    );
  }
});

Deno.test("RUNTIME_TRANSITIONS allows the documented lifecycle", () => {
  const legal: [State, State][] = [
    ["fresh", "initializing"],
    ["initializing", "initialized"],
    ["initializing", "fresh"],
    ["initialized", "exiting"],
    ["exiting", "gone"],
  ];
  for (const state of ["fresh", "initializing", "initialized"] as const) {
    legal.push([state, "exiting"], [state, "gone"]);
  }
  for (const [from, to] of legal) {
    assert.equal(transition("runtime", RUNTIME_TRANSITIONS, from, to), to);
  }
});

/** What a method gets in a state: served (answered or still running in the system), 40 or 73. */
type Outcome = "served" | typeof ErrorKind.Uninitialized | typeof ErrorKind.Cancelled;

/** Each state × method: the outcome and the state after (init and exit stay held). */
const EXPECTED: Record<State, Record<Method, [Outcome, State]>> = (() => {
  const row = (gated: Outcome, init: State, others: State) =>
    Object.fromEntries(METHODS.map((method) => {
      if (method === "init") return [method, ["served", init]];
      if (method === "exit") return [method, ["served", "exiting"]];
      return [method, [GATED.includes(method) ? gated : "served", others]];
    })) as Record<Method, [Outcome, State]>;
  const stays = (state: State) =>
    Object.fromEntries(
      METHODS.map((method) => [method, [ErrorKind.Cancelled, state]]),
    ) as Record<Method, [Outcome, State]>;
  return {
    fresh: row(ErrorKind.Uninitialized, "initializing", "fresh"),
    initializing: row(ErrorKind.Uninitialized, "initializing", "initializing"),
    initialized: row("served", "initialized", "initialized"),
    exiting: stays("exiting"),
    gone: stays("gone"),
  };
})();

/** A runtime in `state` whose system holds init and exit. */
async function runtimeIn(state: State) {
  const t = setup({ dev: true });
  t.system.held.add("init");
  t.system.held.add("exit");
  if (state === "initializing" || state === "initialized") t.request("init").catch(() => {});
  await flush();
  if (state === "initialized") {
    t.system.of("init")[0].answer.resolve(undefined);
    await flush();
  }
  if (state === "exiting") t.request("exit").catch(() => {});
  if (state === "gone") t.runtime.beginShutdown();
  await flush();
  assert.equal(t.runtime.state, state);
  return t;
}

Deno.test("Runtime: each method in each state is answered and moves as the table says", async () => {
  for (const state of Object.keys(EXPECTED) as State[]) {
    for (const method of METHODS) {
      const { runtime, request, system } = await runtimeIn(state);
      const [outcome, after] = EXPECTED[state][method];
      let got: Outcome = "served";
      request(method).catch((error) => got = error.code);
      await flush();
      assert.equal(got, outcome, `${method} in ${state}`);
      assert.equal(runtime.state, after, `state after ${method} in ${state}`);
      if (after !== state) {
        assert.ok(
          (RUNTIME_TRANSITIONS[state] as readonly State[]).includes(after),
          `${state} → ${after} is in RUNTIME_TRANSITIONS`,
        );
      }
      for (const call of system.calls) call.answer.resolve(undefined);
      await flush();
    }
  }
});

Deno.test("Runtime: concurrent inits join the one that runs; its end after exit moves nothing", async () => {
  const { runtime, request, system } = await runtimeIn("initializing");
  const second = request("init");
  await flush();
  assert.equal(system.of("init").length, 1, "the second init joins the first");
  const exit = request("exit");
  await flush();
  assert.equal(runtime.state, "exiting");
  system.of("init")[0].answer.reject(new Error("init failed late"));
  await assert.rejects(second, /init failed late/);
  assert.equal(runtime.state, "exiting", "a failed init does not bring back fresh once exiting");
  system.of("exit")[0].answer.resolve(undefined);
  assert.equal(await exit, null);
  await runtime.exitRequested;
});
