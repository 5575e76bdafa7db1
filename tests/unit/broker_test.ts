/**
 * `EffectsBroker` against a fake host and fake children: allowlists, `eventId`, runtime-wide
 * callback ids and their cleanup.
 */

import assert from "node:assert/strict";
import { EFFECT_RATE, EffectsBroker } from "../../lib/effects/broker.ts";
import type { EffectParams } from "../../lib/protocol/channel.ts";
import { ErrorKind } from "../../lib/protocol/error_codes.ts";
import { assertRpcError, FakeBrokerChild, FakeHost, silentLog } from "./fakes.ts";

function setup() {
  const host = new FakeHost();
  const broker = new EffectsBroker(host, silentLog);
  /** One effect call; a synchronous throw becomes a rejection. */
  const effect = (
    child: FakeBrokerChild,
    method: string,
    params: Record<string, unknown> = {},
    callback: number | null = null,
  ) => {
    const call: EffectParams = { method, params, callback };
    return Promise.resolve().then(() => broker.handle(child, call));
  };
  /** Registers `localId` through a callback effect; answers the runtime-wide id the host saw. */
  const register = async (child: FakeBrokerChild, localId: number) => {
    await effect(child, "get-status", { packageId: null }, localId);
    return host.calls.at(-1)!.params.callback as number;
  };
  return { host, broker, effect, register };
}

Deno.test("EffectsBroker.handle adds the child's eventId and answers the host's result", async () => {
  const { host, effect } = setup();
  host.answer = (method) => ({ answered: method });
  const child = new FakeBrokerChild("run", { eventId: "ev-1" });
  const result = await effect(child, "set-health", { id: "web", eventId: "forged" });
  assert.deepEqual(result, { answered: "set-health" });
  assert.deepEqual(host.calls, [{ method: "set-health", params: { id: "web", eventId: "ev-1" } }]);
});

Deno.test("EffectsBroker.handle drops a package-supplied eventId when the child has none", async () => {
  const { host, effect } = setup();
  const main = new FakeBrokerChild("main", { eventId: null });
  await effect(main, "set-health", { id: "web", eventId: "forged" });
  assert.deepEqual(host.calls[0].params, { id: "web" });
});

Deno.test("EffectsBroker.handle refuses an effect outside the profile with 34 naming the profile", async () => {
  const { host, effect } = setup();
  const getInput = new FakeBrokerChild("getInput", { eventId: "ev-1" });
  await assertRpcError(
    effect(getInput, "set-health", { id: "web" }),
    ErrorKind.Authorization,
    /the getInput profile \(effects: read-only\) may not call set-health/,
  );
  const sandbox = new FakeBrokerChild("sandbox", { eventId: "ev-2" });
  const noSecrets = new FakeBrokerChild("sandbox", {
    eventId: "ev-3",
    effects: "read-only-no-secrets",
  });
  await assertRpcError(
    effect(noSecrets, "get-ssl-key", {}),
    ErrorKind.Authorization,
    /the sandbox profile \(effects: read-only-no-secrets\) may not call get-ssl-key/,
  );
  await assertRpcError(effect(sandbox, "action.run", {}), ErrorKind.Authorization, /sandbox/);
  assert.deepEqual(host.calls, [], "a refused effect never reaches the host");
  assert.deepEqual(host.quiet, []);
});

Deno.test("EffectsBroker.handle lets each profile call what its access allows", async () => {
  const { host, effect } = setup();
  await effect(new FakeBrokerChild("getInput"), "get-status", {});
  await effect(new FakeBrokerChild("getInput"), "get-ssl-key", {});
  await effect(new FakeBrokerChild("sandbox"), "list-service-interfaces", {});
  await effect(new FakeBrokerChild("run"), "action.create-task", {});
  assert.deepEqual(host.calls.map((c) => c.method), [
    "get-status",
    "get-ssl-key",
    "list-service-interfaces",
    "action.create-task",
  ]);
});

