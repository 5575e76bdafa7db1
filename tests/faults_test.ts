/**
 * Faults: the host missing, dying, answering garbage or never answering; children that exit or
 * crash mid-procedure; init that never resolves; stop during start; exit during an action;
 * SIGKILL of the runtime while an action runs. The runtime must answer clearly and stay up.
 */

import assert from "node:assert/strict";
import { FakeHost } from "./helpers/fake_host.ts";
import { LineReader } from "./helpers/line_reader.ts";
import {
  childOf,
  fixture,
  leaderPid,
  processExists,
  runAction,
  startPackageRuntime,
} from "./helpers/package_runtime.ts";
import { RpcClient } from "./helpers/rpc_client.ts";
import { spawnRuntime } from "./helpers/runtime_process.ts";
import { eventually, within } from "./helpers/sdk_within.ts";

const FAULTS = fixture("faults");

/**
 * The child that printed a line matching `pattern` and the host pid of its process group leader
 * (the runtime must run with `--log-level debug`). Package code only sees pids inside its PID
 * namespace; when the leader is gone, so is every process of the child.
 */
async function childFromLog(
  runtime: { stderr: string[]; waitForLog(p: RegExp): Promise<string | null> },
  pattern: RegExp,
): Promise<{ name: string; pid: number; line: string }> {
  const line = await within(runtime.waitForLog(pattern), 10_000, `log line ${pattern}`);
  const name = childOf(line);
  return { name, pid: leaderPid(runtime.stderr, name), line: line! };
}

Deno.test("host.sock absent at start: init fails 1 naming the socket, and succeeds once the host is up", async () => {
  const root = await Deno.makeTempDir({ prefix: "startos-faults-" });
  await Deno.mkdir(`${root}/rpc`);
  const runtime = await spawnRuntime({ root, args: ["--package", FAULTS] });
  const client = await RpcClient.connect(runtime.socket);
  let host: FakeHost | undefined;
  try {
    const failed = await client.call("init", { id: "init-1", kind: "install" });
    assert.equal(failed.error?.code, 1);
    assert.equal(failed.error?.message, "The host is not reachable");
    assert.match(
      failed.error?.data?.details ?? "",
      new RegExp(`cannot connect to the host socket ${root}/rpc/host\\.sock`),
    );
    assert.equal((await client.call("start")).error?.code, 40);
    host = FakeHost.listen(`${root}/rpc/host.sock`);
    assert.deepEqual(await client.call("init", { id: "init-2", kind: "install" }), {
      result: null,
    });
    assert.deepEqual(host.callsOf("set-data-version")[0].params, {
      version: "1.0.0:0",
      eventId: "init-2",
    });
  } finally {
    client.close();
    await runtime.stop();
    host?.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the host dies mid-effect during init: init fails 1, the retry against a new host succeeds", async () => {
  const rt = await startPackageRuntime({ package: FAULTS, init: false });
  let back: FakeHost | undefined;
  try {
    rt.host.handlers.set("set-data-version", () => {
      rt.host.close();
      return new Promise(() => {});
    });
    const failed = await rt.client.call("init", { id: "init-1", kind: "install" });
    assert.equal(failed.error?.code, 1);
    assert.equal(failed.error?.message, "The host connection closed");
    assert.match(
      failed.error?.data?.details ?? "",
      /the host went away while set-data-version was waiting for its answer/,
    );
    back = FakeHost.listen(rt.host.path);
    assert.deepEqual(await rt.client.call("init", { id: "init-2", kind: "install" }), {
      result: null,
    });
    assert.equal(back.callsOf("set-data-version")[0].params.eventId, "init-2");
  } finally {
    await rt.close();
    back?.close();
  }
});

/**
 * A host that answers the first `get-os-ip` with garbage (and a request of its own), and every
 * other effect properly. Records every line the runtime wrote to it.
 */
class GarbageHost {
  readonly written: string[] = [];
  readonly #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  readonly #conns: Deno.UnixConn[] = [];

  constructor(path: string) {
    this.#listener = Deno.listen({ transport: "unix", path });
    this.#serve();
  }

  async #serve(): Promise<void> {
    for await (const conn of this.#listener) {
      this.#conns.push(conn);
      const reader = new LineReader(conn.readable);
      const write = (bytes: Uint8Array) => conn.write(bytes).catch(() => 0);
      let seen = 0;
      (async () => {
        for (let i = 0;; i++) {
          const line = await reader.lineAt(i);
          if (line === null) return;
          this.written.push(line);
          const message = JSON.parse(line);
          if (!("method" in message)) continue; // the runtime's answers to our garbage
          if (message.method !== "get-os-ip") {
            await write(
              new TextEncoder().encode(JSON.stringify({ id: message.id, result: null }) + "\n"),
            );
          } else if (seen++ === 0) {
            const junk = [
              "this is not json",
              '{"truncated": ',
              `{"id":${message.id},"error":"not an error object"}`,
              `{"id":"unknown-id","result":"stray"}`,
              `{"jsonrpc":"1.0","id":${message.id},"result":"wrong version"}`,
              '{"id":99,"method":"host-asks","params":{}}',
              "[]",
              "\u0000\u0000",
            ].join("\n") + "\n";
            await write(new TextEncoder().encode(junk));
            await write(new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0x0a])); // invalid UTF-8
          } else {
            await write(
              new TextEncoder().encode(
                JSON.stringify({ id: message.id, result: "10.9.9.9" }) + "\n",
              ),
            );
          }
        }
      })();
    }
  }

  close(): void {
    try {
      this.#listener.close();
    } catch {
      // closed
    }
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // closed
      }
    }
  }
}

