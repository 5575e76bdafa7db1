import assert from "node:assert/strict";
import { StartSdk, type T } from "@start9labs/start-sdk";
import { CallbackRegistry } from "../lib/worker/callbacks.ts";
import {
  createEffects,
  type EffectsOptions,
  type EffectsTransport,
  leaveContext,
  type WorkerEffects,
} from "../lib/worker/effects.ts";
import { EFFECT_METHODS } from "../lib/protocol/effects.ts";

interface Call {
  method: string;
  params: Record<string, unknown>;
  callbackId: number | null;
}

class FakeTransport implements EffectsTransport {
  calls: Call[] = [];
  drops: number[][] = [];
  constructor(
    public reply: (method: string, params: Record<string, unknown>) => unknown = () => null,
  ) {}
  call(method: string, params: Record<string, unknown>, callbackId: number | null) {
    this.calls.push({ method, params, callbackId });
    try {
      return Promise.resolve(this.reply(method, params));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  dropCallbacks(ids: number[]): void {
    this.drops.push(ids);
  }
}

function setup(extra: Partial<EffectsOptions> = {}) {
  const transport = new FakeTransport();
  const errors: unknown[] = [];
  const callbacks = new CallbackRegistry((e) => errors.push(e));
  const effects = createEffects({
    transport,
    callbacks,
    eventId: "ev-1",
    onError: (e) => errors.push(e),
    ...extra,
  });
  return { transport, callbacks, effects, errors };
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The function at a wire method name's path in the object. */
function methodAt(effects: WorkerEffects, method: string): (options?: unknown) => Promise<unknown> {
  let target: unknown = effects;
  for (const segment of method.split(".").map(camel)) {
    target = (target as Record<string, unknown>)[segment];
  }
  assert.equal(typeof target, "function", method);
  return target as (options?: unknown) => Promise<unknown>;
}

const BRIEF_METHODS = [
  "action.export",
  "action.clear",
  "action.get-input",
  "action.run",
  "action.create-task",
  "action.clear-tasks",
  "subcontainer.create-fs",
  "subcontainer.destroy-fs",
  "notification.create",
  "plugin.url.register",
  "plugin.url.export-url",
  "plugin.url.clear-urls",
  "bind",
  "bind-range",
  "clear-bindings",
  "clear-callbacks",
  "clear-service-interfaces",
  "check-dependencies",
  "export-service-interface",
  "export-range-service-interface",
  "get-container-ip",
  "get-data-version",
  "get-dependencies",
  "get-host-info",
  "get-installed-packages",
  "get-os-ip",
  "get-outbound-gateway",
  "get-service-interface",
  "get-service-manifest",
  "get-service-port-forward",
  "get-ssl-certificate",
  "get-ssl-key",
  "get-status",
  "get-system-smtp",
  "list-service-interfaces",
  "mount",
  "restart",
  "set-backup-progress",
  "set-data-version",
  "set-dependencies",
  "set-health",
  "set-init-progress",
  "set-main-status",
  "shutdown",
];

const CALLBACK_METHODS = [
  "get-container-ip",
  "get-host-info",
  "get-outbound-gateway",
  "get-service-interface",
  "get-service-manifest",
  "get-ssl-certificate",
  "get-status",
  "get-system-smtp",
  "list-service-interfaces",
];

// Compile-time: the same keys as the SDK's Effects, at every level.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const shapeMatches: [
  Same<keyof T.Effects, keyof WorkerEffects>,
  Same<keyof T.Effects["action"], keyof WorkerEffects["action"]>,
  Same<keyof T.Effects["notification"], keyof WorkerEffects["notification"]>,
  Same<keyof T.Effects["subcontainer"], keyof WorkerEffects["subcontainer"]>,
  Same<keyof T.Effects["plugin"], keyof WorkerEffects["plugin"]>,
  Same<keyof T.Effects["plugin"]["url"], keyof WorkerEffects["plugin"]["url"]>,
] = [true, true, true, true, true, true];

Deno.test("EFFECT_METHODS is exactly the protocol's list", () => {
  assert.deepEqual(shapeMatches, [true, true, true, true, true, true]);
  assert.deepEqual([...EFFECT_METHODS].sort(), [...BRIEF_METHODS].sort());
  assert.equal(new Set(EFFECT_METHODS).size, EFFECT_METHODS.length);
});

Deno.test("createEffects() reaches every method under its name, sending {} and no callback", async () => {
  const { transport, effects } = setup();
  for (const method of EFFECT_METHODS) {
    assert.equal(await methodAt(effects, method)({}), null);
  }
  assert.deepEqual(
    transport.calls,
    EFFECT_METHODS.map((method) => ({ method, params: {}, callbackId: null })),
  );

  // Walking the object finds no other effect functions.
  const found: string[] = [];
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [key, value] of Object.entries(obj)) {
      const kebab = key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
      if (typeof value === "function") {
        if (prefix === "" && ["child", "onLeaveContext", "constRetry"].includes(key)) continue;
        found.push(prefix + kebab);
      } else if (typeof value === "object" && value !== null) {
        walk(value as Record<string, unknown>, prefix + key + ".");
      }
    }
  };
  walk(effects as unknown as Record<string, unknown>, "");
  assert.deepEqual(found.sort(), [...EFFECT_METHODS].sort());
  assert.equal(effects.eventId, "ev-1");
  assert.equal(effects.isInContext, true);
});