Deno.test("EffectsBroker.handle answers 6 to an unknown effect", async () => {
  const { host, effect } = setup();
  const child = new FakeBrokerChild("init", { eventId: "ev-1" });
  await assertRpcError(effect(child, "format-disk", {}), ErrorKind.NotFound, /format-disk/);
  await assertRpcError(effect(child, "getStatus", {}), ErrorKind.NotFound);
  assert.deepEqual(host.calls, []);
});

Deno.test("EffectsBroker.handle gives callbacks runtime-wide ids and deliver maps them back", async () => {
  const { broker, register } = setup();
  const a = new FakeBrokerChild("main");
  const b = new FakeBrokerChild("run");
  const aId = await register(a, 1);
  const bId = await register(b, 1);
  assert.equal(typeof aId, "number");
  assert.notEqual(aId, bId, "the same local id in two children is two callbacks");
  broker.deliver(bId, ["changed"]);
  assert.deepEqual(b.delivered, [{ localId: 1, args: ["changed"] }]);
  assert.deepEqual(a.delivered, []);
  broker.deliver(aId, [1, 2]);
  assert.deepEqual(a.delivered, [{ localId: 1, args: [1, 2] }]);
});

Deno.test("EffectsBroker.deliver fires a callback once and ignores unknown ids", async () => {
  const { broker, register } = setup();
  const child = new FakeBrokerChild("main");
  const id = await register(child, 5);
  broker.deliver(id, []);
  broker.deliver(id, []);
  broker.deliver(id + 100, []);
  assert.deepEqual(child.delivered, [{ localId: 5, args: [] }]);
});

Deno.test("EffectsBroker.handle registers nothing for an effect without a callback", async () => {
  const { host, broker, effect } = setup();
  const child = new FakeBrokerChild("main");
  await effect(child, "get-status", {}, null);
  await effect(child, "set-health", { id: "web" }, 3);
  assert.equal(host.calls[0].params.callback, null);
  assert.equal("callback" in host.calls[1].params, false);
  broker.childExited(child);
  assert.deepEqual(host.quiet, [], "no callback was registered, so none is cleared");
});

Deno.test("EffectsBroker.handle registers no callbacks for a sandbox child", async () => {
  const { host, broker, effect } = setup();
  const sandbox = new FakeBrokerChild("sandbox", { eventId: "ev-1" });
  await effect(sandbox, "get-status", {}, 1);
  assert.equal(host.calls[0].params.callback, null);
  broker.deliver(1, []);
  assert.deepEqual(sandbox.delivered, []);
  broker.childExited(sandbox);
  assert.deepEqual(host.quiet, []);
});

Deno.test("EffectsBroker.handle translates clear-callbacks from the package to runtime-wide ids", async () => {
  const { host, broker, effect, register } = setup();
  const child = new FakeBrokerChild("main");
  const other = new FakeBrokerChild("run");
  const [g1, g2, g3] = [
    await register(child, 1),
    await register(child, 2),
    await register(child, 3),
  ];
  const otherId = await register(other, 1);
  const forwarded = host.calls.length;

  assert.equal(await effect(child, "clear-callbacks", { only: [1, 3] }), null);
  assert.deepEqual(host.quiet, [{ method: "clear-callbacks", params: { only: [g1, g3] } }]);
  assert.equal(host.calls.length, forwarded, "the package's own ids are never forwarded as is");

  const g4 = await register(child, 4);
  await effect(child, "clear-callbacks", { except: [2] });
  assert.deepEqual(host.quiet.at(-1), { method: "clear-callbacks", params: { only: [g4] } });
  await effect(child, "clear-callbacks", {});
  assert.deepEqual(host.quiet.at(-1), { method: "clear-callbacks", params: { only: [g2] } });

  for (const id of [g1, g2, g3, g4]) broker.deliver(id, []);
  assert.deepEqual(child.delivered, [], "cleared callbacks never fire");
  broker.deliver(otherId, []);
  assert.deepEqual(other.delivered, [{ localId: 1, args: [] }], "another child's are untouched");
});

