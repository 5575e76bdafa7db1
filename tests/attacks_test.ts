/**
 * Attacks from a hostile package, each through the profile a real call would get, each refused:
 * channel takeover, processes escaping the teardown, Unix sockets by symlink, effects after the
 * answer, forged callback ids, runaway memory, output floods, another package's code from a
 * read-only profile.
 */

import assert from "node:assert/strict";
import {
  fixture,
  leaderPid,
  type PackageRuntime,
  processExists,
  runAction,
  startPackageRuntime,
} from "./helpers/package_runtime.ts";
import { eventually, within } from "./helpers/sdk_within.ts";

const HOSTILE = fixture("hostile");

async function withHostile(
  options: { policy?: string; args?: string[] },
  body: (rt: PackageRuntime) => Promise<void>,
): Promise<void> {
  const rt = await startPackageRuntime({ package: HOSTILE, ...options });
  try {
    await body(rt);
  } finally {
    await rt.close();
  }
}

Deno.test("attack: a sandbox child cannot take the channel over; the next children are unaffected", async () => {
  await withHostile({}, async (rt) => {
    const sandbox = await rt.client.call("sandbox", {
      id: "sb-1",
      procedure: "/actions/takeover/run",
      input: { input: null },
      timeout: 30_000,
    });
    // Its own endpoint is its own to break (and already gone: the runtime accepted its one
    // connection and removed it); nothing of the runtime's or of another child's is reachable.
    assert.deepEqual(sandbox.result, {
      listBase: "NotCapable",
      removeBase: "NotCapable",
      listenInBase: "NotCapable",
      chmodOwn: "NotFound",
      removeOwn: "NotFound",
      listenOwn: "NotFound",
    });
    // main and later calls get endpoints of their own and work.
    assert.deepEqual(await rt.client.call("start"), { result: null });
    assert.ok(rt.host.callsOf("set-health").some((c) => c.params.id === "main"));
    assert.deepEqual(await rt.client.call("execute", runAction("forge-callback")), {
      result: null,
    });
    assert.ok(!rt.runtime.stderr.some((line) => /a victim connected/.test(line)));
    assert.deepEqual(await rt.client.call("stop"), { result: null });
  });
});

Deno.test("attack: grandchildren that leave the process group (setsid -f, detached) die at the timeout", async () => {
  const policy = `{ "profiles": { "run": { "run": ["setsid", "sh"] } } }`;
  await withHostile({ policy }, async (rt) => {
    const outcome = await rt.client.call("execute", runAction("escape", null, "esc-1", 1500));
    assert.equal(outcome.error?.code, 71);
    const pids = rt.runtime.stderr.flatMap((line) => {
      const match = line.match(/host-pid (\d+)/);
      return match ? [Number(match[1])] : [];
    });
    assert.equal(pids.length, 2, `both escapees reported their pid: ${pids}`);
    // They were killed with the child's PID namespace (the kernel ends it with its init).
    await eventually(() => pids.every((pid) => !processExists(pid)), 5_000, "escapees gone");
  });
});

