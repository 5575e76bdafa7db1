/**
 * What the spawn broker costs: the latency of one `start-container subcontainer exec` as
 * start-sdk runs it, brokered (the default: the runtime checks it and runs it in the child's
 * namespaces) against the escape hatch (the policy grants the program by name and the child runs
 * it itself), and the runtime's memory before and after the spawns.
 *
 * `deno run -A bench/spawn_bench.ts [--count N]` (the stand-in `start-container` exits 0 at once,
 * so the numbers are the overhead, not the program). `BENCH_HEAP=1` also prints the runtime's
 * `Deno.memoryUsage()` (through `eval`, with `--dev`) before and after.
 */

import { serveCreateFs, startPackageRuntime } from "../tests/helpers/package_runtime.ts";
import { processInfo } from "./process_memory.ts";
import { quantile } from "./stats.ts";

const count = Number(Deno.args[Deno.args.indexOf("--count") + 1] || 300);
const dir = await Deno.makeTempDir({ prefix: "spawn-bench-" });
const program = `${dir}/start-container`;
await Deno.writeTextFile(program, "#!/bin/sh\nexit 0\n");
await Deno.chmod(program, 0o755);
const fixture = new URL("../tests/fixtures/spawner/index.js", import.meta.url).pathname;

async function measure(brokered: boolean) {
  const rt = await startPackageRuntime({
    package: fixture,
    args: Deno.env.get("BENCH_HEAP") ? ["--dev"] : [],
    env: { STARTOS_PROGRAM_DIRS: dir },
    policy: brokered ? undefined : JSON.stringify({ profiles: { run: { run: [program] } } }),
  });
  try {
    serveCreateFs(rt);
    const call = (n: number) =>
      rt.client.call("execute", {
        id: `bench-${crypto.randomUUID()}`,
        procedure: "/actions/spawn-loop/run",
        input: { input: { command: brokered ? "start-container" : program, count: n } },
        timeout: null,
      });
    await call(20); // warm: the child and both code paths
    const pid = rt.runtime.child.pid;
    const heap = async () =>
      JSON.stringify((await rt.client.call("eval", { script: "Deno.memoryUsage()" })).result);
    if (Deno.env.get("BENCH_HEAP")) console.log("heap before", await heap());
    const before = processInfo(pid);
    const answer = await call(count);
    const after = processInfo(pid);
    // Then idle for a while: what the runtime keeps (garbage V8 has not collected yet, or not).
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const idle = processInfo(pid);
    if (Deno.env.get("BENCH_HEAP")) console.log("heap after", await heap());
    if (!Array.isArray(answer.result)) throw new Error(JSON.stringify(answer));
    const durations = (answer.result as number[]).sort((a, b) => a - b);
    return {
      p50: quantile(durations, 0.5),
      p99: quantile(durations, 0.99),
      runtimeBefore: `${before?.rss.toFixed(1)} MB RSS, ${before?.pss.toFixed(1)} MB PSS`,
      runtimeAfter: `${after?.rss.toFixed(1)} MB RSS, ${after?.pss.toFixed(1)} MB PSS`,
      runtimeIdle: `${idle?.rss.toFixed(1)} MB RSS, ${idle?.pss.toFixed(1)} MB PSS`,
    };
  } finally {
    await rt.close();
  }
}

const brokered = await measure(true);
const direct = await measure(false);
await Deno.remove(dir, { recursive: true });
const ms = (n: number) => `${n.toFixed(2)} ms`;
console.log(`spawn of start-container subcontainer exec, ${count} sequential, one run child:`);
console.log(`  brokered (default):     p50 ${ms(brokered.p50)}  p99 ${ms(brokered.p99)}`);
console.log(`  granted by name:        p50 ${ms(direct.p50)}  p99 ${ms(direct.p99)}`);
console.log(
  `  broker adds:            p50 ${ms(brokered.p50 - direct.p50)}  p99 ${
    ms(brokered.p99 - direct.p99)
  }`,
);
console.log(
  `  the runtime (brokered): ${brokered.runtimeBefore} before, ${brokered.runtimeAfter} after ` +
    `${count} spawns, ${brokered.runtimeIdle} 10 s later`,
);