Deno.test("EffectsBroker.handle clear-callbacks cannot clear another child's callbacks", async () => {
  const { host, broker, effect, register } = setup();
  const owner = new FakeBrokerChild("main");
  const id = await register(owner, 7);
  const intruder = new FakeBrokerChild("run");
  await register(intruder, 50);
  await effect(intruder, "clear-callbacks", { only: [7, id] });
  assert.deepEqual(host.quiet, []);
  broker.deliver(id, []);
  assert.deepEqual(owner.delivered, [{ localId: 7, args: [] }]);
});

Deno.test("EffectsBroker.childExited clears the child's unfired callbacks at the host", async () => {
  const { host, broker, register } = setup();
  const child = new FakeBrokerChild("run");
  const fired = await register(child, 1);
  const pending = await register(child, 2);
  const other = new FakeBrokerChild("main");
  const otherId = await register(other, 1);
  broker.deliver(fired, []);
  broker.childExited(child);
  assert.deepEqual(host.quiet, [{ method: "clear-callbacks", params: { only: [pending] } }]);
  broker.deliver(pending, []);
  assert.deepEqual(child.delivered, [{ localId: 1, args: [] }], "nothing fires after the exit");
  broker.childExited(child);
  assert.equal(host.quiet.length, 1, "a second exit notice clears nothing more");
  broker.deliver(otherId, []);
  assert.equal(other.delivered.length, 1);
});

Deno.test("EffectsBroker.dropCallbacks forgets the child's dead ids and tells the host", async () => {
  const { host, broker, register } = setup();
  const child = new FakeBrokerChild("main");
  const g1 = await register(child, 1);
  const g2 = await register(child, 2);
  broker.dropCallbacks(child, [1, 99]);
  assert.deepEqual(host.quiet, [{ method: "clear-callbacks", params: { only: [g1] } }]);
  broker.deliver(g1, []);
  broker.deliver(g2, ["x"]);
  assert.deepEqual(child.delivered, [{ localId: 2, args: ["x"] }]);
});

Deno.test("EffectsBroker.reportMainStopped sends set-main-status stopped to the host", () => {
  const { host, broker } = setup();
  broker.reportMainStopped();
  assert.deepEqual(host.quiet, [{ method: "set-main-status", params: { status: "stopped" } }]);
  assert.deepEqual(host.calls, []);
});

Deno.test("EffectsBroker.handle refuses a procedure child's effects after its answer, but lets cleanup through", async () => {
  const { host, effect } = setup();
  const child = new FakeBrokerChild("run", { eventId: "ev-1" });
  child.inCall = false;
  await assertRpcError(
    effect(child, "set-health"),
    ErrorKind.Authorization,
    /set-health refused: call ev-1 of the run child was answered/,
  );
  assert.equal(host.calls.length, 0);
  // The subcontainer this call created while it ran may be destroyed after its answer.
  host.answer = (method) => method === "subcontainer.create-fs" ? ["/rootfs/g", "g"] : null;
  child.inCall = true;
  await effect(child, "subcontainer.create-fs", { imageId: "main", name: null });
  child.inCall = false;
  await effect(child, "subcontainer.destroy-fs", { guid: "g" });
  assert.deepEqual(host.calls.at(-1), {
    method: "subcontainer.destroy-fs",
    params: { guid: "g", eventId: "ev-1" },
  });
  // main and the package host have no per-call context.
  const main = new FakeBrokerChild("main");
  main.inCall = false;
  await effect(main, "set-health");
  assert.equal(host.calls.at(-1)?.method, "set-health");
});

Deno.test("EffectsBroker.handle strips a callback id the child put in params itself", async () => {
  const { host, effect } = setup();
  const child = new FakeBrokerChild("run", { eventId: "ev-1" });
  await effect(child, "set-health", { callback: 7, id: "x" });
  assert.deepEqual(host.calls.at(-1)?.params, { id: "x", eventId: "ev-1" });
});