Deno.test("createEffects() sends {} for no-argument effects whatever they are given", async () => {
  const { transport, effects } = setup();
  await effects.restart();
  await effects.getOsIp({ junk: 1 });
  assert.deepEqual(transport.calls.map((c) => c.params), [{}, {}]);
});

Deno.test("createEffects() forwards params unchanged and returns the host's result", async () => {
  const { transport, effects } = setup();
  transport.reply = (method) => method === "get-ssl-certificate" ? ["a", "b", "c"] : "ok";
  const bind = {
    id: "ui",
    internalPort: 80,
    preferredExternalPort: 80,
    addSsl: null,
    secure: { ssl: false },
  };
  assert.equal(await effects.bind(bind), "ok");
  const run = { packageId: "p", actionId: "a", input: { nested: [1, { x: null }] } };
  await effects.action.run(run);
  await effects.plugin.url.exportUrl({ hostnameInfo: { h: 1 }, removeAction: null });
  assert.deepEqual(
    await effects.getSslCertificate({ hostnames: ["h"], algorithm: "ed25519" }),
    ["a", "b", "c"],
  );
  await effects.clearCallbacks({ only: [1, 2] });
  assert.deepEqual(transport.calls, [
    { method: "bind", params: bind, callbackId: null },
    { method: "action.run", params: run, callbackId: null },
    {
      method: "plugin.url.export-url",
      params: { hostnameInfo: { h: 1 }, removeAction: null },
      callbackId: null,
    },
    {
      method: "get-ssl-certificate",
      params: { hostnames: ["h"], algorithm: "ed25519" },
      callbackId: null,
    },
    { method: "clear-callbacks", params: { only: [1, 2] }, callbackId: null },
  ]);
});

Deno.test("createEffects() rejects non-object options with a TypeError", async () => {
  const { transport, effects } = setup();
  await assert.rejects(() => effects.bind("x" as never), TypeError);
  await assert.rejects(() => effects.mount([1] as never), TypeError);
  assert.equal(transport.calls.length, 0);
});

Deno.test("createEffects() turns callback functions into ids that fire once", async () => {
  const { transport, callbacks, effects } = setup();
  let fired = 0;
  const seenArgs: unknown[][] = [];
  const cb = (...args: unknown[]) => {
    fired++;
    seenArgs.push(args);
  };
  for (const method of CALLBACK_METHODS) {
    await methodAt(effects, method)({ packageId: "p", callback: cb });
  }
  assert.deepEqual(
    transport.calls,
    CALLBACK_METHODS.map((method, i) => ({
      method,
      params: { packageId: "p" },
      callbackId: i + 1,
    })),
  );
  assert.equal(callbacks.fire(1, ["x"]), true);
  assert.equal(callbacks.fire(1, ["x"]), false);
  assert.equal(fired, 1);
  assert.deepEqual(seenArgs, [["x"]]);
  assert.equal(callbacks.has(1), false);
  assert.equal(callbacks.has(2), true);

  // Effects that take no callback do not register one (the function is just stripped).
  await effects.getSslKey({ hostnames: ["h"], callback: cb } as never);
  assert.deepEqual(transport.calls.at(-1), {
    method: "get-ssl-key",
    params: { hostnames: ["h"] },
    callbackId: null,
  });
  assert.equal(callbacks.size, CALLBACK_METHODS.length - 1);

  // A fired callback is no longer outstanding: leaving drops only the others.
  leaveContext(effects);
  assert.deepEqual(transport.drops, [[2, 3, 4, 5, 6, 7, 8, 9]]);
  assert.equal(callbacks.size, 0);
});

