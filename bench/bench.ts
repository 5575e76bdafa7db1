/**
 * `deno task bench`: measures the runtime on this machine against the Node
 * runtime's figures from issue 7 and prints one table (markdown).
 *
 * Flags: --quick (fewer samples), --soak SECONDS (adds a soak run),
 * --only launch|dispatch|execute|cold|sdk (one group), --separate-runtime-binary (the SDK
 * scenario with the runtime on a binary of its own, as a compiled runtime is), --write (replaces the
 * results blocks in BENCHMARKS.md of the tables that were measured).
 *
 * The `sdk` group (bench/sdk_bench.ts: a real-sized start-sdk package) prints
 * a second table, with the targets instead of the Node runtime's figures.
 */

import { Peer } from "../lib/jsonrpc/peer.ts";
import { RawClient } from "../tests/helpers/raw_client.ts";
import { RpcClient } from "../tests/helpers/rpc_client.ts";
import { type RuntimeProcess, spawnRuntime } from "../tests/helpers/runtime_process.ts";
import { benchSdk, type SdkRow } from "./sdk_bench.ts";
import { memoryOf, quantile } from "./stats.ts";
import { processTree, totals } from "./process_memory.ts";

const args = new Set(Deno.args);
const QUICK = args.has("--quick");
const SEPARATE_RUNTIME_BINARY = args.has("--separate-runtime-binary");
const soakIndex = Deno.args.indexOf("--soak");
const SOAK_SECONDS = soakIndex === -1 ? 0 : Number(Deno.args[soakIndex + 1] ?? 300);
const PACKAGE = new URL("./fixtures/noop/index.js", import.meta.url).pathname;

