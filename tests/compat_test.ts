/**
 * What real packages need beyond the narrow profiles: the compat layer's table (reserved paths
 * served, every other one refused), error codes packages rely on, and the lifecycle edges the
 * host depends on (main ending on its own, stop and exit after a failed init).
 */

import assert from "node:assert/strict";
import { INTERCEPTIONS } from "../lib/worker/compat.ts";
import { fixture, runAction, startPackageRuntime } from "./helpers/package_runtime.ts";
import { within } from "./helpers/sdk_within.ts";

const FAULTS = fixture("faults");

Deno.test("compat: mkdir of /dev, /sys, /run and reads of /proc/net/* are served in the run profile", async () => {
  const rt = await startPackageRuntime({ package: FAULTS });
  try {
    const outcome = await rt.client.call("execute", runAction("compat"));
    // The header line of /proc/net/tcp, as the kernel writes it; a Buffer without an encoding.
    assert.deepEqual(outcome, {
      result: { tcp: ["sl", "local_address", "rem_address"], udp6: true },
    });
  } finally {
    await rt.close();
  }
});

Deno.test("compat: a refused connection comes as the socket's error event (EACCES), logged as a denial", async () => {
  const rt = await startPackageRuntime({ package: FAULTS });
  try {
    const path = `${rt.root}/volumes/main/control.sock`;
    const outcome = await rt.client.call("execute", runAction("unix-probe", { path }));
    assert.deepEqual(outcome, { result: { error: "EACCES", name: "NotCapable" } });
    assert.ok(
      rt.runtime.stderr.some((line) =>
        /permission denial its package code caught .*denied="net unix:/.test(line)
      ),
      rt.runtime.stderr.join("\n"),
    );
  } finally {
    await rt.close();
  }
});

Deno.test("compat: the table lists each served path with the SDK function that needs it", () => {
  const served = INTERCEPTIONS.flatMap((entry) =>
    entry.paths.map((path) => `${entry.operation} ${path}`)
  );
  assert.deepEqual(served, [
    "mkdir /dev",
    "mkdir /sys",
    "mkdir /run",
    "readFile /proc/net/tcp",
    "readFile /proc/net/tcp6",
    "readFile /proc/net/udp",
    "readFile /proc/net/udp6",
  ]);
  for (const entry of INTERCEPTIONS) assert.match(entry.sdk, /SubContainer|checkPortListening/);
});

Deno.test("compat: every other reserved path is refused 34 naming the path and the profile", async () => {
  const rt = await startPackageRuntime({ package: FAULTS });
  try {
    for (
      const [action, path] of [["reserved", "/proc/self/status"], ["reserved-mkdir", "/dev/shm/x"]]
    ) {
      const { error } = await rt.client.call("execute", runAction(action));
      assert.equal(error?.code, 34, action);
      assert.match(error?.data?.details ?? "", /^the run profile does not allow this: /, action);
      assert.ok(error?.data?.details?.includes(path), `${action}: ${error?.data?.details}`);
    }
  } finally {
    await rt.close();
  }
});

Deno.test("errors: {error, code} keeps its code; a denial in the cause chain is 34; a refused sync spawn names the program", async () => {
  const rt = await startPackageRuntime({ package: FAULTS });
  try {
    assert.deepEqual((await rt.client.call("execute", runAction("known-code"))).error, {
      code: 42,
      message: "the package refused",
    });
    const denied = (await rt.client.call("execute", runAction("denied-cause"))).error;
    assert.equal(denied?.code, 34);
    assert.match(
      denied?.data?.details ?? "",
      /^the run profile does not allow this: Requires read access to "\/etc\/hostname".* \(while: could not read the hostname\)$/,
    );
    const spawn = (await rt.client.call("execute", runAction("spawn-sync"))).error;
    assert.equal(spawn?.code, 34);
    assert.match(
      spawn?.data?.details ?? "",
      /the run profile does not allow this: Requires run access to "\/bin\/true"/,
    );
  } finally {
    await rt.close();
  }
});

Deno.test("main that ends on its own is logged with its last output and reported stopped; start works again", async () => {
  const rt = await startPackageRuntime({ package: FAULTS, env: { FAULTS_MAIN: "crash" } });
  try {
    assert.deepEqual(await rt.client.call("start"), { result: null });
    const report = await within(rt.host.waitFor("set-main-status"), 10_000, "set-main-status");
    assert.deepEqual(report.params, { status: "stopped" });
    const warning = await within(rt.runtime.waitForLog(/main exited on its own/), 5_000, "warning");
    assert.match(warning ?? "", /code=3/);
    assert.match(warning ?? "", /the daemon crashed/);
    // The host sends start again (start-core does, while the service is wanted running).
    assert.deepEqual(await rt.client.call("start"), { result: null });
    assert.equal(rt.host.callsOf("set-health").length, 2);
    assert.deepEqual(await rt.client.call("stop"), { result: null });
  } finally {
    await rt.close();
  }
});

Deno.test("after a failed init, start is 40 but stop answers null and exit tears down without uninit", async () => {
  const rt = await startPackageRuntime({
    package: FAULTS,
    env: { FAULTS_INIT: "throw" },
    init: false,
  });
  try {
    const init = await rt.client.call("init", { id: "init-1", kind: "install" });
    assert.equal(init.error?.code, 59);
    assert.equal(init.error?.message, "init refuses");
    assert.equal((await rt.client.call("start")).error?.code, 40);
    assert.deepEqual(await rt.client.call("stop"), { result: null });
    assert.deepEqual(await rt.client.call("exit", { id: "exit-1", target: null }), {
      result: null,
    });
    assert.equal((await rt.runtime.status).code, 0);
    // uninit never ran: it would have cleared the data version.
    assert.equal(rt.host.callsOf("set-data-version").length, 0);
    await assert.rejects(Deno.lstat(rt.runtime.socket), Deno.errors.NotFound);
  } finally {
    await rt.close();
  }
});
