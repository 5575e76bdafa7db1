import assert from "node:assert/strict";
import { eventually, within } from "./helpers/sdk_within.ts";
import { RpcError } from "../lib/jsonrpc/errors.ts";
import { FakeHost } from "./helpers/fake_host.ts";
import {
  childOf,
  leaderPid,
  processExists,
  runAction,
  startPackageRuntime,
} from "./helpers/package_runtime.ts";

Deno.test("each profile's permissions are enforced and answered 34 while the runtime keeps serving", async () => {
  const rt = await startPackageRuntime();
  try {
    for (const action of ["read-outside", "write-outside", "net", "spawn"]) {
      const outcome = await rt.client.call("execute", runAction(action));
      assert.equal(outcome.error?.code, 34, `${action}: ${JSON.stringify(outcome)}`);
      assert.match(
        outcome.error?.data?.details ?? "",
        /the run profile does not allow this: Requires \w+ access/,
      );
    }
    const write = await rt.client.call("sandbox", runAction("write-volume", "x"));
    assert.equal(write.error?.code, 34);
    assert.match(write.error?.data?.details ?? "", /sandbox profile.*write access/);
    // What the profiles do allow still works.
    assert.deepEqual(await rt.client.call("execute", runAction("read-volume")), {
      result: "volume data",
    });
    assert.deepEqual(await rt.client.call("execute", runAction("write-volume", "hi")), {
      result: "written",
    });
    assert.equal(await Deno.readTextFile(`${rt.root}/volumes/main/written.txt`), "hi");
    assert.equal(typeof (await rt.client.call("execute", runAction("env"))).result, "string");
  } finally {
    await rt.close();
  }
});

Deno.test("getInput reads volumes but cannot write; sandbox refuses mutating effects, answers secrets as getInput", async () => {
  const rt = await startPackageRuntime();
  try {
    const read = await rt.client.call("execute", {
      id: "gi",
      procedure: "/actions/read-volume/getInput",
      input: { prefill: null },
      timeout: null,
    });
    assert.deepEqual(read, { result: "volume data" });
    const mutate = await rt.client.call("sandbox", runAction("set-health"));
    assert.equal(mutate.error?.code, 34);
    assert.match(mutate.error?.data?.details ?? "", /sandbox profile .* may not call set-health/);
    // A getInput that reads a secret answers in the sandbox what it answers in execute.
    const secretInput = { procedure: "/actions/set-health/getInput", input: { prefill: null } };
    const secret = await rt.client.call("sandbox", { id: "s", ...secretInput, timeout: null });
    const executed = await rt.client.call("execute", { id: "s", ...secretInput, timeout: null });
    assert.equal(secret.error, undefined, JSON.stringify(secret));
    assert.deepEqual(secret, executed);
    assert.equal(rt.host.callsOf("set-health").length, 0);
    // Both getInputs, and the one the sandboxed run computed first (its input spec).
    assert.equal(rt.host.callsOf("get-ssl-key").length, 3);
    // The same action outside the sandbox reaches the host.
    assert.deepEqual(await rt.client.call("execute", runAction("set-health")), { result: null });
    assert.equal(rt.host.callsOf("set-health").length, 1);
  } finally {
    await rt.close();
  }
});

Deno.test("effects reach the host with kebab names and the caller's eventId", async () => {
  const rt = await startPackageRuntime();
  try {
    const init = rt.host.callsOf("set-data-version")[0];
    assert.deepEqual(init.params, { version: "init:install", eventId: "init-1" });
    const outcome = await rt.client.call("execute", runAction("effects10", null, "event-77"));
    assert.deepEqual(outcome, { result: "event-77" });
    const calls = rt.host.callsOf("get-status").filter((c) => c.params.eventId === "event-77");
    assert.equal(calls.length, 10);
    assert.ok(calls.every((c) => c.params.callback === null));
  } finally {
    await rt.close();
  }
});

Deno.test("a callback registered in init fires once: init is replayed once for the retired host", async () => {
  const rt = await startPackageRuntime();
  try {
    const registered = await rt.host.waitFor("get-status", (p) => p.eventId === "init-1");
    const id = registered.params.callback as number;
    assert.equal(typeof id, "number");
    await within(rt.runtime.waitForLog(/but what it watches: retired/), 10_000, "the retirement");
    rt.client.notify("callback", { id, args: ["changed", 2] });
    await rt.host.waitFor("get-status", (p) => p.callback !== id);
    rt.client.notify("callback", { id, args: ["again"] });
    rt.client.notify("callback", { id: 99999, args: [] });
    // exit waits for a replay in progress; uninit runs after the repeated callbacks were handled.
    assert.deepEqual(await rt.client.call("exit", { id: "bye", target: null }), { result: null });
    assert.equal(rt.host.callsOf("get-status").length, 2, "one replay");
    assert.equal(
      rt.host.callsOf("set-data-version").filter((c) => c.params.version === "init:null").length,
      1,
    );
  } finally {
    await rt.close();
  }
});

