import { ACTION_RAN, INIT_SUCCEEDED } from "../lib/dev/host_methods.ts";
import assert from "node:assert/strict";
import { RpcError } from "../lib/jsonrpc/errors.ts";
import { Peer } from "../lib/jsonrpc/peer.ts";
import { createLogger } from "../lib/log.ts";
import { DevHost } from "../lib/dev/dev_host.ts";
import { DEV_EFFECTS } from "../lib/dev/effects/index.ts";
import { parseRpcArgs } from "../lib/dev/rpc_args.ts";
import { flagsOfStartTask, startTaskFlags } from "../lib/dev/start_flags.ts";
import { emptyState, StateFileError, StateStore } from "../lib/dev/state.ts";
import { EFFECT_METHODS } from "../lib/protocol/effects.ts";
import { compileArgs, failureSentence } from "../scripts/compile.ts";
import {
  type DevProcess,
  processesMentioning,
  REPO,
  socketsUnder,
  startDev,
} from "./helpers/dev_process.ts";
import {
  descendants,
  mountNamespaceOf,
  processesInNamespace,
  type ProcessId,
  stillAlive,
} from "./helpers/dev_procs.ts";
import { writeDevImages } from "./helpers/dev_images.ts";
import { bundlePackage } from "./helpers/bundle.ts";
import { namespaceUnavailable, onPath, overlayUnavailable } from "./helpers/sdk_runtime.ts";
import { within } from "./helpers/sdk_within.ts";
import { watchRuntime } from "./helpers/runtime_process.ts";
import { launcherScript } from "../scripts/launcher.ts";
import { parseUnit } from "./helpers/unit_file.ts";
import { EXPOSE_COLLECTOR_FLAG } from "../lib/memory/heap_trim.ts";
import { RpcClient } from "./helpers/rpc_client.ts";
import { FakeHost } from "./helpers/fake_host.ts";
import { manifestOf, readManifest } from "../lib/dev/package_manifest.ts";
import { denoCommand } from "../lib/dev/deno_command.ts";
import { headline, tryNext } from "../lib/dev/try_next.ts";
import { parseDevArgs } from "../lib/dev/dev_args.ts";
import { boundPorts, portsNamed } from "../lib/dev/standins/port_server.ts";
import { freePort, rpc, rpcResult } from "./helpers/dev_rpc.ts";