Deno.test("CallbackRegistry reports callback errors to onError and never throws", async () => {
  const errors: unknown[] = [];
  const registry = new CallbackRegistry((e) => errors.push(e));
  const a = registry.register(() => {
    throw new Error("sync");
  });
  const b = registry.register(() => Promise.reject(new Error("async")));
  assert.equal(registry.fire(a, []), true);
  assert.equal(registry.fire(b, []), true);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(errors.map((e) => (e as Error).message), ["sync", "async"]);
  const c = registry.register(() => {});
  registry.forget([c, 999]);
  assert.equal(registry.fire(c, []), false);
  assert.equal(registry.register(() => {}), 4);
});

Deno.test("leaveContext() leaves children first, runs onLeave functions and drops unfired callbacks", async () => {
  const { transport, callbacks, effects } = setup();
  const order: string[] = [];
  const a = effects.child("a");
  const aa = a.child("aa");
  const b = effects.child("b");
  assert.equal(a.eventId, "ev-1");
  assert.equal(aa.isInContext, true);
  effects.onLeaveContext(() => order.push("root"));
  a.onLeaveContext(() => order.push("a"));
  aa.onLeaveContext(() => order.push("aa"));
  b.onLeaveContext(() => order.push("b"));
  await effects.getStatus({ callback: () => {} }); // 1, root
  await aa.getStatus({ callback: () => {} }); // 2, aa
  await aa.getStatus({ callback: () => {} }); // 3, aa (fired below)
  await b.getHostInfo({ hostId: "h", callback: () => {} }); // 4, b
  assert.deepEqual(transport.calls.map((c) => c.callbackId), [1, 2, 3, 4]);
  callbacks.fire(3, []);

  leaveContext(effects);
  assert.deepEqual(order, ["aa", "a", "b", "root"]);
  assert.deepEqual(transport.drops, [[2], [4], [1]]);
  for (const e of [effects, a, aa, b]) assert.equal(e.isInContext, false);
  assert.equal(callbacks.size, 0);

  // Idempotent.
  leaveContext(effects);
  leaveContext(aa);
  assert.deepEqual(order, ["aa", "a", "b", "root"]);
  assert.equal(transport.drops.length, 3);
});

Deno.test("leaveContext() on a child keeps the parent in context", async () => {
  const { transport, effects } = setup();
  const c = effects.child("c");
  await c.getContainerIp({ callback: () => {} });
  await effects.getContainerIp({ callback: () => {} });
  leaveContext(c);
  assert.equal(c.isInContext, false);
  assert.equal(effects.isInContext, true);
  assert.deepEqual(transport.drops, [[1]]);
  leaveContext(effects);
  assert.deepEqual(transport.drops, [[1], [2]]);
});

Deno.test("child() with a reused name leaves the previous child", async () => {
  const { transport, effects } = setup();
  const left: string[] = [];
  const first = effects.child("init_0");
  first.onLeaveContext(() => left.push("first"));
  await first.getSystemSmtp({ callback: () => {} });
  const second = effects.child("init_0");
  assert.deepEqual(left, ["first"]);
  assert.equal(first.isInContext, false);
  assert.equal(second.isInContext, true);
  assert.deepEqual(transport.drops, [[1]]);
  second.onLeaveContext(() => left.push("second"));
  leaveContext(first); // already left: no effect on its successor
  assert.equal(second.isInContext, true);
  leaveContext(effects);
  assert.deepEqual(left, ["first", "second"]);
});

Deno.test("createEffects() gives constRetry to the root only; children accept assignment", () => {
  const retry = () => {};
  const { effects } = setup({ constRetry: retry });
  assert.equal(effects.constRetry, retry);
  const child = effects.child("x");
  assert.equal(child.constRetry, undefined);
  const childRetry = () => {};
  child.constRetry = childRetry;
  assert.equal(child.constRetry, childRetry);
  assert.equal(effects.constRetry, retry);
  assert.equal(setup().effects.constRetry, undefined);
  assert.throws(() => {
    (effects as { eventId: string | null }).eventId = "other";
  }, TypeError);
  assert.equal(effects.eventId, "ev-1");
});

