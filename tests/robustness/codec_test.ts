/**
 * Hostile bytes on service.sock: seeded fuzzing of the codec plus the classic nasties (deep
 * nesting, huge numbers, invalid UTF-8, NUL bytes, 100 MB without a newline, 100 000 tiny lines).
 * Every line gets a clear answer, the runtime stays up, its memory stays bounded and a second
 * connection keeps being answered throughout.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { RawClient } from "../helpers/raw_client.ts";
import { RpcClient } from "../helpers/rpc_client.ts";
import { type RuntimeProcess, spawnRuntime } from "../helpers/runtime_process.ts";
import { within } from "../helpers/sdk_within.ts";

const SEED = 20261128;

interface Answer {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: { details?: string } };
}

/** VmRSS of `pid` in KiB. */
function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)\s+kB/)![1]);
}

/** Asserts the shape every answer must have, whatever was sent. */
function assertWellFormed(answer: Answer): void {
  assert.equal(answer.jsonrpc, "2.0", JSON.stringify(answer));
  assert.ok("id" in answer, JSON.stringify(answer));
  assert.notEqual("result" in answer, "error" in answer, JSON.stringify(answer));
  if (answer.error) {
    assert.ok(Number.isInteger(answer.error.code));
    assert.notEqual(answer.error.code, -32603, "the runtime must never answer -32603");
    assert.equal(typeof answer.error.message, "string");
  }
}

/** Reads answers (batches flattened) until the one whose id is `sentinel`; returns the others. */
async function answersUntil(client: RawClient, sentinel: string): Promise<Answer[]> {
  const others: Answer[] = [];
  while (true) {
    const value = await within(client.json(), 10_000, `the answer to ${sentinel}`);
    for (const answer of (Array.isArray(value) ? value : [value]) as Answer[]) {
      assertWellFormed(answer);
      if (answer.id !== sentinel) {
        others.push(answer);
        continue;
      }
      assert.equal(answer.error?.code, -32601);
      return others;
    }
  }
}

/**
 * Writes `line` + "\n" and a sentinel request, then, once that is answered, a second one:
 * answers may come out of order (a batch's comes a tick later), but everything the line caused
 * has been answered before the second sentinel, which the runtime reads in a later turn. The
 * sentinels being answered proves the connection survived.
 */
async function exchange(
  client: RawClient,
  line: string | Uint8Array,
  sentinel: string,
): Promise<Answer[]> {
  await client.write(line);
  await client.write(`\n{"id":${JSON.stringify(sentinel)},"method":"sentinel"}\n`);
  const answers = await answersUntil(client, sentinel);
  await client.write(`{"id":${JSON.stringify(`${sentinel}+`)},"method":"sentinel"}\n`);
  return [...answers, ...await answersUntil(client, `${sentinel}+`)];
}

