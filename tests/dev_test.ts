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
import { processesMentioning, REPO, socketsUnder, startDev } from "./helpers/dev_process.ts";
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
    assert.equal(await rpcResult(dev.socket, "stop"), null);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`)); // term() closed the server

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

    const ping = await rpc(dev.socket, "action", "ping");
    assert.equal(ping.code, 1);
    assert.match(
      ping.stderr,
      /error 34 .*\n {2}the run profile does not allow this: Requires net access/,
    );

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
    assert.ok(processesMentioning(dev.root).length >= 3); // dev, runtime, package host, main
    dev.interrupt();
    const status = await dev.status;
    assert.equal(status.code, 0, dev.stderr.lines.join("\n"));
    await dev.stderr.done;
    assert.ok(dev.stderr.lines.some((line) => /web server stopped/.test(line))); // term() ran
    assert.deepEqual(socketsUnder(dev.root), []);
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
      "--v8-flags=--max-semi-space-size=1",
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

Deno.test("the Containerfile compiles with deno task compile and sets the paths children need", async () => {
  const text = await Deno.readTextFile(`${REPO}Containerfile`);
  const stages = text.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  assert.match(stages[0], /^RUN deno task compile\b/m);
  assert.match(stages[0], /deno cache --no-config --no-lock lib\/worker\/entry\.ts/);
  const config = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`));
  assert.match(config.tasks.compile, /scripts\/compile\.ts$/);
  assert.deepEqual(flagsOfStartTask(config.tasks.start), await startTaskFlags());
  const final = stages[1];
  assert.match(final, /^debian:\S+-slim/);
  const env = (name: string) => final.match(new RegExp(`${name}=(\\S+)`))?.[1];
  const workdir = final.match(/^WORKDIR (\S+)/m)?.[1];
  assert.equal(env("STARTOS_WORKER_ENTRY"), `${workdir}/lib/worker/entry.ts`);
  assert.match(final, new RegExp(`COPY --from=build ${workdir}/lib \\./lib`));
  assert.equal(env("STARTOS_DENO"), `${workdir}/deno`);
  assert.match(final, /COPY --from=build \S+\/deno \.\/deno\n/);
  assert.equal(env("DENO_DIR"), `${workdir}/deno-dir`);
  assert.match(stages[0], new RegExp(`DENO_DIR=${workdir}/deno-dir deno cache`));
  assert.match(final, /^VOLUME \["\/media\/startos\/rpc"\]/m);
});

Deno.test("the committed example bundle is what deno task build-example makes of its source", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "build-example", "--check"],
    cwd: REPO,
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
});