Deno.test("leaveContext() leaves effects usable but registers no more callbacks", async () => {
  const { transport, callbacks, effects, errors } = setup();
  leaveContext(effects);
  assert.equal(effects.isInContext, false);
  let ran = false;
  assert.equal(await effects.getContainerIp({ packageId: "p", callback: () => {} }), null);
  assert.deepEqual(transport.calls, [
    { method: "get-container-ip", params: { packageId: "p" }, callbackId: null },
  ]);
  assert.equal(callbacks.size, 0);
  // onLeaveContext on a left context runs soon; a child of it is born left.
  effects.onLeaveContext(() => {
    ran = true;
  });
  await Promise.resolve();
  assert.equal(ran, true);
  const child = effects.child("late");
  assert.equal(child.isInContext, false);
  await child.getStatus({ callback: () => {} });
  assert.equal(transport.calls.at(-1)?.callbackId, null);
  assert.deepEqual(transport.drops, []);
  assert.deepEqual(errors, []);
});

Deno.test("onLeaveContext() errors are reported and later functions still run", async () => {
  const { effects, errors } = setup();
  const ran: number[] = [];
  effects.onLeaveContext(() => {
    throw new Error("one");
  });
  effects.onLeaveContext(() => Promise.reject(new Error("two")));
  effects.onLeaveContext(() => ran.push(3));
  leaveContext(effects);
  await Promise.resolve();
  assert.deepEqual(ran, [3]);
  assert.deepEqual(errors.map((e) => (e as Error).message), ["one", "two"]);
  assert.throws(() => leaveContext({} as WorkerEffects), TypeError);
});

Deno.test("createEffects() rejects with the transport's error and drops its callback", async () => {
  const { transport, callbacks, effects } = setup();
  transport.reply = () => {
    throw Object.assign(new Error("host says no"), { code: -1, data: { why: "x" } });
  };
  await assert.rejects(
    () => effects.getHostInfo({ hostId: "h", callback: () => {} }),
    (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.equal(e.message, "host says no");
      assert.equal((e as Error & { code: number }).code, -1);
      return true;
    },
  );
  await assert.rejects(() => effects.restart(), { message: "host says no" });
  assert.equal(callbacks.size, 0);
  assert.deepEqual(transport.drops, [[1]]);
  leaveContext(effects);
  assert.deepEqual(transport.drops, [[1]]);
});

Deno.test("createEffects() supports the SDK's setupInit with getContainerIp().const()", async () => {
  const sdk = StartSdk.of()
    .withManifest(
      { id: "x", volumes: [], images: {}, dependencies: {} } as unknown as T.SDKManifest,
    )
    .build(true);
  let ip = "10.0.3.5";
  const { transport, callbacks, effects, errors } = setup();
  transport.reply = (method) => method === "get-container-ip" ? ip : null;
  const seen: string[] = [];
  const init = sdk.setupInit(async (e) => {
    seen.push(await sdk.getContainerIp(e).const());
  });
  await init({ effects: effects as unknown as T.Effects, kind: "install" });
  assert.deepEqual(seen, ["10.0.3.5"]);
  const ipCalls = () => transport.calls.filter((c) => c.method === "get-container-ip");
  assert.deepEqual(ipCalls(), [{ method: "get-container-ip", params: {}, callbackId: 1 }]);
  assert.ok(transport.calls.some((c) => c.method === "set-init-progress"));

  // The host reports a change: the watcher refetches, sees a new value, calls the child's
  // constRetry, and setupInit re-runs the step in a fresh `init_0` child (leaving the old one).
  ip = "10.0.3.6";
  assert.equal(callbacks.fire(1, []), true);
  for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(seen, ["10.0.3.5", "10.0.3.6"]);
  assert.deepEqual(ipCalls().map((c) => c.callbackId), [1, 2, 3]);
  assert.deepEqual(transport.drops, [[2]]);
  assert.deepEqual([callbacks.has(2), callbacks.has(3)], [false, true]);

  leaveContext(effects);
  assert.deepEqual(transport.drops, [[2], [3]]);
  assert.equal(callbacks.size, 0);
  await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(errors, []);
});