interface Row {
  figure: string;
  ours: string;
  node: string;
  /** ours/node for times and sizes (lower is better), node/ours for rates; NaN when not comparable. */
  ratio: number;
  target?: string;
}
const rows: Row[] = [];
const sdkRows: SdkRow[] = [];

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(3)} ms` : `${value.toFixed(1)} ms`;
}

function add(figure: string, ours: string, node: string, ratio: number, target?: string): void {
  rows.push({ figure, ours, node, ratio, target });
  console.error(`  ${figure}: ${ours}`);
}

/** A host stub on a Unix socket that answers every effect with null. */
function hostStub(path: string): () => void {
  const listener = Deno.listen({ transport: "unix", path });
  const peers: Peer[] = [];
  (async () => {
    for await (const conn of listener) peers.push(new Peer(conn, { onRequest: () => null }));
  })();
  return () => {
    listener.close();
    peers.forEach((peer) => peer.close());
  };
}

async function startRuntime(
  policy?: string,
): Promise<{ rt: RuntimeProcess; client: RpcClient; close: () => Promise<void> }> {
  const root = await Deno.makeTempDir({ prefix: "startos-bench-" });
  await Deno.mkdir(`${root}/rpc`, { recursive: true });
  await Deno.mkdir(`${root}/volumes`, { recursive: true });
  const stopHost = hostStub(`${root}/rpc/host.sock`);
  const extra = ["--package", PACKAGE, "--log-level", "warn"];
  if (policy) {
    await Deno.writeTextFile(`${root}/policy.jsonc`, policy);
    extra.push("--policy", `${root}/policy.jsonc`);
  }
  const rt = await spawnRuntime({ root, args: extra });
  const client = await RpcClient.connect(rt.socket);
  const init = await client.call("init", { id: "bench-init", kind: null });
  if (init.error) throw new Error(`init failed: ${JSON.stringify(init.error)}`);
  return {
    rt,
    client,
    close: async () => {
      client.close();
      await rt.stop();
      stopHost();
      await Deno.remove(root, { recursive: true });
    },
  };
}

function execParams(action: string, id: string) {
  return { id, procedure: `/actions/${action}/run`, input: { input: null }, timeout: 10000 };
}

async function timed(call: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await call();
  return performance.now() - started;
}

/** Waits (a benchmark may pace by time). */
function pause(msToWait: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msToWait));
}

/** Connects to `path` as soon as the socket exists and accepts (polls: nothing tells us earlier). */
async function connectWhenUp(path: string, limitMs: number): Promise<RawClient> {
  const deadline = performance.now() + limitMs;
  while (true) {
    try {
      return await RawClient.connect(path);
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await pause(1);
    }
  }
}

async function benchLaunch(): Promise<void> {
  const accepts: number[] = [];
  const answers: number[] = [];
  for (let i = 0; i < (QUICK ? 3 : 8); i++) {
    const root = await Deno.makeTempDir({ prefix: "startos-bench-" });
    const started = performance.now();
    const rt = await spawnRuntime({ root, noWait: true });
    const client = await connectWhenUp(`${root}/rpc/service.sock`, 10_000);
    accepts.push(performance.now() - started);
    await client.write(`{"id":1,"method":"ping"}\n`);
    await client.line();
    answers.push(performance.now() - started);
    client.close();
    await rt.stop();
    await Deno.remove(root, { recursive: true });
  }
  add(
    "process launch → socket accepts (p50)",
    ms(quantile(accepts, 0.5)),
    "277 ms",
    quantile(accepts, 0.5) / 277,
    "≤ 60 ms",
  );
  add("process launch → first answer (p50)", ms(quantile(answers, 0.5)), "—", NaN);
}

async function benchDispatch(): Promise<void> {
  const rt = await spawnRuntime();
  try {
    const client = await RawClient.connect(rt.socket);
    const rtts: number[] = [];
    for (let i = 0; i < (QUICK ? 1000 : 5000); i++) {
      rtts.push(
        await timed(async () => {
          await client.write(`{"id":${i},"method":"nope","params":{}}\n`);
          await client.line();
        }),
      );
    }
    const p50 = quantile(rtts, 0.5);
    add("unknown-method round trip p50, sequential", ms(p50), "0.21 ms", p50 / 0.21);

    for (const connections of [1, 8]) {
      const total = QUICK ? 10000 : 50000;
      const clients = await Promise.all(
        Array.from({ length: connections }, () => RawClient.connect(rt.socket)),
      );
      const per = total / connections;
      const started = performance.now();
      await Promise.all(clients.map(async (c) => {
        let text = "";
        for (let i = 0; i < per; i++) text += `{"id":${i},"method":"nope","params":{}}\n`;
        await c.write(text);
        for (let i = 0; i < per; i++) await c.line();
      }));
      const rate = total / ((performance.now() - started) / 1000);
      add(
        `pipelined no-op answers/s, ${total} over ${connections} connection${
          connections > 1 ? "s" : ""
        }`,
        `${Math.round(rate)}/s`,
        "—",
        NaN,
        connections === 1 ? "≥ 50 000/s" : undefined,
      );
      clients.forEach((c) => c.close());
    }

    // Notifications: 20 000 callbacks, then one request.
    const count = 20000;
    let text = "";
    for (let i = 0; i < count; i++) {
      text += `{"method":"callback","params":{"id":${i},"args":[]}}\n`;
    }
    text += `{"id":"after","method":"nope","params":{}}\n`;
    const started = performance.now();
    await client.write(text);
    await client.line();
    const elapsed = performance.now() - started;
    add(
      "20 000 callback notifications, then one request: time to its answer",
      ms(elapsed),
      "1.9 s",
      elapsed / 1900,
    );
    add(
      "notifications/s",
      `${Math.round(count / (elapsed / 1000))}/s`,
      "≈ 10 500/s",
      10500 / (count / (elapsed / 1000)),
      "≥ 100 000/s",
    );

    // One 16 MiB line: answered in linear time, peak memory ≤ 3× the line.
    const before = memoryOf(rt.child.pid);
    const big = `{"id":"big","method":"nope","params":{"pad":"${
      "x".repeat(16 * 1024 * 1024 - 64)
    }"}}\n`;
    const bigStarted = performance.now();
    await client.write(big);
    await client.line();
    const bigElapsed = performance.now() - bigStarted;
    const after = memoryOf(rt.child.pid);
    add("one 16 MiB line: time to answer", ms(bigElapsed), "1.9 s", bigElapsed / 1900);
    add(
      "one 16 MiB line: peak RSS growth",
      `${(after.peak - before.peak).toFixed(0)} MB (${
        ((after.peak - before.peak) / 16).toFixed(1)
      }× the line)`,
      "620 MB peak",
      after.peak / 620,
      "≤ 3× the line",
    );
    client.close();
  } finally {
    await rt.stop();
  }
}

/** RSS and PSS (MB) of the runtime and every process under it. */
function treeMemory(runtimePid: number): { rss: number; pss: number } {
  return totals(processTree(runtimePid));
}