/** Keeps a second connection busy with requests and records how long each answer took. */
function startPinger(socket: string) {
  let running = true;
  const latencies: number[] = [];
  const done = (async () => {
    const client = await RpcClient.connect(socket);
    try {
      while (running) {
        const started = performance.now();
        const outcome = await client.call("ping");
        latencies.push(performance.now() - started);
        assert.equal(outcome.error?.code, -32601);
        // Pacing only (not synchronisation): leave the runtime's CPU to the hostile client.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    } finally {
      client.close();
    }
  })();
  return {
    /** Stops pinging; resolves with the answers counted and the slowest one (ms). */
    async stop(): Promise<{ answered: number; slowestMs: number }> {
      running = false;
      await done;
      return { answered: latencies.length, slowestMs: Math.max(...latencies) };
    },
  };
}

/** A runtime without a package (the codec answers before any package code would run). */
async function withBareRuntime(
  body: (runtime: RuntimeProcess, client: RawClient) => Promise<void>,
): Promise<void> {
  const runtime = await spawnRuntime({ args: ["--package", "/nonexistent/index.js"] });
  const client = await RawClient.connect(runtime.socket);
  try {
    await body(runtime, client);
    // Still up and answering on a fresh connection.
    const fresh = await RpcClient.connect(runtime.socket);
    try {
      assert.equal((await fresh.call("start")).error?.code, 40);
    } finally {
      fresh.close();
    }
  } finally {
    client.close();
    const status = await runtime.stop();
    assert.equal(status.code, 0, "the runtime shut down cleanly after the hostile input");
  }
}

const METHODS = ["init", "exit", "start", "stop", "execute", "sandbox", "callback", "eval"];
const request = fc.record({
  id: fc.oneof(fc.nat(), fc.string({ maxLength: 10 })),
  method: fc.constantFrom(...METHODS),
  params: fc.jsonValue({ maxDepth: 3 }),
});

Deno.test("fuzz (seeded): truncated JSON requests are answered -32700 with the parser's complaint", async () => {
  await withBareRuntime(async (_runtime, client) => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(request, fc.nat(), async (req, cut) => {
        const text = JSON.stringify(req);
        const line = text.slice(0, 1 + (cut % (text.length - 1))); // never empty, never whole
        const answers = await exchange(client, line, `s${n++}`);
        if (line.trim() === "") return assert.deepEqual(answers, []);
        assert.equal(answers.length, 1, line);
        assert.equal(answers[0].id, null);
        assert.equal(answers[0].error?.code, -32700);
        assert.match(answers[0].error?.data?.details ?? "", /^the line is not valid JSON: /);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

Deno.test("fuzz (seeded): random bytes and random JSON get well-formed answers and never break the connection", async () => {
  await withBareRuntime(async (runtime, client) => {
    let n = 0;
    const noNewline = fc.uint8Array({ minLength: 1, maxLength: 400 }).map((bytes) =>
      bytes.map((b) => (b === 0x0a ? 0x20 : b))
    );
    await fc.assert(
      fc.asyncProperty(noNewline, async (bytes) => {
        const answers = await exchange(client, bytes, `b${n++}`);
        assert.ok(answers.length <= 1, `one line, at most one answer: ${JSON.stringify(answers)}`);
        for (const answer of answers) {
          assert.ok([-32700, -32600].includes(answer.error?.code ?? 0), JSON.stringify(answer));
        }
      }),
      { seed: SEED, numRuns: 400 },
    );
    const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v));
    await fc.assert(
      fc.asyncProperty(json, async (line) => {
        const answers = await exchange(client, line, `j${n++}`);
        for (const answer of answers) {
          assert.ok(answer.error, `no JSON value of fast-check is a valid call: ${line}`);
          assert.ok(typeof answer.error.data?.details === "string" && answer.error.data.details);
        }
      }),
      { seed: SEED, numRuns: 400 },
    );
    // Arbitrary (binary) strings as method names come back escaped, in valid JSON.
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 40 }), async (method) => {
        const line = JSON.stringify({ id: n, method });
        const answers = await exchange(client, line, `m${n++}`);
        assert.equal(answers.length, 1);
        assert.equal(answers[0].error?.code, -32601);
        assert.ok(answers[0].error?.data?.details?.includes(JSON.stringify(method)));
      }),
      { seed: SEED, numRuns: 200 },
    );
    assert.ok(runtime.stderr.every((line) => !/Uncaught|panicked/.test(line)));
  });
});

Deno.test("deep nesting, huge numbers, invalid UTF-8 and NUL bytes each get one clear answer", async () => {
  await withBareRuntime(async (_runtime, client) => {
    const deepArray = "[".repeat(10_000) + "]".repeat(10_000);
    const deepObject = '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000);
    const bytes = (...b: number[]) => new Uint8Array(b);
    const json = (s: string) => new TextEncoder().encode(s);
    const cases: [string, string | Uint8Array, number, RegExp][] = [
      ["10 000-deep array", deepArray, -32600, /a message must be a JSON object/],
      ["100 000-deep array", "[".repeat(100_000) + "]".repeat(100_000), -32600, /JSON object/],
      ["10 000-deep object", deepObject, -32600, /a request needs a string method/],
      [
        "10 000-deep params",
        `{"id":1,"method":"init","params":${deepObject}}`,
        -32602,
        /^init: params\.id: /,
      ],
      [
        "10 000-deep id",
        `{"id":${deepArray},"method":"start"}`,
        -32600,
        /id must be a number, a string or null/,
      ],
      ["id 1e400 (Infinity)", '{"id":1e400,"method":"start"}', -32600, /id must be a number/],
      [
        "a number with 100 000 digits",
        `{"id":${"9".repeat(100_000)},"method":"start"}`,
        -32600,
        /id must be a number/,
      ],
      [
        "timeout 1e400",
        '{"id":2,"method":"execute","params":{"id":"x","procedure":"/backup/create","timeout":1e400}}',
        -32602,
        /^execute: params\.timeout: .*Infinity/,
      ],
      [
        "callback id 2^64",
        '{"id":3,"method":"callback","params":{"id":18446744073709551616,"args":[]}}',
        -32602,
        /^callback: params\.id: /,
      ],
      ["invalid UTF-8 (0xff)", bytes(0x7b, 0xff, 0x7d), -32700, /not valid UTF-8/],
      ["overlong UTF-8", bytes(0x22, 0xc0, 0xaf, 0x22), -32700, /not valid UTF-8/],
      ["UTF-8 encoded surrogate", bytes(0x22, 0xed, 0xa0, 0x80, 0x22), -32700, /not valid UTF-8/],
      ["truncated UTF-8", bytes(0x22, 0xe2, 0x82, 0x22), -32700, /not valid UTF-8/],
      ["a lone NUL", bytes(0x00), -32700, /not valid JSON/],
      ["NUL bytes around JSON", bytes(0x00, ...json('{"id":4}'), 0x00), -32700, /not valid JSON/],
      [
        "a raw NUL inside a string",
        json('{"id":5,"method":"st\u0000art"}'),
        -32700,
        /Bad control character/,
      ],
      ["an escaped NUL in the method", '{"id":6,"method":"st\\u0000art"}', -32601, /st\\u0000art/],
      ["a lone surrogate escape", '{"id":7,"method":"\\ud800"}', -32601, /\\ud800/],
      [
        "a leading UTF-8 BOM (dropped by the decoder: the request is read)",
        bytes(0xef, 0xbb, 0xbf, ...json('{"id":8,"method":"start"}')),
        40,
        /start refused: send init first/,
      ],
      ["jsonrpc 1.0", '{"jsonrpc":"1.0","id":9,"method":"stop"}', -32600, /jsonrpc must be "2\.0"/],
      ["method not a string", '{"id":10,"method":["stop"]}', -32600, /method must be a string/],
      ["an empty batch", "[]", -32600, /an empty batch/],
    ];
    let n = 0;
    for (const [name, line, code, details] of cases) {
      const answers = await exchange(client, line, `case${n++}`);
      assert.equal(answers.length, 1, `${name}: ${JSON.stringify(answers)}`);
      assert.equal(answers[0].error?.code, code, `${name}: ${JSON.stringify(answers[0])}`);
      assert.match(answers[0].error?.data?.details ?? "", details, name);
    }
  });
});