Deno.test("EffectsBroker.handle refuses effects beyond the per-child rate", async () => {
  const host = new FakeHost();
  // A budget the test cannot refill by being slow: 100 at once, then one every 1000 s.
  const broker = new EffectsBroker(host, silentLog, { perSecond: 0.001, burst: 100 });
  const child = new FakeBrokerChild("main");
  const send = (who: FakeBrokerChild) =>
    Promise.resolve().then(() =>
      broker.handle(who, { method: "get-os-ip", params: {}, callback: null })
    );
  const outcomes = await Promise.allSettled(Array.from({ length: 150 }, () => send(child)));
  const refused = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
  assert.equal(refused.length, 50);
  assert.equal(refused[0].reason.code, ErrorKind.Authorization);
  assert.match(refused[0].reason.data.details, /more than 0\.001 effects\/s \(burst 100\)/);
  // Another child has its own budget.
  await send(new FakeBrokerChild("main"));
  // The default is 1000 effects/s with bursts of 5000.
  assert.deepEqual(EFFECT_RATE, { perSecond: 1000, burst: 5000 });
});

Deno.test("EffectsBroker.handle lets a child destroy only subcontainers it created, after its answer only its call's", async () => {
  const { host, effect, broker } = setup();
  host.answer = (method, params) =>
    method === "subcontainer.create-fs" ? [`/rootfs/${params.name}`, String(params.name)] : null;
  const main = new FakeBrokerChild("main");
  await effect(main, "subcontainer.create-fs", { imageId: "main", name: "main-sub" });
  const run = new FakeBrokerChild("run", { eventId: "ev-1" });
  await effect(run, "subcontainer.create-fs", { imageId: "main", name: "run-1" });
  // Another child's subcontainer, or one nobody created: refused, the host never hears of it.
  const before = host.calls.length;
  await assertRpcError(
    effect(run, "subcontainer.destroy-fs", { guid: "main-sub" }),
    ErrorKind.Authorization,
    /"main-sub" is not a subcontainer the run#\d+ child created/,
  );
  await assertRpcError(
    effect(run, "subcontainer.destroy-fs", { guid: "made-up" }),
    ErrorKind.Authorization,
  );
  assert.equal(host.calls.length, before);
  // After ev-1 was answered and ev-2 runs, ev-1's cleanup may still destroy run-1 only.
  run.eventId = "ev-2";
  await effect(run, "subcontainer.create-fs", { imageId: "main", name: "run-2" });
  run.inCall = false;
  // ev-1's late cleanup (its effects object carries ev-1) cannot destroy what ev-2 created.
  const late = (guid: string) =>
    Promise.resolve().then(() =>
      broker.handle(run, {
        method: "subcontainer.destroy-fs",
        params: { guid },
        callback: null,
        eventId: "ev-1",
      })
    );
  await assertRpcError(late("run-2"), ErrorKind.Authorization, /was not created by call ev-1/);
  await late("run-1");
  assert.deepEqual(host.calls.at(-1), {
    method: "subcontainer.destroy-fs",
    params: { guid: "run-1", eventId: "ev-1" },
  });
  // A child that exits leaves nothing behind: the host is told to destroy what it kept.
  broker.childExited(main);
  assert.deepEqual(host.quiet.at(-1), {
    method: "subcontainer.destroy-fs",
    params: { guid: "main-sub" },
  });
});

Deno.test("EffectsBroker destroys a subcontainer whose create-fs answer came after its child exited", async () => {
  const { host, effect, broker } = setup();
  let made!: (result: unknown) => void;
  host.answer = (method) =>
    method === "subcontainer.create-fs" ? new Promise((resolve) => made = resolve) : null;
  const main = new FakeBrokerChild("main");
  // main asks, then dies (killed on a failure) before the host answers.
  const asked = effect(main, "subcontainer.create-fs", { imageId: "main", name: "caddy" });
  await Promise.resolve();
  broker.childExited(main);
  assert.deepEqual(host.quiet, []);
  made(["/rootfs/caddy", "caddy-guid"]);
  assert.deepEqual(await asked, ["/rootfs/caddy", "caddy-guid"]);
  assert.deepEqual(host.quiet, [
    { method: "subcontainer.destroy-fs", params: { guid: "caddy-guid" } },
  ]);
  // Nothing of it is kept: a second exit destroys nothing more.
  broker.childExited(main);
  assert.equal(host.quiet.length, 1);
});

