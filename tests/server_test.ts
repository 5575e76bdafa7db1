import assert from "node:assert/strict";
import { RawClient } from "./helpers/raw_client.ts";
import { spawnRuntime } from "./helpers/runtime_process.ts";
import { withRuntime } from "./helpers/with_runtime.ts";

const DEV = { args: ["--dev"] };
type Answer = {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: { details?: string } };
};

/** Leaves a socket file nobody answers on, as a crashed runtime does. */
async function leaveStaleSocket(path: string): Promise<void> {
  const script =
    `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); console.log("up");` +
    "setInterval(() => {}, 1000);";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "up": the socket exists
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
}

function evalRequest(id: unknown, script: string): string {
  return JSON.stringify({ id, method: "eval", params: { script } }) + "\n";
}

Deno.test("a request split across writes and two requests in one write are answered", async () => {
  await withRuntime(DEV, async (_rt, client) => {
    const line = evalRequest(1, "40 + 2");
    await client.write(line.slice(0, 5));
    await client.write(line.slice(5, 20));
    await client.write(line.slice(20));
    assert.deepEqual(await client.json(), { jsonrpc: "2.0", id: 1, result: 42 });
    await client.write(evalRequest(2, "'a'") + evalRequest(3, "'b'"));
    const answers = await client.jsonLines(2) as Answer[];
    assert.deepEqual(answers.map((a) => [a.id, a.result]).sort(), [[2, "a"], [3, "b"]]);
  });
});

Deno.test("a UTF-8 character split across writes arrives whole", async () => {
  await withRuntime(DEV, async (_rt, client) => {
    const bytes = new TextEncoder().encode(evalRequest(1, "'héllo €'"));
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of é
    await client.write(bytes.subarray(0, cut));
    await client.write(bytes.subarray(cut));
    assert.deepEqual(await client.json(), { jsonrpc: "2.0", id: 1, result: "héllo €" });
  });
});

Deno.test("1000 pipelined requests on one connection are all answered with their ids", async () => {
  await withRuntime({}, async (_rt, client) => {
    let batch = "";
    for (let i = 0; i < 1000; i++) batch += `{"id":${i},"method":"no-such-method","params":{}}\n`;
    await client.write(batch);
    const answers = await client.jsonLines(1000) as Answer[];
    assert.deepEqual(answers.map((a) => a.id).sort((a, b) => Number(a) - Number(b)), [
      ...Array(1000).keys(),
    ]);
    assert.ok(answers.every((a) => a.jsonrpc === "2.0" && a.error?.code === -32601));
  });
});

Deno.test("a slow request and a fast one are answered out of order", async () => {
  await withRuntime(DEV, async (_rt, client) => {
    await client.write(
      evalRequest("slow", "new Promise((resolve) => setTimeout(() => resolve('slow'), 300))") +
        evalRequest("fast", "'fast'"),
    );
    const [first, second] = await client.jsonLines(2) as Answer[];
    assert.equal(first.id, "fast");
    assert.equal(second.id, "slow");
    assert.equal(second.result, "slow");
  });
});

Deno.test("50 concurrent connections are each answered", async () => {
  await withRuntime(DEV, async (runtime) => {
    const clients = await Promise.all(
      Array.from({ length: 50 }, () => RawClient.connect(runtime.socket)),
    );
    try {
      await Promise.all(clients.map((c, i) => c.write(evalRequest(i, `${i} * 2`))));
      const answers = await Promise.all(clients.map((c) => c.json())) as Answer[];
      answers.forEach((answer, i) =>
        assert.deepEqual(answer, { jsonrpc: "2.0", id: i, result: i * 2 })
      );
    } finally {
      clients.forEach((c) => c.close());
    }
  });
});

Deno.test("a client that disconnects mid-request loses only its own answer", async () => {
  await withRuntime(DEV, async (runtime, client) => {
    const leaver = await RawClient.connect(runtime.socket);
    await leaver.write(
      evalRequest(1, "new Promise((resolve) => setTimeout(() => resolve(1), 200))"),
    );
    leaver.close();
    await client.write(
      evalRequest(2, "new Promise((resolve) => setTimeout(() => resolve(2), 300))"),
    );
    assert.deepEqual(await client.json(), { jsonrpc: "2.0", id: 2, result: 2 });
  });
});

Deno.test("a client that never reads does not block another client", async () => {
  await withRuntime({}, async (runtime, client) => {
    const hog = await RawClient.connect(runtime.socket);
    let flood = "";
    for (let i = 0; i < 20000; i++) flood += `{"id":${i},"method":"nope"}\n`;
    await hog.write(flood); // never reads its ~4 MB of answers
    await client.write(`{"id":"x","method":"start","params":{}}\n`);
    assert.equal((await client.json() as Answer).error?.code, 40);
    hog.close();
  });
});