/** A dev host on a temp root, a client playing the runtime's host connection, and a fake service.sock. */
async function withDevHost(
  body: (ctx: {
    root: string;
    host: DevHost;
    call: (method: string, params?: Record<string, unknown>) => Promise<unknown>;
    /** The `i`-th callback notification the fake runtime received (waits for it). */
    fired: (i: number) => Promise<{ id: number; args: unknown[] }>;
    logs: string[];
  }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "startos-devhost-test-" });
  const logs: string[] = [];
  const log = createLogger({ write: (line) => logs.push(line) });
  // The runtime's service.sock: records `callback` notifications.
  const received: { id: number; args: unknown[] }[] = [];
  const wakers: (() => void)[] = [];
  const fired = async (i: number) => {
    while (received.length <= i) await new Promise<void>((resolve) => wakers.push(resolve));
    return received[i];
  };
  const service = Deno.listen({ transport: "unix", path: `${root}/service.sock` });
  const servicePeers: Peer[] = [];
  const accepting = (async () => {
    for await (const conn of service) {
      servicePeers.push(
        new Peer(conn, {
          onNotification: (method, params) => {
            if (method !== "callback") return;
            received.push(params as { id: number; args: unknown[] });
            for (const wake of wakers.splice(0)) wake();
          },
        }),
      );
    }
  })();
  const store = await StateStore.open(`${root}/state.json`, () => emptyState("hello", {}));
  const host = await DevHost.listen({
    socket: `${root}/host.sock`,
    runtimeSocket: `${root}/service.sock`,
    root,
    store,
    log,
  });
  const client = new Peer(await Deno.connect({ transport: "unix", path: host.socket }));
  try {
    await body({
      root,
      host,
      call: (method, params = {}) => client.request(method, params),
      fired,
      logs,
    });
  } finally {
    client.close();
    await host.close();
    service.close();
    await accepting;
    for (const peer of servicePeers) peer.close();
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("the dev host implements exactly the runtime's effects and answers -32601 otherwise", async () => {
  assert.deepEqual([...DEV_EFFECTS.keys()].sort(), [...EFFECT_METHODS].sort());
  await withDevHost(async ({ call, logs }) => {
    await assert.rejects(call("no-such-effect", {}), (error: RpcError) => error.code === -32601);
    await assert.rejects(
      call("set-health", { id: "x", result: "sideways", eventId: "e1" }),
      (error: RpcError) =>
        error.code === -32602 && /set-health: params\.name/.test(
          String((error.data as { details?: string }).details),
        ),
    );
    assert.equal(await call("get-os-ip", { eventId: "e2" }), "10.0.3.1");
    // One line per call: method, eventId (main when absent) and short params.
    assert.ok(
      logs.some((line) => /effect no-such-effect .*error="-32601/.test(line)),
      logs.join("\n"),
    );
    assert.ok(logs.some((line) => /effect get-os-ip \{\} .*event=e2/.test(line)), logs.join("\n"));
  });
});

Deno.test("set-health fires each pending get-status callback once; clear-callbacks is honoured", async () => {
  await withDevHost(async ({ call, fired, host }) => {
    const health = { id: "web", name: "Web", result: "success", message: "ok" };
    assert.deepEqual(await call("get-status", { callback: 5, eventId: "init-1" }), {
      health: {},
      error: null,
      started: null,
      desired: { main: "stopped" },
    });
    await call("get-status", { callback: 6 });
    await call("get-status", { callback: 7 });
    await call("get-status", { callback: null });
    await call("get-service-interface", { serviceInterfaceId: "ui", callback: 8 });
    assert.equal(await call("clear-callbacks", { only: [7] }), null);
    assert.equal(host.callbacks.size, 3);
    await call("set-health", health);
    const first = await Promise.all([fired(0), fired(1)]);
    assert.deepEqual(first.map((f) => f.id).sort(), [5, 6]);
    assert.deepEqual(first[0].args, []);
    // Fired callbacks are forgotten; the same value again changes nothing.
    await call("set-health", health);
    await call("set-health", { ...health, message: "still ok" });
    assert.equal(host.callbacks.size, 1);
    assert.equal(host.callbacks.topicOf(8), "interface:hello:ui");
    await call("get-status", { callback: 9 });
    assert.equal(await call("clear-callbacks", { except: [9] }), null);
    assert.deepEqual(host.callbacks.topicOf(8), undefined);
    await call("export-service-interface", {
      id: "ui",
      name: "UI",
      description: "d",
      masked: false,
      type: "ui",
      addressInfo: {
        username: null,
        hostId: "ui",
        internalPort: 80,
        scheme: "http",
        sslScheme: null,
        suffix: "",
      },
    });
    await call("set-health", { ...health, result: "failure", message: "down" });
    assert.equal((await fired(2)).id, 9);
    assert.equal(host.callbacks.size, 0);
  });
});

Deno.test("get-host-info has start-core 2.x's shape: each binding's addresses and exported interfaces", async () => {
  await withDevHost(async ({ call, fired }) => {
    await call("bind", {
      id: "main",
      internalPort: 80,
      preferredExternalPort: 80,
      addSsl: { preferredExternalPort: 443, alpn: null, addXForwardedHeaders: true },
      secure: null,
    });
    await call("get-host-info", { hostId: "main", callback: 3 });
    const ui = {
      id: "ui",
      name: "Web UI",
      description: "d",
      masked: false,
      type: "ui",
      addressInfo: {
        username: null,
        hostId: "main",
        internalPort: 80,
        scheme: "http",
        sslScheme: "https",
        suffix: "",
      },
    };
    await call("export-service-interface", ui);
    // Exporting on the host changes what get-host-info answers: its watchers are told.
    assert.equal((await fired(0)).id, 3);
    const host = await call("get-host-info", { hostId: "main" }) as {
      bindings: Record<string, { interfaces: unknown; addresses: { available: unknown[] } }>;
    };
    assert.deepEqual(host.bindings["80"].interfaces, { ui });
    assert.deepEqual(host.bindings["80"].addresses, {
      enabled: [],
      disabled: [],
      guaWan: [],
      available: [
        {
          ssl: false,
          public: false,
          hostname: "192.168.1.10",
          port: 80,
          metadata: { kind: "ipv4", gateway: "eth0" },
        },
        {
          ssl: true,
          public: false,
          hostname: "hello.local",
          port: 443,
          metadata: { kind: "mdns", gateways: ["eth0"] },
        },
      ],
    });
    await call("clear-service-interfaces", { except: [] });
    const cleared = await call("get-host-info", { hostId: "main" }) as typeof host;
    assert.deepEqual(cleared.bindings["80"].interfaces, {});
  });
});

Deno.test("a dependency (not installed here): its mount is recorded, not refused; it has no address", async () => {
  await withDevHost(async ({ call, root }) => {
    assert.equal(await call("get-container-ip", { packageId: "tor" }), null);
    assert.equal(await call("get-container-ip", {}), "10.0.3.2");
    const mount = {
      location: "/media/startos/subcontainers/x/mnt/lnd",
      target: { packageId: "lnd", volumeId: "main", subpath: null, readonly: true },
    };
    assert.equal(await call("mount", mount), null);
    const state = JSON.parse(await Deno.readTextFile(`${root}/state.json`));
    assert.deepEqual(state.mounts, [mount]);
  });
});

Deno.test("what deno task rpc tells the dev host: an init succeeded, an action ran; an uninstall's uninit", async () => {
  await withDevHost(async ({ call, root }) => {
    const installed = () => JSON.parse(Deno.readTextFileSync(`${root}/state.json`)).installed;
    assert.equal(await call("get-os-ip", {}), "10.0.3.1");
    assert.equal(installed(), false);
    assert.equal(await call(INIT_SUCCEEDED, {}), null);
    assert.equal(installed(), true);
    // An action that ran does its tasks (those without a `when`), as StartOS does.
    const task = (replayId: string, actionId: string, when?: unknown) => ({
      replayId,
      packageId: "hello",
      actionId,
      severity: "critical",
      ...(when === undefined ? {} : { when }),
    });
    await call("action.create-task", task("t1", "set-password"));
    await call(
      "action.create-task",
      task("t2", "set-password", { condition: "input-not-matches", once: false }),
    );
    await call("action.create-task", task("t3", "other"));
    assert.equal(await call(ACTION_RAN, { actionId: "set-password" }), null);
    const tasks = () => Object.keys(JSON.parse(Deno.readTextFileSync(`${root}/state.json`)).tasks);
    assert.deepEqual(tasks().sort(), ["t2", "t3"]);
    // uninit of an uninstall clears the data version: the next session installs again.
    await call("set-data-version", { version: null });
    assert.equal(installed(), false);
  });
});

Deno.test("the dev host's state file is rewritten atomically and refused when broken", async () => {
  await withDevHost(async ({ root, host, call }) => {
    await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) => call("set-backup-progress", { progress: { done: i, total: 49, units: "steps" } }),
      ),
    );
    await call("set-data-version", { version: "1.0.0:0" });
    await call("notification.create", { level: "info", title: "t", message: "m" });
    const saved: unknown = JSON.parse(await Deno.readTextFile(`${root}/state.json`));
    const state = host.store.state;
    assert.equal(state.dataVersion, "1.0.0:0");
    assert.equal(state.notifications.length, 1);
    assert.deepEqual(state.backupProgress, { done: 49, total: 49, units: "steps" });
    assert.deepEqual(saved, state);
    assert.deepEqual(
      [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => n.endsWith(".tmp")),
      [],
    );
  });
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/state.json`, '{"version": 1, "packageId": ');
    await assert.rejects(
      StateStore.open(`${root}/state.json`, () => emptyState("x", {})),
      (error: Error) => error instanceof StateFileError && /delete it/.test(error.message),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("rpc arguments: shortcuts become requests, bad JSON and bad usage are explained", () => {
  const action = parseRpcArgs(["action", "set-greeting", '{"greeting":"Hi"}', "--id", "a1"]);
  assert.equal(action.kind, "request");
  if (action.kind === "request") {
    assert.deepEqual(action.request, {
      method: "execute",
      params: {
        id: "a1",
        procedure: "/actions/set-greeting/run",
        input: { input: { greeting: "Hi" } },
        timeout: 120000,
      },
    });
  }
  const input = parseRpcArgs(["--timeout", "none", "input", "x"]);
  assert.equal(
    input.kind === "request" && (input.request.params as { timeout: null }).timeout,
    null,
  );
  const bad = parseRpcArgs(["action", "x", "{greeting:Hi}"]);
  assert.equal(bad.kind, "usage-error");
  assert.match(bad.kind === "usage-error" ? bad.message : "", /input-json is not valid JSON/);
  assert.equal(parseRpcArgs(["frobnicate"]).kind, "usage-error");
  assert.equal(parseRpcArgs(["stop", "now"]).kind, "usage-error");
  const help = parseRpcArgs(["exit", "--help"]);
  assert.match(help.kind === "help" ? help.text : "", /deno task rpc \[options\] exit \[target\]/);
});

Deno.test("dev: init → getInput → run → backup → start (health reaches the host) → stop → exit", async () => {
  const port = freePort();
  const dev = await startDev({ env: { HELLO_PORT: String(port) } });
  try {
    const spec = await rpcResult(dev.socket, "input", "set-greeting") as {
      spec: { greeting: { type: string } };
      value: { greeting: string };
    };
    assert.equal(spec.spec.greeting.type, "text");
    assert.equal(spec.value.greeting, "Hello from StartOS");
    const ran = await rpcResult(dev.socket, "action", "set-greeting", '{"greeting":"Hi, test"}');
    assert.equal((ran as { result: { value: string } }).result.value, "Hi, test");

    assert.equal(await rpcResult(dev.socket, "backup"), null);
    await dev.stderr.waitFor(/effect set-backup-progress .*"done":(\d+),"total":\1,/);
    assert.equal(
      await Deno.readTextFile(`${dev.root}/backup/volumes/main/greeting.txt`),
      "Hi, test\n",
    );
    const progress = dev.stderr.lines.filter((line) => /effect set-backup-progress/.test(line));
    assert.ok(progress.length >= 3, progress.join("\n")); // start, one per file
    assert.match(progress.at(-1)!, /"done":(\d+),"total":\1,/);

    assert.equal(await rpcResult(dev.socket, "start"), null);
    const health = await dev.stderr.waitFor(/effect set-health .*"result":"success"/);
    assert.match(health ?? "", new RegExp(`Serving http://127\\.0\\.0\\.1:${port}/.* event=main`));
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "Hi, test\n");
    // The dev host knows main runs, as StartOS does from driving it (rpc told it).
    const mainState = () => JSON.parse(Deno.readTextFileSync(`${dev.root}/dev-host/state.json`));
    assert.equal(mainState().desired, "running");
    assert.notEqual(mainState().started, null);
    assert.equal(await rpcResult(dev.socket, "stop"), null);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`)); // term() closed the server
    assert.deepEqual([mainState().desired, mainState().started], ["stopped", null]);

    assert.equal(await rpcResult(dev.socket, "exit"), null);
    const status = await dev.status; // the runtime exited, and so did the dev session
    assert.equal(status.code, 0, dev.stderr.lines.join("\n"));
    assert.deepEqual(socketsUnder(dev.root), []);

    const state = JSON.parse(await Deno.readTextFile(`${dev.root}/dev-host/state.json`));
    assert.equal(state.packageId, "hello");
    assert.equal(state.dataVersion, "0.1.0:0");
    assert.deepEqual(Object.keys(state.actions).sort(), ["ping", "set-greeting", "show-greeting"]);
    assert.equal(state.serviceInterfaces.ui.addressInfo.internalPort, port);
    assert.equal(state.hosts.ui.bindings[port].net.assignedPort, port);
    assert.equal(state.health.web.result, "success");
    assert.equal(state.notifications[0].title, "Greeting changed");
    assert.equal(state.backupProgress.done, state.backupProgress.total);
  } finally {
    await dev.close();
  }
});

Deno.test("dev: the rpc client explains refused permissions, unknown actions and bad arguments", async () => {
  const dev = await startDev({ env: { HELLO_PORT: String(freePort()) } });
  try {
    const sandboxed = await rpc(dev.socket, "sandbox-action", "set-greeting", '{"greeting":"x"}');
    assert.equal(sandboxed.code, 1);
    assert.equal(sandboxed.stdout, "");
    assert.match(sandboxed.stderr, /^error 34 \(Authorization\): Permission denied\n/);
    assert.match(
      sandboxed.stderr,
      /the sandbox profile does not allow this: Requires write access/,
    );

    // Actions reach the service's own daemons: ping is not refused, its web server is not up.
    const ping = await rpc(dev.socket, "action", "ping");
    assert.equal(ping.code, 1);
    assert.match(ping.stderr, /^error 59 \(Javascript\): fetch failed\n/);

    const unknown = await rpc(dev.socket, "action", "no-such-action");
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, "error 6 (NotFound): action no-such-action not found\n");

    const raw = await rpc(dev.socket, "--raw", "action", "no-such-action");
    assert.equal(raw.code, 1);
    assert.deepEqual(JSON.parse(raw.stdout).error.code, 6);

    const badJson = await rpc(dev.socket, "action", "set-greeting", "{greeting: Hi}");
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /error: input-json is not valid JSON .*\n.*quote it/);

    const nowhere = await rpc(`${dev.root}/rpc/nothing.sock`, "start");
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /cannot connect to .*nothing\.sock .*deno task dev/);
  } finally {
    await dev.close();
  }
});

Deno.test("dev: Ctrl-C stops main gracefully, exits 0 and leaves no process and no socket", async () => {
  const dev = await startDev({ env: { HELLO_PORT: String(freePort()) } });
  let closed = false;
  try {
    assert.equal(await rpcResult(dev.socket, "start"), null);
    await dev.stderr.waitFor(/effect set-health .*"result":"success"/);
    const tree = descendants(dev.child.pid);
    assert.ok(tree.length >= 4, JSON.stringify(tree)); // dev, runtime, package host, main
    dev.interrupt();
    const status = await dev.status;
    assert.equal(status.code, 0, dev.stderr.lines.join("\n"));
    await dev.stderr.done;
    assert.ok(dev.stderr.lines.some((line) => /web server stopped/.test(line))); // term() ran
    assert.deepEqual(socketsUnder(dev.root), []);
    assert.deepEqual(stillAlive(tree), []);
    assert.deepEqual(processesMentioning(dev.root), []);
    await dev.close();
    closed = true;
  } finally {
    if (!closed) await dev.close();
  }
});

Deno.test("compile uses the start task's flags; where deno compile cannot run it says so in one sentence", async () => {
  const start = await startTaskFlags();
  assert.deepEqual(
    start,
    [
      "--no-prompt",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-run",
      "--allow-env",
      // The collector under the name the runtime takes it from (lib/memory/heap_trim.ts).
      `--v8-flags=--max-semi-space-size=1,${EXPOSE_COLLECTOR_FLAG}`,
    ],
  );
  assert.deepEqual(await compileArgs("out"), ["compile", ...start, "--output", "out", "main.ts"]);
  const dry = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "compile", "--dry-run"],
    cwd: REPO,
  }).output();
  assert.equal(
    new TextDecoder().decode(dry.stdout).trim(),
    `deno compile ${start.join(" ")} --output dist/startos-deno-runtime main.ts`,
  );

  const out = await Deno.makeTempDir();
  try {
    const env: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1" };
    delete env.DENORT_BIN;
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "compile", "--output", `${out}/runtime`],
      cwd: REPO,
      clearEnv: true,
      env,
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    if (result.success) {
      assert.ok(Deno.statSync(`${out}/runtime`).isFile); // a machine that can reach denort
    } else {
      assert.equal(result.code, 1);
      assert.match(stderr, /^deno compile could not download denort[^\n]*\.\n$/);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
  assert.match(
    failureSentence(
      "error: Writing deno compile executable\n    0: Could not find denort at '/x/denort'\n",
      1,
    ),
    /^deno compile found no denort at \/x\/denort \(DENORT_BIN\)[^\n]*\.$/,
  );
  assert.equal(
    failureSentence('Check main.ts\nerror: Module not found "file:///x.ts".\n    at main.ts:1', 1),
    'deno compile failed with exit code 1: error: Module not found "file:///x.ts"..',
  );
});

Deno.test("the Containerfile builds the rootfs tree with scripts/build_rootfs.sh and an image from it", async () => {
  const text = await Deno.readTextFile(`${REPO}Containerfile`);
  const stages = text.split(/^FROM /m).slice(1);
  assert.deepEqual(stages.map((stage) => stage.split("\n")[0]), [
    "denoland/deno:debian-2.9.6 AS build",
    "scratch AS rootfs",
    "debian:bookworm-slim",
  ]);
  assert.match(stages[0], /^RUN scripts\/build_rootfs\.sh --out \/out$/m);
  assert.match(stages[0], /^COPY deploy\/ deploy\/$/m);
  assert.match(stages[1], /^COPY --from=build \/out\/ \/$/m);
  const final = stages[2];
  assert.match(final, /apt-get install -y --no-install-recommends rsync/);
  assert.match(
    final,
    /^COPY --from=build \/out\/usr\/lib\/startos\/runtime \/usr\/lib\/startos\/runtime$/m,
  );
  const unit = await Deno.readTextFile(`${REPO}deploy/container-runtime.service`);
  const envOf = (source: string, name: string) => source.match(new RegExp(`${name}=(\\S+)`))?.[1];
  for (const name of ["STARTOS_DENO", "STARTOS_WORKER_ENTRY", "DENO_DIR"]) {
    assert.equal(envOf(final, name), envOf(unit, name), name);
  }
  assert.match(final, /^ENTRYPOINT \["\/usr\/lib\/startos\/runtime\/startos-deno-runtime"\]$/m);
  assert.match(final, /^VOLUME \["\/media\/startos\/rpc"\]/m);
});

Deno.test("the committed example bundle is what deno task build-example makes of its source", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "build-example", "--check"],
    cwd: REPO,
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
});

// ---- issue 19: a published-package-like bundle, the dev namespace, stand-ins, deployment -------

/** The dev-services fixture (start-sdk 2.0.9), bundled once as packages ship; removed on unload. */
const bundleDir = await Deno.makeTempDir({ prefix: "startos-dev-services-bundle-" });
globalThis.addEventListener("unload", () => Deno.removeSync(bundleDir, { recursive: true }));
const DEV_SERVICES = await bundlePackage(
  `${REPO}tests/fixtures/dev-services/index.ts`,
  bundleDir,
);

/** Why the dev namespace (as root: unshare --mount) cannot be used here, or null. */
const noNamespace = namespaceUnavailable() ??
  (onPath("rsync") ? null : "rsync is not installed (apt-get install rsync)");
if (noNamespace) console.warn(`skipping the dev namespace tests: ${noNamespace}`);

/** What the machine has at paths the dev loop must never touch, to compare before and after. */
function machinePaths(): Record<string, boolean> {
  const exists = (path: string) => {
    try {
      Deno.lstatSync(path);
      return true;
    } catch {
      return false;
    }
  };
  return Object.fromEntries(
    ["/media/startos", "/usr/lib/startos", "/usr/bin/start-container"].map((p) => [p, exists(p)]),
  );
}

Deno.test("manifest probe: a start-sdk bundle that reads LANG while it loads gives its volumes and images", async () => {
  const manifest = await readManifest(DEV_SERVICES);
  assert.equal(manifest.id, "dev-services");
  assert.equal(manifest.version, "1.0.0:0");
  assert.deepEqual(manifest.volumes, ["main", "database", "cache"]);
  assert.deepEqual(manifest.images, ["app", "db"]);
  assert.throws(
    () => manifestOf({ id: "x", volumes: ["../etc"] }, "pkg.js"),
    /manifest id "\.\.\/etc" is not a plain name/,
  );
});

Deno.test("hints: the command prefix a packager can type, and no init advice after a successful init", async () => {
  const isFile = (path: string) => path === "/tmp/_npx/1a2b/node_modules/.bin/deno";
  const probe = { path: "/tmp/_npx/1a2b/node_modules/.bin:/usr/bin", version: "2.9.6", isFile };
  assert.equal(denoCommand(probe), "npx -y deno@2.9.6");
  assert.equal(
    denoCommand({ ...probe, isFile: (path) => path === "/usr/bin/deno" }),
    "deno",
  );
  const root = await Deno.makeTempDir();
  try {
    const store = await StateStore.open(`${root}/state.json`, () => emptyState("x", {}));
    const socket = `${root}/rpc/service.sock`;
    const done = tryNext(store, { socket, deno: "deno", init: { kind: "done" } });
    assert.doesNotMatch(done, /run init|init install/);
    assert.match(done, /\(init exported no actions\)/);
    assert.match(done, new RegExp(`deno task rpc --socket ${root}/rpc/service\\.sock start`));
    const failed = { kind: "failed" as const, reason: "error 59: boom" };
    assert.match(headline("x", root, failed), /^Init failed: .*error 59: boom$/);
    assert.doesNotMatch(headline("x", root, failed), /Ready/);
    assert.match(
      tryNext(store, { socket, deno: "npx -y deno@2.9.6", init: failed }),
      /npx -y deno@2\.9\.6 task rpc --socket \S+ init install/,
    );
    assert.match(headline("x", root, { kind: "done" }), /^Ready: /);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dev arguments: --images and --no-namespace", () => {
  const parsed = parseDevArgs(["--images", "imgs", "--no-namespace"], "/home/me");
  assert.equal(parsed.kind, "options");
  if (parsed.kind !== "options") return;
  assert.equal(parsed.options.images, "/home/me/imgs");
  assert.equal(parsed.options.namespace, false);
  const defaults = parseDevArgs([], "/home/me");
  assert.equal(defaults.kind === "options" && defaults.options.namespace, true);
  assert.equal(parseDevArgs(["--no-namespace=1"], "/").kind, "error");
});

Deno.test("stand-in server: the ports a daemon's command line names, else the bound ones", () => {
  assert.deepEqual(portsNamed(["db-server", "--port", "5432"], []), [5432]);
  assert.deepEqual(portsNamed(["srv", "--http-port=8080", "--listen", "0.0.0.0:9090"], []), [
    8080,
    9090,
  ]);
  assert.deepEqual(portsNamed(["srv", "-p", "3000", "http://[::]:3001/"], ["APP_PORT=3002"]), [
    3000,
    3001,
    3002,
  ]);
  assert.deepEqual(portsNamed(["app-server", "--config", "/data/settings.json"], ["HOME=/x"]), []);
  const state = {
    hosts: { web: { bindings: { "8081": binding(), "80": binding() }, bindingRanges: {} } },
  };
  assert.deepEqual(boundPorts(state), [80, 8081]);
  assert.deepEqual(boundPorts({ nonsense: true }), []);
});

/** A binding as the dev host's state keeps it. */
function binding() {
  return {
    enabled: true,
    options: { preferredExternalPort: 80, addSsl: null, secure: null },
    net: { assignedPort: 80, assignedSslPort: null },
  };
}

Deno.test({
  name: "destroy-fs never crosses a mount point: it unmounts, and the removal refuses what is left",
  ignore: noNamespace !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "startos-dev-mounts-" });
    try {
      // Inside a private mount namespace of its own: every mount it makes ends with it.
      const out = await new Deno.Command("/usr/bin/unshare", {
        args: [
          "--mount",
          "--propagation",
          "private",
          Deno.execPath(),
          "run",
          "-A",
          "--quiet",
          `--config=${REPO}deno.json`,
          `${REPO}tests/helpers/dev_mount_check.ts`,
          dir,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const result = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.match(result.crossDevice, /\/subcontainers\/g1\/dev$/);
      assert.equal(result.deviceKept1, true);
      assert.match(result.named, /\/subcontainers\/g1\/(dev|data)$/);
      assert.equal(result.rootfsGone, true);
      assert.equal(result.volumeKept, "data\n");
      assert.equal(result.deviceKept, "device\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Two distinct TCP ports nothing listens on right now. */
function freePorts(): { web: number; db: number } {
  const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ports = { web: a.addr.port, db: b.addr.port };
  a.close();
  b.close();
  return ports;
}

/** The runtime's pid: the descendant of the dev session running main.ts. */
function runtimePid(devPid: number): number {
  const found = descendants(devPid).find((p) => /\/main\.ts --dev /.test(p.cmdline));
  assert.ok(found, "no runtime under the dev session");
  return found.pid;
}

/** Ctrl-C, then: exit 0, no socket, nothing of `tree` or of the runtime's namespace alive. */
async function interruptAndCheck(
  dev: DevProcess,
  tree: ProcessId[],
  namespace: string | null,
): Promise<void> {
  dev.interrupt();
  const status = await within(dev.status, 60_000, "the end of deno task dev after Ctrl-C");
  assert.equal(status.code, 0, dev.stderr.lines.join("\n"));
  await dev.stderr.done;
  assert.deepEqual(socketsUnder(dev.root), []);
  assert.deepEqual(stillAlive(tree), []);
  if (namespace !== null) assert.deepEqual(processesInNamespace(namespace), []);
  assert.deepEqual(processesMentioning(dev.root), []);
}

Deno.test({
  name:
    "dev: a published-package-like bundle: init, every getInput, actions, backup, daemons, stop, Ctrl-C",
  ignore: noNamespace !== null,
  fn: async () => {
    const before = machinePaths();
    const ports = freePorts();
    const dev = await startDev({
      args: ["--package", DEV_SERVICES],
      env: {
        DEV_SERVICES_WEB_PORT: String(ports.web),
        DEV_SERVICES_DB_PORT: String(ports.db),
      },
    });
    let closed = false;
    try {
      const out = dev.stdout.lines.join("\n");
      assert.match(out, /^Ready: dev-services runs under /m, dev.stderr.lines.join("\n"));
      assert.doesNotMatch(out, /run init|Init failed/);
      assert.match(out, /task rpc --socket \S+ input set-name/);
      for (const volume of ["main", "database", "cache"]) {
        assert.ok(Deno.statSync(`${dev.root}/volumes/${volume}`).isDirectory, volume);
      }
      // No root filesystem: the image stands in, with an entrypoint for `sdk.useEntrypoint()`.
      assert.deepEqual(JSON.parse(Deno.readTextFileSync(`${dev.root}/images/db.json`)), {
        user: "root",
        workdir: "/",
        entrypoint: ["db-entrypoint"],
        cmd: [],
      });
      // What init did in its temporary subcontainer was stood in for, and said so.
      assert.ok(
        dev.stderr.lines.some((l) =>
          /stand-in start-container exec: image=db db-init --data \/var\/lib\/db \(not run/.test(l)
        ),
      );
      assert.ok(dev.stderr.lines.some((l) => /stand-in mount recorded: --rbind \/dev /.test(l)));

      const state = JSON.parse(Deno.readTextFileSync(`${dev.root}/dev-host/state.json`));
      assert.deepEqual(Object.keys(state.actions).sort(), ["set-name", "show-settings", "vacuum"]);
      assert.equal(state.installed, true);
      for (const id of Object.keys(state.actions)) {
        const answer = await rpc(dev.socket, "input", id);
        assert.equal(answer.code, 0, `${id}: ${answer.stderr}`);
      }
      const prefill = await rpcResult(dev.socket, "input", "set-name") as { value: unknown };
      assert.deepEqual(prefill.value, { name: "Dev Services" });
      await rpcResult(dev.socket, "action", "set-name", '{"name":"Renamed"}');
      const shown = await rpcResult(dev.socket, "action", "show-settings") as {
        result: { value: string };
      };
      assert.equal(JSON.parse(shown.result.value).name, "Renamed");
      const vacuumed = await rpcResult(dev.socket, "action", "vacuum") as { message: string };
      assert.equal(vacuumed.message, "db-cli said: (nothing)");
      assert.deepEqual(
        Object.keys(
          JSON.parse(Deno.readTextFileSync(`${dev.root}/dev-host/state.json`)).subcontainers,
        ),
        [],
      );
      assert.deepEqual([...Deno.readDirSync(`${dev.root}/subcontainers`)], []);

      assert.equal(await rpcResult(dev.socket, "backup"), null);
      const saved = JSON.parse(
        Deno.readTextFileSync(`${dev.root}/backup/volumes/main/settings.json`),
      );
      assert.equal(saved.name, "Renamed");
      assert.ok(Deno.statSync(`${dev.root}/backup/volumes/database`).isDirectory);
      assert.equal(Deno.readTextFileSync(`${dev.root}/backup/dataVersion.txt`).trim(), "1.0.0:0");

      assert.equal(await rpcResult(dev.socket, "start"), null);
      const healthy = await within(
        Promise.all([
          dev.stderr.waitFor(/effect set-health .*"result":"success".*"id":"db"/),
          dev.stderr.waitFor(/effect set-health .*"result":"success".*"id":"app"/),
        ]),
        30_000,
        "both daemons healthy",
      );
      assert.ok(healthy.every((line) => line !== null), dev.stderr.lines.join("\n"));
      // The app's one-shot step (a file utility) was not taken for a daemon: it ended, and the
      // app, which requires it, started.
      assert.ok(
        dev.stderr.lines.some((l) =>
          /stand-in start-container exec: image=app sh -c chown -R app:app \/data && chmod 700 \/data \(not run: a file utility/
            .test(l)
        ),
        dev.stderr.lines.join("\n"),
      );
      assert.ok(
        dev.stderr.lines.some((l) =>
          new RegExp(
            `db-server --port ${ports.db}: listening on 127\\.0\\.0\\.1:${ports.db} \\(named`,
          ).test(l)
        ),
      );
      assert.ok(
        dev.stderr.lines.some((l) =>
          new RegExp(`app-server --config \\S+: listening on 127\\.0\\.0\\.1:${ports.web} \\(bound`)
            .test(l)
        ),
      );
      assert.match(
        await (await fetch(`http://127.0.0.1:${ports.web}/`)).text(),
        /dev stand-in for: app-server/,
      );
      assert.equal(await rpcResult(dev.socket, "stop"), null);
      await assert.rejects(fetch(`http://127.0.0.1:${ports.web}/`));
      assert.equal(await rpcResult(dev.socket, "start"), null);
      await within(
        dev.stderr.waitFor(/stand-in start-container server: app-server .*listening/),
        30_000,
        "the app daemon again",
      );
      const tree = descendants(dev.child.pid);
      const namespace = mountNamespaceOf(runtimePid(dev.child.pid));
      assert.notEqual(namespace, mountNamespaceOf(Deno.pid)); // the runtime is in its own
      await interruptAndCheck(dev, tree, namespace);
      assert.deepEqual(machinePaths(), before);
      await dev.close();
      closed = true;
    } finally {
      if (!closed) await dev.close();
    }
  },
});