Deno.test("100 MB without a newline: skipped with one -32600, memory bounded, other clients answered", async () => {
  await withBareRuntime(async (runtime, client) => {
    const pid = runtime.child.pid;
    const pinger = startPinger(runtime.socket);
    const chunk = new TextEncoder().encode("x".repeat(1 << 20));
    const rss: number[] = [rssKiB(pid)];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 100; i++) await client.write(chunk);
      const answers = await exchange(client, "", `round${round}`);
      assert.equal(answers.length, 1, JSON.stringify(answers));
      assert.equal(answers[0].id, null);
      assert.equal(answers[0].error?.code, -32600);
      assert.equal(
        answers[0].error?.data?.details,
        "line exceeds the limit of 16777216 bytes; it was skipped",
      );
      rss.push(rssKiB(pid));
    }
    const { answered, slowestMs } = await pinger.stop();
    const growthMiB = rss.map((kib) => Math.round((kib - rss[0]) / 1024));
    // 200 MB went through; at most one 16 MiB line is ever held, and the second round adds
    // little over the first: memory does not grow with the input.
    assert.ok(growthMiB[2] < 96, `RSS growth (MiB) after each round: ${growthMiB}`);
    assert.ok(growthMiB[2] - growthMiB[1] < 40, `RSS growth (MiB) after each round: ${growthMiB}`);
    assert.ok(answered > 0, "the second connection got answers");
    assert.ok(slowestMs < 2000, `the second connection waited ${slowestMs} ms`);
  });
});

Deno.test("100 000 tiny lines are each answered, in bounded memory, while another client is served", async () => {
  await withBareRuntime(async (runtime, client) => {
    const pid = runtime.child.pid;
    const rss = [rssKiB(pid)];
    const pinger = startPinger(runtime.socket);
    const total = 100_000;
    for (let round = 0; round < 3; round++) {
      const reading = (async () => {
        const seen = new Set<number>();
        for (let i = 0; i < total; i++) {
          const answer = await client.json() as Answer;
          assertWellFormed(answer);
          assert.equal(answer.error?.code, 40);
          seen.add(answer.id as number);
        }
        return seen.size;
      })();
      // Written 1000 lines (and as many blank lines, never answered) per write.
      for (let start = 0; start < total; start += 1000) {
        let text = "";
        for (let i = start; i < start + 1000; i++) text += `{"id":${i},"method":"start"}\n\n`;
        await client.write(text);
      }
      assert.equal(await within(reading, 60_000, "100 000 answers"), total);
      rss.push(rssKiB(pid));
    }
    const { answered, slowestMs } = await pinger.stop();
    const growthMiB = rss.map((kib) => Math.round((kib - rss[0]) / 1024));
    // V8 sizes its heap to the churn (heapUsed drops back after GC; measured with --dev eval):
    // the first round raises RSS, later rounds must not keep adding to it.
    assert.ok(growthMiB[1] < 192, `RSS growth (MiB) after each round: ${growthMiB}`);
    assert.ok(growthMiB[3] - growthMiB[1] < 128, `RSS growth (MiB) after each round: ${growthMiB}`);
    assert.ok(answered > 0 && slowestMs < 2000, `${answered} pings, slowest ${slowestMs} ms`);
  });
});
