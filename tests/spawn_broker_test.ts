/**
 * The spawn broker through a real child: what package code sees of a brokered `start-container`
 * (stdin, stdout, stderr, exit codes, signals, Node's timeout option, execFile and its promisified
 * form, inherited output in the log) is what Node's child_process gives it.
 */

import assert from "node:assert/strict";
import { fixture, runAction, startPackageRuntime } from "./helpers/package_runtime.ts";

/** A stand-in start-container: `subcontainer exec ROOTFS cmd...` runs cmd here. */
const STAND_IN = `#!/bin/sh
[ "$1" = subcontainer ] && [ "$2" = exec ] || exit 2
shift 3
exec "$@"
`;

Deno.test("spawn broker: a brokered start-container behaves as Node's child_process would", async () => {
  const dir = await Deno.makeTempDir({ prefix: "broker-bin-" });
  await Deno.writeTextFile(`${dir}/start-container`, STAND_IN);
  await Deno.chmod(`${dir}/start-container`, 0o755);
  const rt = await startPackageRuntime({
    package: fixture("spawner"),
    env: { STARTOS_PROGRAM_DIRS: dir },
  });
  try {
    rt.host.handlers.set("subcontainer.create-fs", async () => {
      const guid = crypto.randomUUID();
      await Deno.mkdir(`${rt.root}/subcontainers/${guid}`, { recursive: true });
      return [`${rt.root}/subcontainers/${guid}`, guid];
    });
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
  } finally {
    await rt.close();
    await Deno.remove(dir, { recursive: true });
  }
});