Deno.test("a busy-looping action with timeout 500 is answered 71 and its process is gone", async () => {
  const rt = await startPackageRuntime({ args: ["--log-level", "debug"] });
  try {
    const started = Date.now();
    const outcome = await rt.client.call("execute", runAction("busy", null, "busy-1", 500));
    const elapsed = Date.now() - started;
    assert.equal(outcome.error?.code, 71);
    assert.ok(elapsed < 3000, `answered after ${elapsed} ms`);
    const line = await rt.runtime.waitForLog(/busy pid \d+/);
    assert.equal(processExists(leaderPid(rt.runtime.stderr, childOf(line))), false);
    assert.deepEqual(await rt.client.call("execute", runAction("noop")), { result: null });
  } finally {
    await rt.close();
  }
});

Deno.test("stop ends a daemon that ignores SIGTERM and its grandchild within the stop timeout", async () => {
  const rt = await startPackageRuntime({
    args: ["--stop-timeout", "1000"],
    env: { FIXTURE_MAIN: "stubborn" },
    policy: `{ "profiles": { "main": { "run": ["sh", "sleep"] } } }`,
  });
  try {
    assert.deepEqual(await rt.client.call("start"), { result: null });
    assert.deepEqual(await rt.client.call("start"), { result: null }); // still one main
    const line = await rt.runtime.waitForLog(/daemon \d+ grandchild \d+/);
    const [, daemon, grandchild] = line!.match(/daemon (\d+) grandchild (\d+)/)!.map(Number);
    assert.ok(processExists(daemon) && processExists(grandchild));
    const started = Date.now();
    assert.deepEqual(await rt.client.call("stop"), { result: null });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2000, `stop took ${elapsed} ms`);
    assert.equal(processExists(daemon), false);
    assert.equal(processExists(grandchild), false);
    assert.deepEqual(await rt.client.call("stop"), { result: null });
    assert.equal(rt.host.callsOf("set-health").filter((c) => c.params.id === "main").length, 1);
  } finally {
    await rt.close();
  }
});

for (
  const [target, expected] of [
    ["1.2.3:0", "uninit:version:1.2.3:0"],
    [">=1.0.0:0", "uninit:range:>=1.0.0:0"],
    [null, "uninit:null:"],
  ] as const
) {
  Deno.test(`exit with target ${JSON.stringify(target)} runs uninit with the parsed target and tears down`, async () => {
    const rt = await startPackageRuntime();
    try {
      assert.deepEqual(await rt.client.call("exit", { id: "exit-1", target }), { result: null });
      const status = await rt.runtime.status;
      assert.equal(status.code, 0);
      const uninit = rt.host.callsOf("set-data-version").map((c) => c.params).at(-1);
      assert.deepEqual(uninit, { version: expected, eventId: "exit-1" });
      await assert.rejects(Deno.lstat(rt.runtime.socket), Deno.errors.NotFound);
    } finally {
      await rt.close();
    }
  });
}

Deno.test("an unparsable exit target is refused -32602 and the runtime keeps running", async () => {
  const rt = await startPackageRuntime();
  try {
    const outcome = await rt.client.call("exit", { id: "x", target: ">>nonsense" });
    assert.equal(outcome.error?.code, -32602);
    const empty = await rt.client.call("exit", { id: "x", target: "" });
    assert.equal(empty.error?.code, -32602);
    assert.match(empty.error?.data?.details ?? "", /send null for an uninstall/);
    assert.deepEqual(await rt.client.call("execute", runAction("noop")), { result: null });
  } finally {
    await rt.close();
  }
});

Deno.test("the host going away mid-action gives a clear error, and effects work once it is back", async () => {
  const rt = await startPackageRuntime();
  try {
    rt.host.handlers.set("get-os-ip", () => {
      rt.host.close();
      return new Promise(() => {});
    });
    const failed = await rt.client.call("execute", runAction("host-effect"));
    assert.equal(failed.error?.code, 1);
    assert.match(failed.error?.message ?? "", /host connection closed|host is not reachable/);
    const down = await rt.client.call("execute", runAction("host-effect"));
    assert.match(down.error?.data?.details ?? "", /cannot connect to the host socket/);
    const back = FakeHost.listen(rt.host.path);
    try {
      back.handlers.set("get-os-ip", () => "10.0.0.1");
      assert.deepEqual(await rt.client.call("execute", runAction("host-effect")), {
        result: "10.0.0.1",
      });
    } finally {
      back.close();
    }
  } finally {
    await rt.close();
  }
});