Deno.test("a notification gets no answer", async () => {
  await withRuntime({}, async (_rt, client) => {
    await client.write(
      `{"method":"nope","params":{}}\n{"method":"callback","params":{"id":1,"args":[]}}\n`,
    );
    await client.write(`{"id":9,"method":"nope","params":{}}\n`);
    assert.equal((await client.json() as Answer).id, 9);
  });
});

Deno.test("a batch answers its requests in one array and skips its notifications", async () => {
  await withRuntime(DEV, async (_rt, client) => {
    await client.write(
      JSON.stringify([
        { id: 1, method: "eval", params: { script: "1" } },
        { method: "callback", params: { id: 3, args: [] } },
        { id: 2, method: "nope", params: {} },
        5,
      ]) + "\n",
    );
    const answer = await client.json() as Answer[];
    assert.ok(Array.isArray(answer));
    assert.deepEqual(answer[0], { jsonrpc: "2.0", id: 1, result: 1 });
    assert.equal(answer[1].id, 2);
    assert.equal(answer[1].error?.code, -32601);
    assert.deepEqual([answer[2].id, answer[2].error?.code], [null, -32600]);
    assert.equal(answer.length, 3);
    await client.write(`[{"method":"nope"},{"method":"nope2"}]\n[]\n`);
    const empty = await client.json() as Answer;
    assert.deepEqual([empty.id, empty.error?.code], [null, -32600]);
  });
});

Deno.test("a parse error is answered with id null and the connection keeps working", async () => {
  await withRuntime({}, async (_rt, client) => {
    await client.write(`{"id":1,"method":\n{"id":2,"method":"nope","params":{}}\n`);
    const parse = await client.json() as Answer;
    assert.deepEqual([parse.id, parse.error?.code, "result" in parse], [null, -32700, false]);
    assert.equal((await client.json() as Answer).id, 2);
    await client.write(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d, 0x0a]));
    const utf8 = await client.json() as Answer;
    assert.equal(utf8.error?.code, -32700);
    assert.match(utf8.error?.data?.details ?? "", /UTF-8/);
  });
});

Deno.test("an over-long line is refused and the next request is answered", async () => {
  await withRuntime({ args: ["--max-line-bytes", "1024"] }, async (_rt, client) => {
    await client.write(`{"id":1,"method":"nope","params":{"pad":"${"x".repeat(5000)}"}}\n`);
    await client.write(`{"id":2,"method":"nope","params":{}}\n`);
    const refused = await client.json() as Answer;
    assert.deepEqual([refused.id, refused.error?.code], [null, -32600]);
    assert.match(refused.error?.data?.details ?? "", /1024 bytes/);
    assert.equal((await client.json() as Answer).id, 2);
  });
});

Deno.test("jsonrpc may be missing but must be 2.0 when present; CRLF and blank lines are fine", async () => {
  await withRuntime(DEV, async (_rt, client) => {
    await client.write(`\n  \r\n{"id":1,"method":"eval","params":{"script":"1"}}\r\n`);
    assert.deepEqual(await client.json(), { jsonrpc: "2.0", id: 1, result: 1 });
    await client.write(`{"jsonrpc":"1.0","id":2,"method":"eval","params":{"script":"1"}}\n`);
    const wrong = await client.json() as Answer;
    assert.deepEqual([wrong.id, wrong.error?.code], [2, -32600]);
  });
});

Deno.test("string, number and null ids are echoed unchanged", async () => {
  await withRuntime(DEV, async (_rt, client) => {
    for (const id of ["abc", 0, 17, -3, 2.5, null, ""]) {
      await client.write(evalRequest(id, "null"));
      const text = await client.line();
      assert.equal(text, `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":null}`);
    }
    await client.write(`{"id":{"x":1},"method":"eval","params":{"script":"1"}}\n`);
    const bad = await client.json() as Answer;
    assert.deepEqual([bad.id, bad.error?.code], [null, -32600]);
  });
});

Deno.test("an unknown method is answered -32601 naming the method", async () => {
  await withRuntime({}, async (_rt, client) => {
    await client.write(`{"id":1,"method":"frobnicate","params":{}}\n`);
    const answer = await client.json() as Answer;
    assert.equal(answer.error?.code, -32601);
    assert.match(answer.error?.data?.details ?? "", /frobnicate/);
  });
});