Deno.test("a host answering garbage: the effect times out 71, the host is told why, later effects work", async () => {
  const root = await Deno.makeTempDir({ prefix: "startos-faults-" });
  await Deno.mkdir(`${root}/rpc`);
  const garbage = new GarbageHost(`${root}/rpc/host.sock`);
  const runtime = await spawnRuntime({
    root,
    args: ["--package", FAULTS, "--effect-timeout", "800"],
  });
  const client = await RpcClient.connect(runtime.socket);
  try {
    assert.deepEqual(await client.call("init", { id: "init-1", kind: null }), { result: null });
    const started = Date.now();
    const outcome = await client.call("execute", runAction("host-effect", null, "g-1"));
    const elapsed = Date.now() - started;
    assert.equal(outcome.error?.code, 71, JSON.stringify(outcome));
    assert.equal(outcome.error?.message, "The host did not answer");
    assert.match(outcome.error?.data?.details ?? "", /get-os-ip got no answer .* within 800 ms/);
    assert.ok(elapsed < 5000, `answered after ${elapsed} ms`);
    // The runtime answered the garbage in kind on the host connection and refused the request.
    const answers = garbage.written.filter((l) => !/"method"/.test(l)).map((l) => JSON.parse(l));
    const codes = answers.map((a) => a.error?.code);
    assert.ok(codes.includes(-32700), JSON.stringify(answers));
    assert.ok(codes.includes(-32600), JSON.stringify(answers));
    assert.ok(
      answers.some((a) => a.id === 99 && a.error?.code === -32601),
      JSON.stringify(answers),
    );
    // The connection survived: the next effect gets the host's answer.
    assert.deepEqual(await client.call("execute", runAction("host-effect", null, "g-2")), {
      result: "10.9.9.9",
    });
  } finally {
    client.close();
    await runtime.stop();
    garbage.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a host that never answers: the effect fails 71 within --effect-timeout and the runtime serves on", async () => {
  const rt = await startPackageRuntime({ package: FAULTS, args: ["--effect-timeout", "500"] });
  try {
    rt.host.handlers.set("get-os-ip", () => new Promise(() => {}));
    const started = Date.now();
    const outcome = await rt.client.call("execute", runAction("host-effect", null, "n-1"));
    const elapsed = Date.now() - started;
    assert.equal(outcome.error?.code, 71);
    assert.equal(outcome.error?.message, "The host did not answer");
    assert.equal(
      outcome.error?.data?.details,
      "get-os-ip got no answer from the host within 500 ms",
    );
    assert.ok(elapsed >= 500 && elapsed < 3000, `answered after ${elapsed} ms`);
    rt.host.handlers.set("get-os-ip", () => "10.0.0.7");
    assert.deepEqual(await rt.client.call("execute", runAction("host-effect", null, "n-2")), {
      result: "10.0.0.7",
    });
  } finally {
    await rt.close();
  }
});

Deno.test("a child that exits mid-procedure is answered 59 with its exit code and last output", async () => {
  const rt = await startPackageRuntime({ package: FAULTS });
  try {
    const outcome = await rt.client.call("execute", runAction("exit-mid", null, "x-1"));
    assert.equal(outcome.error?.code, 59);
    assert.equal(outcome.error?.message, "The run process exited with code 7");
    // The child's last output lines, its final words last.
    assert.match(outcome.error?.data?.debug ?? "", /exit-mid: exiting with 7$/);
    assert.match(
      outcome.error?.data?.details ?? "",
      /the run#\d+ child process exited with code 7/,
    );
    assert.deepEqual(await rt.client.call("execute", runAction("noop")), { result: null });
  } finally {
    await rt.close();
  }
});

Deno.test("a child that crashes with an uncaught error is answered 59 and the runtime serves on", async () => {
  const rt = await startPackageRuntime({ package: FAULTS });
  try {
    const outcome = await rt.client.call("execute", runAction("crash-uncaught", null, "c-1"));
    assert.equal(outcome.error?.code, 59);
    assert.match(outcome.error?.message ?? "", /^The run process (exited with code 1|was killed)/);
    assert.deepEqual(await rt.client.call("execute", runAction("noop")), { result: null });
  } finally {
    await rt.close();
  }
});

Deno.test({
  name: "a child that crashes with an uncaught error is reported with its own exit and error",
  // Deno closes a dying process's sockets before it prints "error: Uncaught ..." and exits 1:
  // the launcher waits for the exit and the output before it reports.
  fn: async () => {
    const rt = await startPackageRuntime({ package: FAULTS });
    try {
      const outcome = await rt.client.call("execute", runAction("crash-uncaught", null, "c-1"));
      assert.equal(outcome.error?.code, 59);
      assert.equal(outcome.error?.message, "The run process exited with code 1");
      assert.match(outcome.error?.data?.debug ?? "", /Uncaught Error: uncaught boom/);
    } finally {
      await rt.close();
    }
  },
});

Deno.test("init that never resolves: other requests are answered, SIGTERM still ends everything", async () => {
  const rt = await startPackageRuntime({
    package: FAULTS,
    init: false,
    env: { FAULTS_INIT: "hang" },
    args: ["--log-level", "debug"],
  });
  try {
    // The host abandons its wait after its own timeout; it does not cancel the request.
    const pending = rt.client.call("init", { id: "init-1", kind: "install" });
    const { pid } = await childFromLog(rt.runtime, /init hanging pid \d+/);
    const other = await RpcClient.connect(rt.runtime.socket);
    try {
      const started = Date.now();
      assert.equal((await other.call("start")).error?.code, 40);
      // stop always works: there is no main to stop yet.
      assert.deepEqual(await other.call("stop"), { result: null });
      assert.equal((await other.call("execute", runAction("noop"))).error?.code, 40);
      assert.equal((await other.call("eval", { script: "1" })).error?.code, -32601);
      assert.equal((await other.call("init", { id: "bad", kind: 5 })).error?.code, -32602);
      assert.ok(Date.now() - started < 2000, "the runtime kept answering promptly");
      // A second init joins the one in progress rather than starting another package host.
      const joined = other.call("init", { id: "init-2", kind: "install" });
      // Requests on one connection are dispatched in order: once this is answered, init-2 waits.
      assert.equal((await other.call("start")).error?.code, 40);
      const stopping = Date.now();
      rt.runtime.child.kill("SIGTERM");
      const status = await within(rt.runtime.status, 10_000, "runtime exit after SIGTERM");
      assert.equal(status.code, 0);
      assert.ok(Date.now() - stopping < 5000);
      assert.equal(processExists(pid), false);
      // Both waits are answered: cancelled by the shutdown (73), not a package error.
      for (const outcome of [await pending, await joined]) {
        assert.equal(outcome.error?.code, 73, JSON.stringify(outcome));
        assert.match(outcome.error?.data?.details ?? "", /init was cancelled/);
      }
      await assert.rejects(Deno.lstat(rt.runtime.socket), Deno.errors.NotFound);
    } finally {
      other.close();
    }
  } finally {
    await rt.close();
  }
});

Deno.test("stop during start: stop answers at once, start is cancelled 73, main is gone and can start again", async () => {
  const rt = await startPackageRuntime({
    package: FAULTS,
    env: { FAULTS_MAIN: "slow-start" },
    args: ["--log-level", "debug"],
  });
  try {
    const starting = rt.client.call("start");
    const first = await childFromLog(rt.runtime, /main building pid \d+/);
    const pid = first.pid;
    const started = Date.now();
    assert.deepEqual(await rt.client.call("stop"), { result: null });
    assert.ok(Date.now() - started < 3000, "stop waited for the build");
    assert.equal(processExists(pid), false);
    const start = await within(starting, 5000, "start's answer");
    assert.equal(start.error?.code, 73);
    assert.equal(start.error?.message, "Start was cancelled by stop");
    // A later start spawns a fresh main (this one hangs in build too), which stop ends again.
    const again = rt.client.call("start");
    const { pid: second } = await childFromLog(
      rt.runtime,
      new RegExp(`main building pid \\d+ child=(?!${first.name} )`),
    );
    assert.notEqual(second, pid);
    assert.deepEqual(await rt.client.call("stop"), { result: null });
    assert.equal((await within(again, 5000, "second start's answer")).error?.code, 73);
    assert.equal(processExists(second), false);
  } finally {
    await rt.close();
  }
});

Deno.test("exit during a running action: exit answers, the action is cancelled 73, nothing is left", async () => {
  const rt = await startPackageRuntime({
    package: FAULTS,
    args: ["--log-level", "debug"],
    policy: `{ "profiles": { "run": { "run": ["sh"] } } }`,
  });
  try {
    const action = rt.client.call("execute", runAction("slow", null, "slow-1", null));
    const { pid, line } = await childFromLog(rt.runtime, /slow pid \d+ grandchild \d+/);
    const pids = [pid, Number(line.match(/grandchild (\d+)/)![1])];
    assert.ok(pids.every(processExists));
    const other = await RpcClient.connect(rt.runtime.socket);
    try {
      assert.deepEqual(await other.call("exit", { id: "exit-1", target: null }), {
        result: null,
      });
    } finally {
      other.close();
    }
    const outcome = await within(action, 5000, "the action's answer");
    assert.equal(outcome.error?.code, 73, JSON.stringify(outcome));
    assert.match(outcome.error?.data?.details ?? "", /execute slow-1 was cancelled/);
    assert.equal((await rt.runtime.status).code, 0);
    assert.ok(pids.every((pid) => !processExists(pid)));
    assert.deepEqual(rt.host.callsOf("set-data-version").at(-1)?.params, {
      version: null,
      eventId: "exit-1",
    });
  } finally {
    await rt.close();
  }
});

Deno.test("SIGKILL of the runtime while an action runs leaves no child and no grandchild", async () => {
  const rt = await startPackageRuntime({
    package: FAULTS,
    args: ["--log-level", "debug"],
    policy: `{ "profiles": { "run": { "run": ["sh"] } } }`,
  });
  try {
    rt.client.call("execute", runAction("slow", null, "slow-1", null)).catch(() => {});
    const line = await within(
      rt.runtime.waitForLog(/slow pid \d+ grandchild \d+/),
      10_000,
      "the action to start",
    );
    const pids = [Number(line!.match(/grandchild (\d+)/)![1])];
    for (const spawned of rt.runtime.stderr.filter((l) => / spawned /.test(l))) {
      pids.push(Number(spawned.match(/pid=(\d+)/)![1]));
    }
    // The grandchild and the action's child; the package host too, unless it retired already
    // (this package's init holds nothing).
    const live = pids.filter(processExists);
    assert.ok(live.length >= 2 && live.includes(pids[0]), pids.join(" "));
    rt.runtime.child.kill("SIGKILL");
    await rt.runtime.status;
    // The watchdog kills every child's group, and with it each child's PID namespace.
    await eventually(() => live.every((pid) => !processExists(pid)), 5000, "every child gone");
  } finally {
    await rt.close();
  }
});