async function benchExecute(): Promise<void> {
  // The default policy: children reused per profile (at most 2 at once), none kept warm.
  const { rt, client, close } = await startRuntime();
  try {
    await pause(500);
    const idle = memoryOf(rt.child.pid).rss;
    const afterInit = treeMemory(rt.child.pid);

    // Sequential, warm: the first call starts the run child, which then serves every call.
    await client.call("execute", execParams("noop", "first"));
    const sequential: number[] = [];
    for (let i = 0; i < (QUICK ? 100 : 400); i++) {
      sequential.push(await timed(() => client.call("execute", execParams("noop", `s${i}`))));
    }
    add(
      "no-op execute p50 / p99, sequential, warm child (reused per profile)",
      `${ms(quantile(sequential, 0.5))} / ${ms(quantile(sequential, 0.99))}`,
      "0.25 ms / 3.8 ms",
      quantile(sequential, 0.5) / 0.25,
      "≤ 1 ms / ≤ 5 ms",
    );

    // One call after the machine sat idle (under the 5 s idle retirement): pays the wake-up of
    // every process on the path.
    const isolated: number[] = [];
    for (let i = 0; i < (QUICK ? 4 : 10); i++) {
      await pause(1000);
      isolated.push(await timed(() => client.call("execute", execParams("noop", `i${i}`))));
    }
    add("no-op execute p50, one call after 1 s idle", ms(quantile(isolated, 0.5)), "—", NaN);

    // 8 in flight, back to back: 2 run children (the default cap) serve them, the rest queue.
    const n = QUICK ? 400 : 2000;
    const steadyStarted = performance.now();
    let next = 0;
    const latencies: number[] = [];
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < n) {
        const id = next++;
        latencies.push(await timed(() => client.call("execute", execParams("noop", `t${id}`))));
      }
    }));
    const steady = n / ((performance.now() - steadyStarted) / 1000);
    add(
      `no-op execute, 8 in flight, ${n} back to back (2 children, the rest queued)`,
      `${Math.round(steady)} answers/s (p50 ${ms(quantile(latencies, 0.5))}, p99 ${
        ms(quantile(latencies, 0.99))
      })`,
      "5 100 answers/s",
      5100 / steady,
      "≥ 2 000/s",
    );

    const effects: number[] = [];
    const actionTimes: number[] = [];
    for (let i = 0; i < (QUICK ? 10 : 40); i++) {
      const started = performance.now();
      const outcome = await client.call("execute", execParams("effects10", `e${i}`));
      actionTimes.push(performance.now() - started);
      effects.push(...(outcome.result as number[]));
    }
    add(
      "action doing 10 sequential effects, p50",
      ms(quantile(actionTimes, 0.5)),
      "3.2 ms",
      quantile(actionTimes, 0.5) / 3.2,
      "≤ 3.6 ms",
    );
    add(
      "effect round trip from inside an action, p50",
      ms(quantile(effects, 0.5)),
      "≈ 0.3 ms",
      quantile(effects, 0.5) / 0.3,
    );

    add(
      "RSS after init: the runtime process",
      `${idle.toFixed(0)} MB`,
      "85 MB",
      idle / 85,
      "≤ 45 MB",
    );
    add(
      "after init: all processes (runtime, package host, wrappers, watchdog)",
      `${afterInit.rss.toFixed(0)} MB (PSS ${afterInit.pss.toFixed(0)} MB)`,
      "86 MB",
      afterInit.rss / 86,
    );
    const loaded = treeMemory(rt.child.pid);
    add(
      "right after the runs above: all processes (RSS, PSS)",
      `${loaded.rss.toFixed(0)} MB (PSS ${loaded.pss.toFixed(0)} MB)`,
      "140 MB",
      loaded.rss / 140,
      "≤ 140 MB",
    );
    await pause(6500);
    const rested = treeMemory(rt.child.pid);
    add(
      "6.5 s later (idle children retired after 5 s): all processes",
      `${rested.rss.toFixed(0)} MB (PSS ${rested.pss.toFixed(0)} MB)`,
      "—",
      NaN,
    );
  } finally {
    await close();
  }
}

async function benchColdChild(): Promise<void> {
  // Per-call isolation: every call spawns its child; the difference to a warm call is the spawn.
  const { client, close } = await startRuntime(`{ "children": { "reuse": false } }`);
  try {
    const samples: number[] = [];
    for (let i = 0; i < (QUICK ? 5 : 15); i++) {
      samples.push(await timed(() => client.call("execute", execParams("noop", `c${i}`))));
    }
    add(
      "execute with a fresh child (per-call isolation: spawn → ready → answer), p50",
      ms(quantile(samples, 0.5)),
      "—",
      NaN,
    );
    const stops: number[] = [];
    for (let i = 0; i < (QUICK ? 3 : 8); i++) {
      await client.call("start");
      stops.push(await timed(() => client.call("stop")));
    }
    add("stop of a cooperative main, p50", ms(quantile(stops, 0.5)), "—", NaN);
  } finally {
    await close();
  }
}

