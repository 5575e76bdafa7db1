/**
 * A real service package, written in TypeScript against @start9labs/start-sdk 2.0.9 and bundled
 * into one CommonJS file with esbuild, run by the runtime against a believable fake host.
 */

import assert from "node:assert/strict";
import { bundlePackage } from "./helpers/bundle.ts";
import {
  childOf,
  fixture,
  leaderPid,
  processExists,
  runAction,
} from "./helpers/package_runtime.ts";
import {
  namespaceUnavailable,
  onPath,
  type SdkRuntime,
  type SdkRuntimeOptions,
  startSdkRuntime,
} from "./helpers/sdk_runtime.ts";
import { within } from "./helpers/sdk_within.ts";

// Bundled once for the whole file; removed when the test module unloads.
const bundleDir = await Deno.makeTempDir({ prefix: "startos-sdk-bundle-" });
globalThis.addEventListener("unload", () => Deno.removeSync(bundleDir, { recursive: true }));
const PACKAGE = await bundlePackage(fixture("sdk-hello", "index.ts"), bundleDir);

/** Starts the SDK package and runs `body` with it, always cleaning up. */
async function withSdk(
  options: Omit<SdkRuntimeOptions, "package">,
  body: (rt: SdkRuntime) => Promise<void>,
): Promise<void> {
  const rt = await startSdkRuntime({ package: PACKAGE, ...options });
  try {
    await body(rt);
  } finally {
    await rt.close();
  }
}

async function init(rt: SdkRuntime, kind: string | null = "install", id = "init-1") {
  assert.deepEqual(await rt.client.call("init", { id, kind }), { result: null });
}

function getInput(action: string, id: string) {
  return { id, procedure: `/actions/${action}/getInput`, input: { prefill: null }, timeout: 30000 };
}

/** The method names the host saw for `eventId`, in order. */
function methodsFor(rt: SdkRuntime, eventId: string): string[] {
  return rt.host.calls.filter((c) => c.params.eventId === eventId).map((c) => c.method);
}

/** Asserts that `expected` occur in `actual` in this order (other entries may come between). */
function assertInOrder(actual: string[], expected: string[]): void {
  let at = -1;
  for (const item of expected) {
    at = actual.indexOf(item, at + 1);
    assert.ok(at !== -1, `${item} missing after its predecessors in: ${actual.join(" ")}`);
  }
}

