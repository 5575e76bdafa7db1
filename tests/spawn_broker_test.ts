/**
 * The spawn broker through a real child: what package code sees of a brokered `start-container`
 * (stdin, stdout, stderr, exit codes, signals, Node's timeout option, execFile and its promisified
 * form, inherited output in the log) is what Node's child_process gives it.
 */

import assert from "node:assert/strict";
import {
  fixture,
  type PackageRuntime,
  runAction,
  serveCreateFs,
  startPackageRuntime,
} from "./helpers/package_runtime.ts";

/** A stand-in start-container: `subcontainer exec ROOTFS cmd...` runs cmd here. */
const STAND_IN = `#!/bin/sh
[ "$1" = subcontainer ] && [ "$2" = exec ] || exit 2
shift 3
exec "$@"
`;

/**
 * Runs `body` against the spawner fixture, with `programs` (name → shell script) as the only
 * programs the broker finds, and a host that creates a rootfs for every `create-fs`.
 */
async function withSpawner(
  programs: Record<string, string>,
  env: Record<string, string>,
  body: (rt: PackageRuntime) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "broker-bin-" });
  for (const [name, script] of Object.entries(programs)) {
    await Deno.writeTextFile(`${dir}/${name}`, script);
    await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  const rt = await startPackageRuntime({
    package: fixture("spawner"),
    env: { STARTOS_PROGRAM_DIRS: dir, ...env },
  });
  try {
    serveCreateFs(rt);
    await body(rt);
  } finally {
    await rt.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("spawn broker: a brokered start-container behaves as Node's child_process would", async () => {
  await withSpawner({ "start-container": STAND_IN }, {}, async (rt) => {
    const answer = await rt.client.call("execute", runAction("streams"));
    const r = answer.result as Record<string, Record<string, unknown>>;
    assert.ok(r, JSON.stringify(answer));
    assert.deepEqual(
      { code: r.cat.code, stdout: r.cat.stdout, events: r.cat.events, pid: r.cat.pid },
      { code: 0, stdout: "hello through stdin", events: ["spawn", "exit"], pid: true },
    );
    assert.deepEqual([r.failing.code, r.failing.stderr], [7, "oops\n"]);
    // A trapped SIGTERM exits with the trap's code; an untrapped signal is reported as Node does.
    assert.equal(r.killed.code, 3);
    assert.deepEqual([r.hard.code, r.hard.signal, r.hard.signalCode], [null, "SIGKILL", "SIGKILL"]);
    assert.deepEqual([r.timedOut.code, r.timedOut.signal], [null, "SIGTERM"]);
    assert.deepEqual(r.viaExecFile, { stdout: "from execFile\n", stderr: "" });
    assert.equal(r.failure.code, 1);
    assert.match(
      String(r.failure.message),
      /^Command failed: start-container subcontainer exec \/\S+ false$/,
    );
    assert.equal(r.inherited.stdout, "");
    assert.ok(
      rt.runtime.stderr.some((line) => line.includes("to the log") && line.includes("child=run#")),
      rt.runtime.stderr.join("\n"),
    );
  });
});

Deno.test({
  name: "spawn broker: a mount that lands outside the child's subcontainers kills the child first",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    // Plays the race the broker's check cannot see: the path it checked is not where the mount
    // lands (here: a tmpfs over /mnt, in the child's mount namespace only).
    const mount = `#!/bin/sh\nexec /usr/bin/mount -t tmpfs stray "$STRAY_TARGET"\n`;
    const programs = { "start-container": STAND_IN, mount };
    await withSpawner(programs, { STRAY_TARGET: "/mnt" }, async (rt2) => {
      const answer = await rt2.client.call("execute", runAction("rbind"));
      assert.equal(answer.error?.code, 59, JSON.stringify(answer));
      assert.ok(
        rt2.runtime.stderr.some((line) =>
          line.includes("a brokered mount landed outside the child's subcontainers") &&
          line.includes("/mnt")
        ),
        rt2.runtime.stderr.join("\n"),
      );
      // The command after the mount never ran; the machine's /mnt never saw the tmpfs.
      const mounts = await Deno.readTextFile("/proc/self/mountinfo");
      assert.ok(!mounts.split("\n").some((line) => line.split(" ")[4] === "/mnt"));
    });
  },
});

Deno.test("spawn broker: a flood of kill() on a brokered process is delivered one signal at a time", async () => {
  // The stand-in ignores SIGUSR2 (as many daemons do) so only SIGKILL ends it.
  const standIn = `#!/bin/sh\ntrap '' USR2\nshift 3\n"$@" &\nwait $!\n`;
  await withSpawner({ "start-container": standIn }, {}, async (rt) => {
    const answer = await rt.client.call("execute", runAction("kill-flood"));
    assert.deepEqual(answer.result, { code: null, signal: "SIGKILL" }, JSON.stringify(answer));
    // The runtime serves on: an unknown action is answered 6 at once.
    assert.equal((await rt.client.call("execute", runAction("nope"))).error?.code, 6);
  });
});