Deno.test({
  name: "dev --images: init, actions and daemons run inside the image folder's root filesystems",
  ignore: noNamespace !== null || overlayUnavailable() !== null,
  fn: async () => {
    const images = await Deno.makeTempDir({ prefix: "startos-dev-images-" });
    const ports = freePorts();
    let dev: DevProcess | undefined;
    try {
      await writeDevImages(images);
      dev = await startDev({
        args: ["--package", DEV_SERVICES, "--images", images],
        env: {
          DEV_SERVICES_WEB_PORT: String(ports.web),
          DEV_SERVICES_DB_PORT: String(ports.db),
        },
      });
      assert.match(dev.stdout.lines.join("\n"), /^Ready: /m, dev.stderr.lines.join("\n"));
      // init's db-init ran in the db image, wrote through the real bind mount of the volume.
      assert.equal(
        Deno.readTextFileSync(`${dev.root}/volumes/database/initialized`),
        "initialized with DB_LOCALE=C\n",
      );
      const vacuumed = await rpcResult(dev.socket, "action", "vacuum") as { message: string };
      assert.equal(vacuumed.message, "db-cli said: vacuum done in / on /var/lib/db");
      assert.equal(await rpcResult(dev.socket, "start"), null);
      const lines = await within(
        Promise.all([
          dev.stderr.waitFor(new RegExp(`db: listening on ${ports.db} as uid 0 in /`)),
          dev.stderr.waitFor(new RegExp(`app: listening on ${ports.web} as uid 1000 in /srv`)),
          dev.stderr.waitFor(/effect set-health .*"result":"success".*"id":"app"/),
        ]),
        60_000,
        "both daemons running from their images",
      );
      assert.ok(lines.every((line) => line !== null), dev.stderr.lines.join("\n"));
      assert.equal(await (await fetch(`http://127.0.0.1:${ports.web}/`)).text(), "app\n");
      const runtime = runtimePid(dev.child.pid);
      const mounted = () =>
        Deno.readTextFileSync(`/proc/${runtime}/mountinfo`).split("\n")
          .filter((line) => line.includes("/media/startos/subcontainers/")).length;
      assert.ok(mounted() > 0);
      assert.equal(await rpcResult(dev.socket, "stop"), null);
      assert.equal(mounted(), 0); // destroy-fs unmounted every image root and its bind mounts
      assert.deepEqual([...Deno.readDirSync(`${dev.root}/subcontainers`)], []);
      const tree = descendants(dev.child.pid);
      await interruptAndCheck(dev, tree, mountNamespaceOf(runtime));
    } finally {
      await dev?.close();
      await Deno.remove(images, { recursive: true });
    }
  },
});