Deno.test("invalid params are answered -32602 with the issue, for every method", async () => {
  const cases: [string, unknown][] = [
    ["init", { id: 5, kind: null }],
    ["init", { id: "x", kind: "reinstall" }],
    ["exit", { id: "x", target: 3 }],
    ["start", 7],
    ["stop", "now"],
    ["execute", { id: "x", procedure: 1, input: null, timeout: null }],
    ["execute", { id: "x", procedure: "/backup/create", input: null, timeout: -5 }],
    ["sandbox", { id: "x", input: null }],
    ["callback", { id: "one", args: [] }],
    ["callback", { id: 1, args: {} }],
    ["eval", { script: 42 }],
  ];
  await withRuntime(DEV, async (_rt, client) => {
    for (const [i, [method, params]] of cases.entries()) {
      await client.write(JSON.stringify({ id: i, method, params }) + "\n");
      const answer = await client.json() as Answer;
      assert.equal(answer.id, i);
      assert.equal(answer.error?.code, -32602, `${method} ${JSON.stringify(params)}`);
      assert.match(answer.error?.data?.details ?? "", new RegExp(`^${method}: params`));
    }
  });
});

Deno.test("every method but init, eval, stop and exit is answered 40 before init", async () => {
  const calls: [string, unknown][] = [
    ["start", {}],
    ["execute", { id: "a", procedure: "/actions/x/run", input: { input: 1 }, timeout: null }],
    ["sandbox", {
      id: "a",
      procedure: "/actions/x/getInput",
      input: { prefill: null },
      timeout: 1000,
    }],
    ["callback", { id: 1, args: [] }],
  ];
  await withRuntime(DEV, async (_rt, client) => {
    for (const [i, [method, params]] of calls.entries()) {
      await client.write(JSON.stringify({ id: i, method, params }) + "\n");
      const answer = await client.json() as Answer;
      assert.equal(answer.error?.code, 40, method);
    }
    await client.write(evalRequest("e", "'still here'"));
    assert.equal((await client.json() as Answer).result, "still here");
    // The host can always stop main: before init there is none, so stop answers null.
    await client.write(`{"id":"s","method":"stop","params":null}\n`);
    assert.deepEqual(await client.json(), { jsonrpc: "2.0", id: "s", result: null });
  });
});

Deno.test("eval is refused without --dev, saying how to enable it", async () => {
  await withRuntime({}, async (_rt, client) => {
    await client.write(evalRequest(1, "1"));
    const answer = await client.json() as Answer;
    assert.equal(answer.error?.code, -32601);
    assert.match(answer.error?.data?.details ?? "", /--dev/);
  });
});

Deno.test("eval errors are answered 59 with the error's message", async () => {
  await withRuntime(DEV, async (_rt, client) => {
    await client.write(evalRequest(1, "throw new RangeError('nope')"));
    const answer = await client.json() as Answer;
    assert.equal(answer.error?.code, 59);
    assert.match(answer.error?.data?.details ?? "", /RangeError: nope/);
    await client.write(evalRequest(2, "10n ** 20n"));
    assert.equal((await client.json() as Answer).result, "100000000000000000000");
  });
});

Deno.test("the socket has mode 0660, a stale socket file is reused, a live one refused", async () => {
  const root = await Deno.makeTempDir({ prefix: "startos-test-" });
  try {
    const socket = `${root}/rpc/service.sock`;
    await Deno.mkdir(`${root}/rpc`);
    await leaveStaleSocket(socket);
    assert.ok((await Deno.lstat(socket)).isSocket);

    const first = await spawnRuntime({ root });
    try {
      assert.equal((await Deno.stat(socket)).mode! & 0o777, 0o660);
      assert.ok(first.stderr.some((line) => /stale socket/.test(line)));
      const second = await spawnRuntime({ root, noWait: true });
      const { code } = await second.status;
      await second.stop();
      assert.equal(code, 1);
      assert.ok(
        second.stderr.some((line) =>
          line === `error: another process is already listening on ${socket}`
        ),
      );
      const client = await RawClient.connect(socket);
      await client.write(`{"id":1,"method":"nope"}\n`);
      assert.equal((await client.json() as Answer).id, 1);
      client.close();
    } finally {
      await first.stop();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("SIGTERM shuts down with exit 0 and unlinks the socket", async () => {
  const runtime = await spawnRuntime();
  const socket = runtime.socket;
  runtime.child.kill("SIGTERM");
  const status = await runtime.status;
  assert.equal(status.code, 0);
  await assert.rejects(Deno.lstat(socket), Deno.errors.NotFound);
  await runtime.stop();
});

Deno.test("exit before init tears the container down without uninit", async () => {
  await withRuntime({}, async (runtime, client) => {
    await client.write(`{"id":1,"method":"exit","params":{"id":"e","target":null}}\n`);
    assert.deepEqual(await client.json(), { jsonrpc: "2.0", id: 1, result: null });
    assert.equal((await runtime.status).code, 0);
    await assert.rejects(Deno.lstat(runtime.socket), Deno.errors.NotFound);
    assert.ok(runtime.stderr.some((line) => /uninit is skipped/.test(line)));
  });
});