Deno.test("attack: main cannot reach host.sock through a symlink planted in a volume", async () => {
  const root = await Deno.makeTempDir({ prefix: "startos-attack-" });
  const link = `${root}/h.sock`;
  const rt = await startPackageRuntime({ package: HOSTILE, env: { HOSTILE_UNIX: link } });
  try {
    // Planted by someone with write access to a volume; main may read and write volumes.
    await Deno.symlink(`${rt.root}/rpc/host.sock`, link);
    assert.deepEqual(await rt.client.call("start"), { result: null });
    const report = await within(
      rt.host.waitFor("set-health", (p) => p.id === "unix"),
      10_000,
      "report",
    );
    // main's network grant is TCP/UDP only: no unix: path, whatever its spelling.
    assert.equal(report.params.message, "NotCapable");
    assert.equal(rt.host.peers.size, 1, "the host saw only the runtime's own connection");
    assert.deepEqual(await rt.client.call("stop"), { result: null });
  } finally {
    await rt.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("attack: effects after the answer are refused and logged, even while the child serves the next call", async () => {
  await withHostile({}, async (rt) => {
    assert.deepEqual(await rt.client.call("execute", runAction("late-effect", null, "late-1")), {
      result: "answered",
    });
    // The same child (reused) is busy with another call when the late effect fires.
    assert.deepEqual(await rt.client.call("execute", runAction("wait", 300, "next-1")), {
      result: "waited",
    });
    const refusal = await within(
      rt.runtime.waitForLog(/effect after its call was answered: refused/),
      5_000,
      "the late effect's refusal",
    );
    assert.match(refusal ?? "", /method=set-health event=late-1/);
    await within(rt.runtime.waitForLog(/late-effect: Effect not allowed/), 5_000, "the error");
    assert.ok(!rt.host.callsOf("set-health").some((c) => c.params.id === "late"));
  });
});

Deno.test("attack: a callback id the package puts in params never reaches the host", async () => {
  await withHostile({}, async (rt) => {
    await rt.client.call("execute", runAction("forge-callback", null, "fc-1"));
    const forged = rt.host.callsOf("set-health").find((c) => c.params.id === "forged");
    assert.ok(forged);
    assert.equal("callback" in forged.params, false);
  });
});

Deno.test("attack: runaway memory ends the child with a clear out-of-memory error", async () => {
  const policy = `{ "profiles": { "run": { "heapMb": 64 } } }`;
  await withHostile({ policy }, async (rt) => {
    const outcome = await rt.client.call("execute", runAction("hog", null, "hog-1", 60_000));
    assert.equal(outcome.error?.code, 59);
    assert.equal(outcome.error?.message, "The run process ran out of memory");
    assert.match(outcome.error?.data?.details ?? "", /heap limit \(64 MB\)/);
    assert.deepEqual(await rt.client.call("execute", runAction("forge-callback")), {
      result: null,
    });
  });
});

Deno.test("attack: an output flood is cut to the rate limit with a note of what was dropped", async () => {
  await withHostile({}, async (rt) => {
    const outcome = await rt.client.call("execute", runAction("flood", null, "fl-1"));
    assert.equal(outcome.result, "flooded");
    const count = (pattern: RegExp) =>
      rt.runtime.stderr.reduce((sum, line) => sum + Number(line.match(pattern)?.[1] ?? 0), 0);
    const dropped = () => count(/(\d+) output lines dropped: over 500 lines\/s/);
    const logged = () => rt.runtime.stderr.filter((line) => /flood line \d+/.test(line)).length;
    // Every line is either logged or counted in a drop note (notes come within a second).
    await eventually(() => logged() + dropped() === 50_000, 10_000, "every line accounted for");
    assert.ok(logged() < 10_000, `${logged()} flood lines logged`);
  });
});

Deno.test("attack: a read-only profile cannot make the host run another package's action code", async () => {
  await withHostile({}, async (rt) => {
    const outcome = await rt.client.call("execute", {
      id: "fi-1",
      procedure: "/actions/foreign-input/getInput",
      input: { prefill: null },
      timeout: 30_000,
    });
    assert.equal(outcome.error?.code, 34);
    assert.match(outcome.error?.data?.details ?? "", /may not call action\.get-input/);
    assert.equal(rt.host.callsOf("action.get-input").length, 0);
  });
});

for (
  const [mode, details] of [
    ["silent", /the init#1 child said no hello within 500 ms/],
    ["wrong-token", /the init#1 child did not present its token on its channel/],
  ] as const
) {
  Deno.test(`attack: a child entry that is ${mode} on its channel is killed and its call fails clearly`, async () => {
    const rt = await startPackageRuntime({
      package: HOSTILE,
      init: false,
      args: ["--load-timeout", "500", "--log-level", "debug"],
      env: { STARTOS_WORKER_ENTRY: fixture("entries", "silent.ts"), SILENT_MODE: mode },
    });
    try {
      const init = await within(rt.client.call("init", { id: "i-1", kind: null }), 10_000, "init");
      assert.equal(init.error?.code, 59);
      assert.equal(init.error?.message, "The init process did not start");
      assert.match(init.error?.data?.details ?? "", details);
      await eventually(
        () => !processExists(leaderPid(rt.runtime.stderr, "init#1")),
        5_000,
        "the child killed",
      );
    } finally {
      await rt.close();
    }
  });
}