Deno.test("package errors keep their code; unknown actions are 6; crashes are reported", async () => {
  const rt = await startPackageRuntime();
  try {
    assert.deepEqual((await rt.client.call("execute", runAction("known"))).error, {
      code: 36,
      message: "the action refused",
    });
    assert.deepEqual((await rt.client.call("execute", runAction("known-plain"))).error, {
      code: 1,
      message: "plain known error",
    });
    const thrown = await rt.client.call("execute", runAction("throws"));
    assert.equal(thrown.error?.code, 59);
    assert.equal(thrown.error?.message, "boom");
    assert.match(thrown.error?.data?.debug ?? "", /TypeError: boom/);
    const missing = await rt.client.call("execute", runAction("no-such-action"));
    assert.equal(missing.error?.code, 6);
    const crash = await rt.client.call("execute", runAction("crash"));
    assert.equal(crash.error?.code, 59);
    assert.match(crash.error?.message ?? "", /exited with code 3/);
    const bad = await rt.client.call("execute", {
      id: "x",
      procedure: "/actions/../run",
      input: null,
      timeout: null,
    });
    assert.equal(bad.error?.code, -32602);
  } finally {
    await rt.close();
  }
});

Deno.test("package output never disturbs the channel and is logged with the child's name", async () => {
  const rt = await startPackageRuntime();
  try {
    assert.deepEqual(await rt.client.call("execute", runAction("garbage")), { result: "clean" });
    const forged = await rt.runtime.waitForLog(/"result":"forged"/);
    assert.match(forged!, /child=run#\d+/);
    assert.match(await rt.runtime.waitForLog(/to stderr/) ?? "", /stream=stderr/);
  } finally {
    await rt.close();
  }
});

Deno.test("concurrent executes each get their own answer", async () => {
  const rt = await startPackageRuntime();
  try {
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) => rt.client.call("execute", runAction("echo", i, `p${i}`))),
    );
    assert.deepEqual(outcomes.map((o) => o.result), [0, 1, 2, 3, 4, 5].map((i) => ({ got: i })));
  } finally {
    await rt.close();
  }
});

Deno.test("a package that cannot be loaded fails init with its path, and init can be retried", async () => {
  const rt = await startPackageRuntime({ package: "/nonexistent/index.js", init: false });
  try {
    const outcome = await rt.client.call("init", { id: "i", kind: null });
    assert.equal(outcome.error?.code, 6);
    assert.match(outcome.error?.message ?? "", /\/nonexistent\/index\.js does not exist/);
    // The operator sees why in the runtime's log, not only the host in its answer.
    assert.ok(
      rt.runtime.stderr.some((line) =>
        line.includes("the package could not be loaded") && line.includes("/nonexistent/index.js")
      ),
      rt.runtime.stderr.join("\n"),
    );
    const again = await rt.client.call("init", { id: "i2", kind: null });
    assert.equal(again.error?.code, 6);
    assert.equal((await rt.client.call("start")).error?.code, 40);
  } finally {
    await rt.close();
  }
});

Deno.test("SIGKILL of the runtime leaves no child running", async () => {
  const rt = await startPackageRuntime({
    args: ["--log-level", "debug"],
    env: { FIXTURE_MAIN: "stubborn" },
    policy: `{ "profiles": { "main": { "run": ["sh", "sleep"] } } }`,
  });
  try {
    assert.deepEqual(await rt.client.call("start"), { result: null });
    const line = await rt.runtime.waitForLog(/daemon \d+ grandchild \d+/);
    const pids = line!.match(/daemon (\d+) grandchild (\d+)/)!.slice(1).map(Number);
    for (const spawned of rt.runtime.stderr.filter((l) => / spawned /.test(l))) {
      pids.push(Number(spawned.match(/pid=(\d+)/)![1]));
    }
    assert.ok(pids.length >= 4);
    rt.runtime.child.kill("SIGKILL");
    await rt.runtime.status;
    await eventually(
      () => pids.every((pid) => !processExists(pid)),
      5000,
      "every child to be gone",
    );
  } finally {
    await rt.close();
  }
});

export { RpcError };