Deno.test("EffectsBroker.handle bounds the bytes of effects waiting for a slow host, per child", async () => {
  const host = new FakeHost();
  const answers: (() => void)[] = [];
  host.answer = () => new Promise<null>((resolve) => answers.push(() => resolve(null)));
  const broker = new EffectsBroker(host, silentLog);
  const child = new FakeBrokerChild("main");
  const big = "x".repeat(1024 * 1024);
  const send = (who: FakeBrokerChild) =>
    Promise.resolve().then(() =>
      broker.handle(who, { method: "set-health", params: { message: big }, callback: null })
    );
  const first = Array.from({ length: 7 }, () => send(child));
  await assertRpcError(
    send(child),
    ErrorKind.Authorization,
    /bytes of effects waiting for the host/,
  );
  assert.equal(host.calls.length, 7);
  // Once the host answers, the budget is free again.
  answers.forEach((answer) => answer());
  await Promise.all(first);
  host.answer = () => null;
  await Promise.all([send(child), send(child)]);
  assert.equal(host.calls.length, 9);
});

Deno.test("EffectsBroker.handle bounds the effects of all children together", async () => {
  const host = new FakeHost();
  // A clock that does not move: no bucket refills while the test runs.
  const broker = new EffectsBroker(host, silentLog, EFFECT_RATE, undefined, () => 0);
  // Each child stays within its own rate; together they pass the container's burst.
  const children = Array.from({ length: 2 }, () => new FakeBrokerChild("main"));
  const outcomes = await Promise.allSettled(
    Array.from(
      { length: 5_200 },
      (_, i) =>
        Promise.resolve().then(() =>
          broker.handle(children[i % 2], { method: "get-os-ip", params: {}, callback: null })
        ),
    ),
  );
  const refused = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
  assert.equal(refused.length, 200);
  assert.match(refused[0].reason.data.details, /all children together send more than 2000/);
  assert.equal(host.calls.length, 5_000);
});

Deno.test("EffectsBroker.handle lets getInput and sandbox make and destroy subcontainers of their own call only", async () => {
  for (const role of ["getInput", "sandbox"] as const) {
    const { host, effect } = setup();
    host.answer = (method, params) =>
      method === "subcontainer.create-fs"
        ? [`/media/startos/subcontainers/${params.name}`, "g1"]
        : null;
    const child = new FakeBrokerChild(role, { eventId: "ev-1" });
    const other = new FakeBrokerChild(role, { eventId: "ev-2" });
    assert.deepEqual(
      await effect(child, "subcontainer.create-fs", { imageId: "main", name: "x" }),
      [
        "/media/startos/subcontainers/x",
        "g1",
      ],
    );
    await assertRpcError(
      effect(other, "subcontainer.destroy-fs", { guid: "g1" }),
      ErrorKind.Authorization,
      /is not a subcontainer the .* child created/,
    );
    await effect(child, "subcontainer.destroy-fs", { guid: "g1" });
    assert.deepEqual(host.calls.map((c) => [c.method, c.params.eventId]), [
      ["subcontainer.create-fs", "ev-1"],
      ["subcontainer.destroy-fs", "ev-1"],
    ]);
    // Still no write: the effect table's classes decide, not the name.
    await assertRpcError(
      effect(child, "set-health", { id: "x" }),
      ErrorKind.Authorization,
      /may not call set-health/,
    );
  }
});

Deno.test("EffectsBroker.adopt takes a retired host's callbacks over until released", async () => {
  const { host, broker, register } = setup();
  const init = new FakeBrokerChild("init", { eventId: "init-1" });
  const first = await register(init, 1);
  const second = await register(init, 2);
  let fired = 0;
  const adopted = broker.adopt(init, () => fired++);
  assert.equal(adopted.count, 2);
  broker.childExited(init); // the host is killed: its callbacks stay registered at the host
  assert.deepEqual(host.quiet, []);
  broker.deliver(first, ["changed"]);
  assert.equal(fired, 1, "the adopter is called, not the child");
  assert.deepEqual(init.delivered, []);
  adopted.release(); // init is replayed: the ones still registered are dropped at the host
  assert.deepEqual(host.quiet, [{ method: "clear-callbacks", params: { only: [second] } }]);
  broker.deliver(second, []);
  assert.equal(fired, 1);
});