/** A TCP port nothing listens on right now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

Deno.test("SDK init exports interfaces, sets the data version and exports actions at the host", async () => {
  await withSdk({}, async (rt) => {
    await init(rt);
    const methods = methodsFor(rt, "init-1");
    // setupInit(restoreInit, versionGraph, setInterfaces, actions) runs its parts in order.
    const order = [
      "get-data-version",
      "set-data-version",
      "bind",
      "export-service-interface",
      "clear-bindings",
      "clear-service-interfaces",
      "action.export",
      "action.clear",
      "set-init-progress",
    ];
    assertInOrder(methods, order);
    // A fresh install stores the current version.
    assert.deepEqual(rt.state.dataVersions, ["2.0.0:0"]);
    const bind = rt.host.callsOf("bind")[0].params;
    assert.equal(bind.id, "ui-multi");
    assert.equal(bind.internalPort, 8080);
    assert.equal(bind.preferredExternalPort, 80);
    assert.equal((bind.addSsl as { scheme: string }).scheme, "https");
    const exported = rt.host.callsOf("export-service-interface")[0].params;
    assert.equal(exported.id, "ui");
    assert.equal(exported.type, "ui");
    assert.deepEqual(exported.addressInfo, {
      hostId: "ui-multi",
      internalPort: 8080,
      scheme: "http",
      sslScheme: "https",
      suffix: "",
      username: null,
    });
    assert.deepEqual(rt.host.callsOf("clear-bindings")[0].params.except, [
      { id: "ui-multi", internalPort: 8080 },
    ]);
    assert.deepEqual(rt.host.callsOf("clear-service-interfaces")[0].params.except, ["ui"]);
    const actions = rt.host.callsOf("action.export").map((c) => c.params);
    assert.deepEqual(actions.map((a) => a.id), ["set-name", "show-ip", "refuse"]);
    assert.deepEqual(
      actions.map((a) => (a.metadata as { hasInput: boolean }).hasInput),
      [true, false, false],
    );
    assert.deepEqual(rt.host.callsOf("action.clear")[0].params.except, [
      "set-name",
      "show-ip",
      "refuse",
    ]);
    // Every init effect carried init's eventId.
    assert.ok(rt.host.calls.every((c) => c.params.eventId === "init-1"));
  });
});

Deno.test("SDK init with an older stored data version migrates up through the version graph", async () => {
  await withSdk({ hostState: { dataVersion: "1.0.0:0" } }, async (rt) => {
    await init(rt, "update");
    const line = rt.runtime.stderr.find((l) => /migration: up to 2\.0\.0:0/.test(l));
    assert.match(line ?? "", /child=init#\d+/);
    assert.deepEqual(rt.state.dataVersions, ["2.0.0:0"]);
  });
});

Deno.test("SDK getInput answers the SDK's input spec and the prefill", async () => {
  await withSdk({}, async (rt) => {
    await init(rt);
    const outcome = await rt.client.call("execute", getInput("set-name", "ev-1"));
    const result = outcome.result as {
      eventId: string;
      spec: Record<string, Record<string, unknown>>;
      value: unknown;
    };
    assert.equal(result.eventId, "ev-1");
    assert.deepEqual(Object.keys(result.spec), ["name", "times"]);
    assert.equal(result.spec.name.type, "text");
    assert.equal(result.spec.name.required, true);
    assert.equal(result.spec.name.default, "World");
    assert.equal(result.spec.times.type, "number");
    assert.equal(result.spec.times.integer, true);
    assert.equal(result.spec.times.max, 3);
    assert.deepEqual(result.value, { name: "Prefilled" });
    // An action without input has an empty spec.
    const none = await rt.client.call("execute", getInput("show-ip", "ev-2"));
    assert.deepEqual(none, { result: { eventId: "ev-2", spec: {}, value: null } });
  });
});

Deno.test({
  name: "SDK run validates its input against the spec getInput built for the same eventId",
  // The SDK's ActionImpl.run() looks up the input spec that getInput() stored in memory under
  // effects.eventId; the host ran that getInput in another child, so the run child computes it
  // again first (lib/worker/entry.ts).
  fn: async () => {
    await withSdk({}, async (rt) => {
      await init(rt);
      assert.ok((await rt.client.call("execute", getInput("set-name", "ev-1"))).result);
      const ok = await rt.client.call(
        "execute",
        runAction("set-name", { name: "Bob", times: 2 }, "ev-1"),
      );
      assert.deepEqual(ok, {
        result: {
          version: "1",
          title: "Greeting",
          message: null,
          result: {
            type: "single",
            value: "Hello Bob Hello Bob",
            copyable: true,
            qr: false,
            masked: false,
          },
        },
      });
      // Wrong types: the SDK's zod validator refuses; its error is kept (59, issues in details).
      const bad = await rt.client.call(
        "execute",
        runAction("set-name", { name: "Bob", times: "2" }, "ev-1"),
      );
      assert.equal(bad.error?.code, 59);
      assert.match(bad.error?.data?.details ?? "", /^ZodError: /);
      assert.match(bad.error?.message ?? "", /"invalid_type"[\s\S]*"times"/);
      const missing = await rt.client.call("execute", runAction("set-name", null, "ev-1"));
      assert.match(missing.error?.message ?? "", /expected object, received null/);
    });
  },
});

Deno.test("SDK run without input reads an effect; an SDK known error keeps its code", async () => {
  await withSdk({}, async (rt) => {
    await init(rt);
    const ip = await rt.client.call("execute", runAction("show-ip", null, "ev-ip"));
    assert.equal((ip.result as { result: { value: string } }).result.value, "10.0.3.42");
    const call = rt.host.callsOf("get-container-ip").find((c) => c.params.eventId === "ev-ip");
    assert.equal(call?.params.callback, null); // once() registers no callback
    assert.deepEqual((await rt.client.call("execute", runAction("refuse"))).error, {
      code: 36,
      message: "refused by the package",
    });
  });
});

for (
  const [target, expected] of [
    ["1.0.0:0", "1.0.0:0"],
    [">=1.0.0:0 <2.0.0:0", "1.0.0:0"],
  ] as const
) {
  Deno.test(`SDK uninit migrates down through the version graph to exit target ${target}`, async () => {
    await withSdk({}, async (rt) => {
      await init(rt);
      assert.equal(rt.state.dataVersion, "2.0.0:0");
      assert.deepEqual(await rt.client.call("exit", { id: "exit-1", target }), { result: null });
      assert.equal((await rt.runtime.status).code, 0);
      assert.ok(rt.runtime.stderr.some((l) => /Migrating 2\.0\.0:0 -> /.test(l)));
      assert.ok(rt.runtime.stderr.some((l) => /migration: down from 2\.0\.0:0/.test(l)));
      const versions = rt.host.callsOf("set-data-version").filter((c) =>
        c.params.eventId === "exit-1"
      );
      assert.ok(versions.length >= 1);
      assert.equal(versions.at(-1)!.params.version, expected);
    });
  });
}

Deno.test("SDK uninit with a null target (uninstall) clears the data version without migrating", async () => {
  await withSdk({}, async (rt) => {
    await init(rt);
    assert.deepEqual(await rt.client.call("exit", { id: "exit-1", target: null }), {
      result: null,
    });
    assert.equal((await rt.runtime.status).code, 0);
    assert.deepEqual(rt.state.dataVersions, ["2.0.0:0", null]);
    assert.ok(!rt.runtime.stderr.some((l) => /migration: /.test(l)));
  });
});

Deno.test("SDK main starts its daemon, reports health at the host and stops", async () => {
  const port = freePort();
  const options = { env: { SDK_HELLO_PORT: String(port) }, args: ["--log-level", "debug"] };
  await withSdk(options, async (rt) => {
    await init(rt);
    assert.deepEqual(await rt.client.call("start"), { result: null });
    const line = await within(
      rt.runtime.waitForLog(/webui listening on \d+ pid \d+/),
      10_000,
      "daemon start",
    );
    // Every process of main (its PID namespace) is gone once its group leader is.
    const pid = leaderPid(rt.runtime.stderr, childOf(line));
    // The SDK first reports "starting", then the ready check's result.
    const ready = await within(
      rt.host.waitFor("set-health", (p) => p.id === "webui" && p.result === "success"),
      10_000,
      "successful webui health report",
    );
    assert.deepEqual(ready.params, {
      result: "success",
      message: "The web interface is ready",
      id: "webui",
      name: "Web Interface",
    });
    const first = rt.host.callsOf("set-health").find((c) => c.params.id === "webui")!;
    assert.equal(first.params.result, "starting");
    assert.equal("eventId" in ready.params, false); // main's effects carry no eventId
    // checkPortListening reads /proc/net/tcp, which Deno 2.9 reserves for --allow-all: the compat
    // layer has the runtime read it and answer over the channel.
    const portCheck = await within(
      rt.host.waitFor("set-health", (p) => p.id === "port" && p.result === "success"),
      10_000,
      "port check result",
    );
    assert.equal(portCheck.params.message, "The port is listening");
    assert.deepEqual(await rt.client.call("stop"), { result: null });
    assert.ok(rt.runtime.stderr.some((l) => /webui stopped/.test(l)));
    assert.equal(processExists(pid), false);
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port }),
      Deno.errors.ConnectionRefused,
    );
  });
});

Deno.test("SDK sandbox: the default profile loads the bundle (setupI18n reads LANG) and answers getInput and run", async () => {
  await withSdk({ env: { LANG: "de_DE.UTF-8" } }, async (rt) => {
    await init(rt);
    const outcome = await rt.client.call("sandbox", getInput("set-name", "sb-1"));
    assert.equal((outcome.result as { eventId: string }).eventId, "sb-1");
    const run = await rt.client.call("sandbox", runAction("show-ip", null, "sb-2"));
    assert.equal((run.result as { result: { value: string } }).result.value, "10.0.3.42");
  });
});

Deno.test("SDK sandbox: with no env access at all the bundle cannot load (34 names LANG)", async () => {
  const policy = `{ "profiles": { "sandbox": { "env": false } } }`;
  await withSdk({ policy }, async (rt) => {
    await init(rt);
    const outcome = await rt.client.call("sandbox", getInput("set-name", "sb-1"));
    assert.equal(outcome.error?.code, 34);
    assert.match(
      outcome.error?.data?.details ?? "",
      /the sandbox profile does not allow this: Requires env access to "LANG"/,
    );
  });
});

const noNamespace = namespaceUnavailable() ??
  (onPath("rsync") ? null : "rsync is not installed (apt-get install rsync)");
if (noNamespace) console.warn(`skipping the SDK backup tests: ${noNamespace}`);

Deno.test({
  name: "SDK createBackup rsyncs the volume into /media/startos/backup (private mount namespace)",
  ignore: noNamespace !== null,
  fn: async () => {
    await withSdk({ mediaStartos: true }, async (rt) => {
      await init(rt);
      const outcome = await rt.client.call("execute", {
        id: "backup-1",
        procedure: "/backup/create",
        input: null,
        timeout: 60000,
      });
      assert.deepEqual(outcome, { result: null });
      assert.equal(
        await Deno.readTextFile(`${rt.root}/backup/volumes/main/greeting.txt`),
        "hello from the volume",
      );
      assert.equal(await Deno.readTextFile(`${rt.root}/backup/dataVersion.txt`), "2.0.0:0");
      const progress = rt.host.callsOf("set-backup-progress");
      assert.ok(progress.length > 0 && progress.every((c) => c.params.eventId === "backup-1"));
    });
    await assert.rejects(Deno.lstat("/media/startos"), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "SDK restore: init 'restore' rsyncs back from /media/startos/backup (default profiles)",
  ignore: noNamespace !== null,
  fn: async () => {
    await withSdk({ mediaStartos: true }, async (rt) => {
      await Deno.mkdir(`${rt.root}/backup/volumes/main`, { recursive: true });
      await Deno.writeTextFile(`${rt.root}/backup/volumes/main/restored.txt`, "from the backup");
      await Deno.writeTextFile(`${rt.root}/backup/dataVersion.txt`, "1.0.0:0");
      await init(rt, "restore", "init-r");
      assert.equal(
        await Deno.readTextFile(`${rt.root}/volumes/main/restored.txt`),
        "from the backup",
      );
      // The restored data version, then the migration up to the current one.
      assert.deepEqual(rt.state.dataVersions, ["1.0.0:0", "2.0.0:0"]);
    });
  },
});
