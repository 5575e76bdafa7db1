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
  serveCreateFs,
  startPackageRuntime,
} from "./helpers/package_runtime.ts";
import { eventually, within } from "./helpers/sdk_within.ts";

const HOSTILE = fixture("hostile");

async function withHostile(
  options: { policy?: string; args?: string[]; env?: Record<string, string> },
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
    // Its own endpoint is gone (the runtime accepted its one connection and removed it) and its
    // grant on that path revoked; nothing of the runtime's or of another child's is reachable.
    // Every attempt was refused; the package caught each, and a sandbox answer after a denial is
    // 34 naming the denials (lib/worker/denials.ts).
    assert.equal(sandbox.error?.code, 34, JSON.stringify(sandbox));
    const denials = (sandbox.error?.data as { denials: { permission: string; target: string }[] })
      .denials;
    const base = denials[0].target;
    assert.match(base, /\/startos-runtime-[^/]+$/);
    const shown = (target: string) =>
      target.replace(base, "<base>").replace(/^<base>\/[^/]+\/c\.sock$/, "<own>");
    assert.deepEqual(denials.map((d) => [d.permission, shown(d.target)]), [
      ["read", "<base>"], // listBase
      ["write", "<base>"], // removeBase
      ["read", "<base>/evil.sock"], // listenInBase
      // Its grant on its own endpoint is revoked once it connected.
      ["write", "<own>"], // chmodOwn, removeOwn
      ["read", "<own>"], // listenOwn
    ]);
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

Deno.test("attack: package code cannot reach the collector the child keeps for heap trims", async () => {
  await withHostile({}, async (rt) => {
    assert.deepEqual(await rt.client.call("execute", runAction("collector")), {
      result: {
        type: "undefined",
        gc: "undefined",
        assigned: "TypeError",
        redefined: "TypeError",
        after: "undefined",
      },
    });
  });
});

Deno.test("a package's source loads with its non-Latin-1 characters escaped: same values, escapes in toString()", async () => {
  await withHostile({}, async (rt) => {
    const outcome = await rt.client.call("execute", runAction("source"));
    const { text, value } = outcome.result as { text: string; value: string };
    assert.equal(value, "a \u2014 b");
    assert.match(text, /\/\/ \\u2192 escaped here too/);
    assert.match(text, /return "a \\u2014 b";/);
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

Deno.test("attack: a run child gets no program by name; the spawn broker refuses every form start-sdk does not use", async () => {
  await withHostile({}, async (rt) => {
    serveCreateFs(rt, ["x", "host"]);
    const answer = await rt.client.call("execute", runAction("spawn-attacks"));
    const results = answer.result as { command: string; outcome: string; message?: string }[];
    assert.ok(Array.isArray(results), JSON.stringify(answer));
    for (const { command, outcome, message } of results) {
      assert.equal(outcome, "NotCapable", `${command} was not refused: ${message}`);
    }
    // The broker's refusals name the argument that failed and the profile.
    const messageOf = (prefix: string) =>
      results.find((r) => r.command.startsWith(prefix))?.message ?? "";
    assert.match(
      messageOf("mount --rbind / "),
      /the run profile does not allow this: running mount: "\/" only \/dev, \/sys, \/run/,
    );
    assert.match(messageOf("rsync -e"), /the run profile may not run rsync at all/);
    assert.match(
      messageOf("start-container subcontainer exec / "),
      /not a subcontainer this child created/,
    );
    assert.match(
      messageOf("sh -c mv "),
      /running sh: "\/.*\/rpc\/host\.sock" is not below .*\/volumes/,
    );
    assert.match(messageOf("sh -c rm -rf "), /running sh: "\/" is not below/);
    assert.match(messageOf("cp /etc/shadow"), /"\/etc\/shadow" is not below/);
    assert.ok(rt.runtime.stderr.some((line) => line.includes("spawn refused")));
  });
});

Deno.test("attack: a backup child's rsync runs only between the volumes and the backup, with Backups' options", async () => {
  await withHostile({ env: { HOSTILE_BACKUP: "1" } }, async (rt) => {
    await Deno.mkdir(`${rt.root}/backup`, { recursive: true });
    const answer = await rt.client.call("execute", {
      id: "backup-1",
      procedure: "/backup/create",
      input: null,
      timeout: 60_000,
    });
    const results = answer.result as { command: string; outcome: string; message?: string }[];
    assert.ok(Array.isArray(results), JSON.stringify(answer));
    const outcomes = results.map((r) => r.outcome);
    // The last one is the form Backups uses: it runs, as root, through the broker.
    assert.deepEqual(outcomes.slice(0, -1), Array(results.length - 1).fill("NotCapable"));
    const hasRsync = (() => {
      try {
        return Deno.statSync("/usr/bin/rsync").isFile;
      } catch {
        return false;
      }
    })();
    if (hasRsync) {
      assert.equal(outcomes.at(-1), "ok", JSON.stringify(results.at(-1)));
      assert.equal(await Deno.readTextFile(`${rt.root}/backup/data.txt`), "volume data");
    }
  });
});

Deno.test("attack: an effect written right after the answer, in the same chunk, is refused", async () => {
  await withHostile({}, async (rt) => {
    assert.deepEqual(await rt.client.call("execute", runAction("same-chunk")), {
      result: "answered",
    });
    await eventually(
      () => rt.runtime.stderr.some((line) => line.includes("effect after its call was answered")),
      5_000,
      "the refusal of the late effect in the log",
    );
    assert.ok(!rt.host.callsOf("set-health").some((c) => c.params.id === "same-chunk"));
  });
});

Deno.test("attack: a child cannot answer with the codes only the runtime gives", async () => {
  await withHostile({}, async (rt) => {
    for (const code of [40, 71, 73]) {
      const answer = await rt.client.call("execute", runAction("runtime-code", code, `rc-${code}`));
      assert.equal(answer.error?.code, 59, JSON.stringify(answer));
      assert.match(
        answer.error?.data?.details ?? "",
        new RegExp(`answered code ${code}, which only the runtime gives`),
      );
    }
    // Any other positive code of the package's own is kept.
    const own = await rt.client.call("execute", runAction("runtime-code", 36, "rc-36"));
    assert.equal(own.error?.code, 36);
  });
});

Deno.test("attack: memory outside the JavaScript heap (ArrayBuffers) is bounded per child", async () => {
  await withHostile({}, async (rt) => {
    const answer = await rt.client.call("execute", runAction("buffer-hog"));
    const result = answer.result as { mb: number; error: string | null };
    // A run child (256 MB heap) gets well under the 2 GiB it asks for, and fails where it asks.
    assert.equal(result.error, "RangeError", JSON.stringify(answer));
    assert.ok(result.mb < 1024, `${result.mb} MB of ArrayBuffers allocated`);
    assert.deepEqual(await rt.client.call("execute", runAction("wait", 1)), { result: "waited" });
  });
});