Deno.test("deploy: the unit runs the entrypoint with the start task's flags; its OnFailure rebuilds", async () => {
  const unit = parseUnit(await Deno.readTextFile(`${REPO}deploy/container-runtime.service`));
  const failure = parseUnit(
    await Deno.readTextFile(`${REPO}deploy/container-runtime-failure.service`),
  );
  const config = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`));
  assert.deepEqual(
    unit.Unit["X-StartOS-Deno-Flags"].split(" "),
    flagsOfStartTask(config.tasks.start),
  );
  assert.deepEqual(unit.Unit["X-StartOS-Deno-Flags"].split(" "), await startTaskFlags());
  assert.deepEqual((await compileArgs("x")).slice(1, -3), await startTaskFlags());
  assert.deepEqual(unit.Service.ExecStart.split(" "), [
    "/usr/bin/start-container",
    "pipe-wrap",
    "/usr/lib/startos/runtime/startos-deno-runtime",
  ]);
  assert.equal(unit.Service.Restart, "no");
  assert.equal(unit.Service.Type, "simple");
  assert.equal(unit.Unit.OnFailure, "container-runtime-failure.service");
  assert.equal(unit.Install.WantedBy, "multi-user.target");
  assert.equal(failure.Service.ExecStart, "/usr/bin/start-container rebuild");
  assert.equal(failure.Service.Type, "oneshot");
  const env = unit.Service.Environment.split("\n");
  assert.ok(env.includes("STARTOS_DENO=/usr/lib/startos/runtime/deno"));
  assert.ok(env.includes("STARTOS_WORKER_ENTRY=/usr/lib/startos/runtime/worker.js"));
  assert.ok(env.includes("DENO_DIR=/usr/lib/startos/runtime/deno-dir"));
  if (onPath("systemd-analyze")) {
    // systemd's own check, with start-container (StartOS's, absent here) replaced by /bin/true.
    const dir = await Deno.makeTempDir();
    try {
      for (const name of ["container-runtime.service", "container-runtime-failure.service"]) {
        const text = await Deno.readTextFile(`${REPO}deploy/${name}`);
        await Deno.writeTextFile(
          `${dir}/${name}`,
          text.replaceAll("/usr/bin/start-container", "/bin/true"),
        );
      }
      const out = await new Deno.Command("systemd-analyze", {
        args: [
          "verify",
          "--man=no",
          `${dir}/container-runtime.service`,
          `${dir}/container-runtime-failure.service`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      assert.equal(said.trim(), "");
      assert.equal(out.code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("build_rootfs.sh: the tree drops into a rootfs; its launcher runs the bundled runtime with its deno and cache, and serves a package", async () => {
  const out = await Deno.makeTempDir({ prefix: "startos-rootfs-" });
  const fake = `${out}.binary`;
  try {
    const built = await new Deno.Command(`${REPO}scripts/build_rootfs.sh`, {
      args: ["--out", `${out}/tree`, "--deno", Deno.execPath()],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));
    const tree = `${out}/tree`;
    const runtime = `${tree}/usr/lib/startos/runtime`;
    const launcher = `${runtime}/startos-deno-runtime`;
    // The entrypoint runs runtime.js with the start task's flags, from the tree's own deno.
    assert.equal(Deno.readTextFileSync(launcher), launcherScript(await startTaskFlags()));
    assert.ok(((Deno.statSync(launcher).mode ?? 0) & 0o111) !== 0);
    assert.ok(((Deno.statSync(`${runtime}/deno`).mode ?? 0) & 0o111) !== 0);
    // The two bundles and Deno's cache, warmed for them; no source tree.
    for (const file of ["runtime.js", "worker.js", "deno-dir/dep_analysis_cache_v2"]) {
      assert.ok(Deno.statSync(`${runtime}/${file}`).isFile, file);
    }
    for (const file of ["main.ts", "deno.json", "lib"]) {
      assert.throws(() => Deno.statSync(`${runtime}/${file}`), file);
    }
    // The bundles import node: modules only (the worker: node:module for `require`): nothing to
    // resolve or fetch in the container.
    const importsOf = (file: string) =>
      [
        ...Deno.readTextFileSync(`${runtime}/${file}`).matchAll(
          /(?:\bfrom|\bimport)\s*\(?\s*"([^"]+)"/g,
        ),
      ].map((match) => match[1]);
    assert.ok(importsOf("worker.js").includes("node:module"));
    for (const file of ["runtime.js", "worker.js"]) {
      assert.deepEqual(importsOf(file).filter((name) => !name.startsWith("node:")), [], file);
    }
    assert.equal(
      Deno.readTextFileSync(`${tree}/lib/systemd/system/container-runtime.service`),
      Deno.readTextFileSync(`${REPO}deploy/container-runtime.service`),
    );
    assert.ok(Deno.statSync(`${tree}/lib/systemd/system/container-runtime-failure.service`).isFile);
    assert.equal(
      Deno.readLinkSync(
        `${tree}/etc/systemd/system/multi-user.target.wants/container-runtime.service`,
      ),
      "/lib/systemd/system/container-runtime.service",
    );
    // What the unit's Environment= hands the runtime, relocated into the tree, but for the deno
    // and the worker entry, which the runtime finds beside itself: the launcher runs runtime.js,
    // children run the tree's deno and worker.js with its cache, and they serve init of the
    // example package.
    const root = `${out}/root`;
    await Deno.mkdir(`${root}/rpc`, { recursive: true });
    await Deno.mkdir(`${root}/volumes/main`, { recursive: true });
    const host = FakeHost.listen(`${root}/rpc/host.sock`);
    const child = new Deno.Command(launcher, {
      args: ["--root", root, "--package", `${REPO}examples/hello/dist/index.js`],
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        DENO_DIR: `${runtime}/deno-dir`,
        DENO_NO_UPDATE_CHECK: "1",
        NO_COLOR: "1",
        STARTOS_ROOT: root,
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const rt = await watchRuntime(child, root, { removeRoot: false, wait: true });
    try {
      const client = await RpcClient.connect(rt.socket);
      try {
        const init = await client.call("init", { id: "i", kind: "install" });
        assert.deepEqual(init, { result: null }, rt.stderr.join("\n"));
        const cmdline = Deno.readTextFileSync(`/proc/${rt.child.pid}/cmdline`).split("\0");
        assert.deepEqual(cmdline.slice(0, 2), [`${runtime}/deno`, "run"]);
        assert.ok(cmdline.includes(`${runtime}/runtime.js`), cmdline.join(" "));
      } finally {
        client.close();
      }
      assert.ok(host.calls.some((call) => call.method === "set-data-version"));
    } finally {
      await rt.stop();
      host.close();
    }
    // --binary ships a compiled runtime as the entrypoint instead.
    await Deno.writeTextFile(fake, "#!/bin/sh\necho compiled-runtime\n", { mode: 0o755 });
    const withBinary = await new Deno.Command(`${REPO}scripts/build_rootfs.sh`, {
      args: ["--out", `${out}/tree2`, "--binary", fake, "--deno", Deno.execPath()],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(withBinary.code, 0, new TextDecoder().decode(withBinary.stderr));
    assert.equal(
      Deno.readTextFileSync(`${out}/tree2/usr/lib/startos/runtime/startos-deno-runtime`),
      "#!/bin/sh\necho compiled-runtime\n",
    );
    // Its children run worker.js all the same; runtime.js, which it embeds, is not shipped.
    assert.ok(Deno.statSync(`${out}/tree2/usr/lib/startos/runtime/worker.js`).isFile);
    assert.throws(() => Deno.statSync(`${out}/tree2/usr/lib/startos/runtime/runtime.js`));
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(fake).catch(() => {});
  }
});