async function soak(seconds: number): Promise<void> {
  const { rt, client, close } = await startRuntime();
  try {
    const start = memoryOf(rt.child.pid).rss;
    const started = Date.now();
    const deadline = started + seconds * 1000;
    const warmUpEnds = started + Math.min(60, seconds / 5) * 1000;
    let warm = NaN;
    let actions = 0, cycles = 0;
    const raw = await RawClient.connect(rt.socket);
    while (Date.now() < deadline) {
      if (Number.isNaN(warm) && Date.now() >= warmUpEnds) warm = memoryOf(rt.child.pid).rss;
      await client.call("execute", execParams("noop", `soak${actions++}`));
      let notes = "";
      for (let i = 0; i < 100; i++) {
        notes += `{"method":"callback","params":{"id":${i},"args":[]}}\n`;
      }
      await raw.write(notes);
      if (actions % 20 === 0) {
        await client.call("start");
        await client.call("stop");
        cycles++;
      }
    }
    raw.close();
    const end = memoryOf(rt.child.pid).rss;
    add(
      `soak ${seconds} s (${actions} actions, ${actions * 100} callbacks, ${cycles} start/stop): ` +
        "runtime RSS at start → after warm-up → end",
      `${start.toFixed(0)} → ${warm.toFixed(0)} → ${end.toFixed(0)} MB ` +
        `(end vs warm-up ${(((end - warm) / warm) * 100).toFixed(1)} %)`,
      "—",
      NaN,
      "within 10 %",
    );
    const before = processTree(rt.child.pid).length - 1;
    await client.call("exit", { id: "soak-exit", target: null });
    await rt.status;
    add(
      "soak: processes under the runtime before exit / processes left after exit",
      `${before} / 0`,
      "—",
      NaN,
      "0 left",
    );
  } finally {
    await close();
  }
}

const version = Deno.version.deno;
const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ??
  "unknown CPU";
console.error(`benchmarking on ${navigator.hardwareConcurrency} × ${cpu}, Deno ${version}`);
const GROUPS: Record<string, () => Promise<void>> = {
  launch: benchLaunch,
  dispatch: benchDispatch,
  execute: benchExecute,
  cold: benchColdChild,
  sdk: () =>
    benchSdk({
      quick: QUICK,
      separateRuntimeBinary: SEPARATE_RUNTIME_BINARY,
      report: (row) => {
        sdkRows.push(row);
        console.error(`  ${row.figure}: ${row.ours}`);
      },
    }),
};
const onlyIndex = Deno.args.indexOf("--only");
const only = onlyIndex === -1 ? Object.keys(GROUPS) : [Deno.args[onlyIndex + 1]];
for (const name of only) {
  if (!GROUPS[name]) throw new Error(`--only takes one of ${Object.keys(GROUPS).join(", ")}`);
  await GROUPS[name]();
}
if (SOAK_SECONDS > 0) await soak(SOAK_SECONDS);

const header = `Machine: ${navigator.hardwareConcurrency} cores, ${cpu}; Deno ${version}; ` +
  `command: \`deno task bench${Deno.args.length ? " " + Deno.args.join(" ") : ""}\``;
/** The markdown of each measured table, by the name of its block in BENCHMARKS.md. */
const tables = new Map<string, string>();
if (rows.length > 0) {
  tables.set(
    "results",
    [
      header,
      "",
      "| figure | ours | Node runtime | ratio (ours vs Node, >1 = slower) | target |",
      "|---|---|---|---|---|",
      ...rows.map((r) =>
        `| ${r.figure} | ${r.ours} | ${r.node} | ${
          Number.isNaN(r.ratio) ? "—" : r.ratio.toFixed(2)
        } | ${r.target ?? ""} |`
      ),
    ].join("\n"),
  );
}
if (sdkRows.length > 0) {
  tables.set(
    "sdk-results",
    [
      header,
      "",
      "| figure | ours | Node runtime (issue 18) | target | met |",
      "|---|---|---|---|---|",
      ...sdkRows.map((r) =>
        `| ${r.figure} | ${r.ours} | ${r.node ?? ""} | ${r.target ?? ""} | ${
          r.met === undefined ? "" : r.met ? "yes" : "**no**"
        } |`
      ),
    ].join("\n"),
  );
}
if (tables.size > 0) console.log([...tables.values()].join("\n\n"));
if (args.has("--write")) {
  const file = new URL("../BENCHMARKS.md", import.meta.url);
  let text = await Deno.readTextFile(file).catch(() => "");
  for (const [name, table] of tables) {
    const begin = `<!-- ${name}:begin -->`, end = `<!-- ${name}:end -->`;
    const block = `${begin}\n${table}\n${end}`;
    text = text.includes(begin)
      ? text.replace(new RegExp(`${begin}[\\s\\S]*${end}`), () => block)
      : `${text}\n${block}\n`;
  }
  await Deno.writeTextFile(file, text);
}
