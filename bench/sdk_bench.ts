/**
 * `deno task bench --only sdk`: the runtime with a real-sized start-sdk package.
 *
 * tests/fixtures/sdk-services is bundled (CommonJS, ~2.5 MB, as packages ship) and run the way
 * tests/sdk_services_test.ts runs it: the runtime in a private mount namespace with a temp dir on
 * /media/startos, fake `start-container` and `mount` overlaid onto /usr/bin there, and a
 * believable host. The runtime runs with its default policy (no policy file), so procedure
 * children are reused and retired after the default idle time.
 *
 * Measured: the memory of every process of the runtime (the runtime and all its descendants,
 * children's PID-namespace wrappers included; not the `unshare` and `sh` that put the runtime in
 * its mount namespace) after init, with main running and healthy, right after a burst of
 * actions and a while after it; the latency of the `configure` action's getInput and run, cold
 * (no child yet) and warm; and, for comparison, the children of the tiny bench fixture.
 */

import { startTaskFlags } from "../lib/dev/start_flags.ts";
import { DEFAULT_REUSE } from "../lib/policy/policy.ts";
import { bundlePackage } from "../tests/helpers/bundle.ts";
import { writeFakeContainer } from "../tests/helpers/fake_container.ts";
import { processExists, startPackageRuntime } from "../tests/helpers/package_runtime.ts";
import type { Outcome } from "../tests/helpers/rpc_client.ts";
import {
  onPath,
  overlayUnavailable,
  type SdkRuntime,
  startSdkRuntime,
} from "../tests/helpers/sdk_runtime.ts";
import { within } from "../tests/helpers/sdk_within.ts";
import { parseUnit } from "../tests/helpers/unit_file.ts";
import { type ProcessInfo, processTree, stillRunning, totals } from "./process_memory.ts";
import { quantile } from "./stats.ts";

/** One row of the SDK table. */
export interface SdkRow {
  figure: string;
  ours: string;
  /** The Node runtime's figure (issue 18's trial of nine packages), when there is one. */
  node?: string;
  /** The target, when it sets one. */
  target?: string;
  /** Whether `ours` meets `target` (absent without a target). */
  met?: boolean;
}

/** Options of `benchSdk`. */
export interface SdkBenchOptions {
  /** Fewer samples and a shorter wait after the burst. */
  quick: boolean;
  /**
   * The runtime runs from a copy of deno while the children run deno itself: what a compiled
   * runtime (denort) costs, whose pages the children's deno cannot share.
   */
  separateRuntimeBinary?: boolean;
  /** Receives each row as soon as it is measured. */
  report(row: SdkRow): void;
}

const REPO = new URL("../", import.meta.url).pathname;
const FIXTURE = `${REPO}tests/fixtures/sdk-services/index.ts`;
/** A start-sdk package whose init watches nothing (no `.const()`): its package host retires. */
const PLAIN_FIXTURE = `${REPO}tests/fixtures/sdk-hello/index.ts`;
const NOOP_PACKAGE = new URL("./fixtures/noop/index.js", import.meta.url).pathname;
/** The fixture's health checks (two daemons and one extra check). */
const HEALTH_CHECKS = ["first", "second", "both-ports"];
/** The action measured: getInput reads config.json (FileHelper), run merges into it. */
const ACTION = "configure";
/** Actions in the burst, each a getInput then a run with the same event id. */
const BURST = 20;
/** "Steady": main running, this long after it became healthy (issue 18). */
const STEADY_S = 12;
/** The Node runtime's figures from issue 18 (nine published packages, the same trial). */
const NODE = {
  afterInit: "PSS 100–104 MB",
  running: "PSS 109–125 MB; 3–7 processes",
  start: "10 ms",
  backup: "67 ms",
  exit: "3 ms",
} as const;
/** The runtime's default `children.idleMs`, in seconds, for the labels. */
const DEFAULT_IDLE_S = DEFAULT_REUSE.idleMs / 1000;

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(2)} ms` : `${value.toFixed(0)} ms`;
}

function mb(value: number): string {
  return `${value.toFixed(0)} MB`;
}

function signed(value: number): string {
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(1)} MB`;
}

function pause(msToWait: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msToWait));
}

/** Two distinct TCP ports nothing listens on now (the fixture's daemons listen there). */
function pickPorts(): { first: number; second: number } {
  const listeners = [0, 1].map(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const [first, second] = listeners.map((l) => l.addr.port);
  listeners.forEach((l) => l.close());
  return { first, second };
}

/** What StartOS puts beside the `main` image: its description and env file. */
async function addImage(root: string): Promise<void> {
  await Deno.mkdir(`${root}/images/main`, { recursive: true });
  await Deno.writeTextFile(`${root}/images/main.json`, `{"user":"root","workdir":"/"}`);
  await Deno.writeTextFile(
    `${root}/images/main.env`,
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
  );
}

/** The roles a child of the runtime runs as (lib/protocol/channel.ts `ChildRole`). */
const CHILD_ROLES = ["init", "main", "getInput", "run", "backup", "sandbox"];
/** Roles of processes that are not a child's Deno process. */
const WRAPPER = "wrapper", PROGRAM = "package program", REAPER = "reaper", OTHER = "other";
/** What a child's Deno process runs: the worker entry, bundled (deployed) or not. */
const WORKER_ENTRIES = ["/worker.js", "/lib/worker/entry.ts"];
/** What the runtime's Deno process runs: the bundle (deployed) or main.ts. */
const RUNTIME_ENTRIES = ["/runtime.js", "/main.ts"];

/**
 * The role of a child's Deno process (an argument after the worker entry), or null for any
 * other process (its wrappers name the entry too, in the command they run).
 */
function childRole(p: ProcessInfo): string | null {
  if (p.cmdline[0]?.split("/").pop() !== "deno") return null;
  const entry = p.cmdline.findIndex((arg) => WORKER_ENTRIES.some((name) => arg.endsWith(name)));
  if (entry === -1) return null;
  return p.cmdline.slice(entry + 1).find((arg) => CHILD_ROLES.includes(arg)) ?? "child";
}

/**
 * What each process of the runtime's tree (`tree[0]` is the runtime) is: `runtime`, a child's
 * role (its Deno process), `wrapper` (what a child runs in: the PID namespace's unshare and shell
 * init), `package program` (anything a child started), `reaper` (the watchdog shell) or `other`.
 */
function classify(tree: ProcessInfo[]): Map<number, string> {
  const byPid = new Map(tree.map((p) => [p.pid, p]));
  const roles = new Map<number, string>();
  const runtimePid = tree[0]?.pid;
  for (const p of tree) {
    const role = p.pid === runtimePid ? "runtime" : childRole(p);
    if (role) roles.set(p.pid, role);
  }
  // What the spawn broker runs for a child (start-container, mount, rsync: joined to the child's
  // namespaces with nsenter, below the runtime) and everything below it: the package's programs.
  const brokered = new Set<number>();
  for (const p of tree) {
    const parent = byPid.get(p.ppid);
    if (p.cmdline[0]?.endsWith("/nsenter") || (parent && brokered.has(parent.pid))) {
      brokered.add(p.pid);
      roles.set(p.pid, PROGRAM);
    }
  }
  for (const p of tree) {
    if (roles.has(p.pid)) continue;
    // Below a child's Deno process: something the package started.
    let up = byPid.get(p.ppid);
    while (up && up.pid !== runtimePid && !roles.has(up.pid)) up = byPid.get(up.ppid);
    if (up && up.pid !== runtimePid) roles.set(p.pid, PROGRAM);
  }
  for (const p of tree) {
    if (roles.has(p.pid)) continue;
    // Above a child's Deno process (between it and the runtime): its wrapper.
    let wraps = false;
    for (const q of tree) {
      if (!childRole(q)) continue;
      for (let up = byPid.get(q.ppid); up && up.pid !== runtimePid; up = byPid.get(up.ppid)) {
        if (up.pid === p.pid) wraps = true;
      }
    }
    if (wraps) roles.set(p.pid, WRAPPER);
    else roles.set(p.pid, p.cmdline.includes("reaper") ? REAPER : OTHER);
  }
  return roles;
}

/** The runtime's process: the `deno` running it at or below `wrapperPid` (unshare, sh). */
function findRuntime(wrapperPid: number): number {
  const found = processTree(wrapperPid).find((p) =>
    p.cmdline.some((arg) => RUNTIME_ENTRIES.some((name) => arg.endsWith(name)))
  );
  if (!found) throw new Error(`no runtime process under pid ${wrapperPid}`);
  return found.pid;
}

/**
 * The runtime as it is deployed: scripts/build_rootfs.sh's tree (the launcher, its own copy of
 * deno, runtime.js and worker.js, Deno's cache warmed for them) under `dir`.
 */
async function deployedTree(dir: string): Promise<DeployedTree> {
  const built = await new Deno.Command(`${REPO}scripts/build_rootfs.sh`, {
    args: ["--out", dir, "--deno", Deno.execPath()],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (built.code !== 0) {
    throw new Error(`build_rootfs.sh failed: ${new TextDecoder().decode(built.stderr)}`);
  }
  const runtime = `${dir}/usr/lib/startos/runtime`;
  // What the unit hands the runtime (its Environment= lines), its paths moved into the tree.
  const unit = parseUnit(await Deno.readTextFile(`${REPO}deploy/container-runtime.service`));
  const env: Record<string, string> = {};
  for (const line of unit.Service.Environment.split("\n")) {
    const at = line.indexOf("=");
    env[line.slice(0, at)] = line.slice(at + 1).replace(
      /^\/usr\/lib\/startos\/runtime(?=\/|$)/,
      runtime,
    );
  }
  return {
    launcher: `${runtime}/startos-deno-runtime`,
    deno: `${runtime}/deno`,
    runtimeJs: `${runtime}/runtime.js`,
    env,
  };
}

/** Where `deployedTree` put what the bench runs. */
interface DeployedTree {
  launcher: string;
  /** The tree's deno: the runtime's and the children's. */
  deno: string;
  runtimeJs: string;
  /** What the unit hands the runtime: the tree's deno, worker and cache, the allocator settings. */
  env: Record<string, string>;
}

/** A snapshot of the runtime's tree with its sums, and a line per process on stderr. */
class Snapshot {
  readonly processes: ProcessInfo[];
  readonly runtimePid: number;
  readonly #roles: Map<number, string>;

  constructor(runtimePid: number, seen: Map<number, number>, label: string) {
    this.runtimePid = runtimePid;
    this.processes = processTree(runtimePid);
    this.#roles = classify(this.processes);
    for (const p of this.processes) seen.set(p.pid, p.startTime);
    console.error(`  [${label}] processes of the runtime:`);
    for (const p of this.processes) {
      console.error(
        `    ${String(p.pid).padStart(7)} ${this.role(p).padEnd(16)} rss ${
          p.rss.toFixed(1).padStart(6)
        } MB (anon ${p.anon.toFixed(1)}, file ${p.file.toFixed(1)}) pss ${
          p.pss.toFixed(1).padStart(6)
        } MB  ${p.cmdline.slice(0, 3).join(" ").replace(/\s+/g, " ").slice(0, 60)}`,
      );
    }
  }

  role(p: ProcessInfo): string {
    return this.#roles.get(p.pid) ?? OTHER;
  }

  /** Every process. */
  all(): { rss: number; pss: number } {
    return totals(this.processes);
  }

  /** The runtime, its children and their wrappers, the reaper: no package program. */
  own(): { rss: number; pss: number } {
    return totals(this.processes.filter((p) => this.role(p) !== PROGRAM));
  }

  /** Processes with `role`. */
  ofRole(role: string): ProcessInfo[] {
    return this.processes.filter((p) => this.role(p) === role);
  }

  /** "N MB (PSS M MB, K processes)". */
  describe(sum = this.all(), count = this.processes.length): string {
    return `${mb(sum.rss)} (PSS ${mb(sum.pss)}; ${count} processes)`;
  }

  /** What is alive besides the runtime, e.g. "init, main, run×2, reaper". */
  roles(): string {
    const counts = new Map<string, number>();
    for (const p of this.processes) {
      if (p.pid === this.runtimePid) continue;
      counts.set(this.role(p), (counts.get(this.role(p)) ?? 0) + 1);
    }
    return [...counts].map(([role, n]) => n > 1 ? `${role}×${n}` : role).join(", ");
  }
}

/** Throws with the runtime's log when `outcome` is an error. */
function expectResult(rt: SdkRuntime, outcome: Outcome, what: string): unknown {
  if (outcome.error) {
    throw new Error(
      `${what}: ${JSON.stringify(outcome.error)}\n${rt.runtime.stderr.slice(-30).join("\n")}`,
    );
  }
  return outcome.result;
}

/** getInput of the action, as the host sends it; resolves with the value and the time taken. */
async function getInput(rt: SdkRuntime, eventId: string): Promise<{ value: unknown; ms: number }> {
  const started = performance.now();
  const outcome = await rt.client.call("execute", {
    id: eventId,
    procedure: `/actions/${ACTION}/getInput`,
    input: { prefill: null },
    timeout: 30_000,
  });
  const elapsed = performance.now() - started;
  const answer = expectResult(rt, outcome, `getInput ${eventId}`) as { value: unknown };
  return { value: answer.value, ms: elapsed };
}

/** run of the action with `input` (what getInput answered: config.json is left as it is). */
async function run(rt: SdkRuntime, eventId: string, input: unknown): Promise<number> {
  const started = performance.now();
  const outcome = await rt.client.call("execute", {
    id: eventId,
    procedure: `/actions/${ACTION}/run`,
    input: { input },
    timeout: 120_000,
  });
  const elapsed = performance.now() - started;
  expectResult(rt, outcome, `run ${eventId}`);
  return elapsed;
}

/** Why the scenario cannot run here, or null. */
function unavailable(): string | null {
  return overlayUnavailable() ??
    (onPath("rsync") ? null : "rsync is not installed (apt-get install rsync)");
}

/** The children of the tiny bench fixture, for comparison: one procedure child, the runtime. */
async function noopChildren(): Promise<{ procedure: number; runtime: number }> {
  const rt = await startPackageRuntime({ package: NOOP_PACKAGE, args: ["--log-level", "warn"] });
  try {
    const outcome = await rt.client.call("execute", {
      id: "noop-1",
      procedure: "/actions/noop/run",
      input: { input: null },
      timeout: 10_000,
    });
    if (outcome.error) throw new Error(`noop run: ${JSON.stringify(outcome.error)}`);
    await pause(1000);
    const tree = processTree(rt.runtime.child.pid);
    const roles = classify(tree);
    const rss = (role: string) => tree.find((p) => roles.get(p.pid) === role)?.rss ?? NaN;
    return { procedure: rss("run"), runtime: rss("runtime") };
  } finally {
    await rt.close();
  }
}

/**
 * After init of a start-sdk package whose init watches nothing: the package host retires, the
 * runtime is alone.
 */
async function plainAfterInit(
  dir: string,
  seen: Map<number, number>,
  tree: DeployedTree,
): Promise<{ snapshot: Snapshot; initMs: number; uninitMs: number }> {
  const bundled = await bundlePackage(PLAIN_FIXTURE, `${dir}/plain`);
  const rt = await startSdkRuntime({
    package: bundled,
    mediaStartos: true,
    command: [tree.launcher],
    env: tree.env,
  });
  try {
    const runtimePid = findRuntime(rt.runtime.child.pid);
    const asked = performance.now();
    expectResult(rt, await rt.client.call("init", { id: "init-1", kind: "install" }), "init");
    const initMs = performance.now() - asked;
    await pause(2000);
    const snapshot = new Snapshot(
      runtimePid,
      seen,
      "after init, a package whose init holds nothing",
    );
    const exitAsked = performance.now();
    expectResult(rt, await rt.client.call("exit", { id: "exit-1", target: null }), "exit");
    return { snapshot, initMs, uninitMs: performance.now() - exitAsked };
  } finally {
    await rt.close();
  }
}

/** Runs the scenario and reports its rows; cleans up every process and directory it made. */
export async function benchSdk(options: SdkBenchOptions): Promise<void> {
  const { quick, report } = options;
  const why = unavailable();
  if (why) {
    // No row: `--write` must not replace measured figures with a skip.
    console.error(`  skipping the SDK package scenario: ${why}`);
    return;
  }
  const warmCalls = quick ? 10 : 30;
  const afterBurstS = quick ? 15 : 60;
  const dir = await Deno.makeTempDir({ prefix: "startos-bench-sdk-" });
  /** pid → start time of every process seen in the runtime's tree (checked after cleanup). */
  const seen = new Map<number, number>();
  let rt: SdkRuntime | undefined;
  /** What names the processes the fakes start: their log path, every subcontainer's guid. */
  const needles: string[] = [];
  try {
    const bundled = await bundlePackage(FIXTURE, dir);
    const bundleMb = (await Deno.stat(bundled)).size / 1024 / 1024;
    console.error(`  bundled ${FIXTURE} → ${bundleMb.toFixed(2)} MB`);
    // The stand-in daemons run a copy of deno: a real package's daemons share no pages with the
    // runtime, and the same binary would take a share of its PSS off the figures.
    const serverDeno = `${dir}/daemon-deno`;
    await Deno.copyFile(Deno.execPath(), serverDeno);
    await Deno.chmod(serverDeno, 0o755);
    const fakes = await writeFakeContainer(`${dir}/fakes`, serverDeno);
    needles.push(fakes.log);
    const ports = pickPorts();
    const tree = await deployedTree(`${dir}/tree`);
    let command = [tree.launcher];
    if (options.separateRuntimeBinary) {
      const runtimeDeno = `${dir}/runtime-deno`;
      await Deno.copyFile(tree.deno, runtimeDeno);
      await Deno.chmod(runtimeDeno, 0o755);
      command = [runtimeDeno, "run", ...await startTaskFlags(), "--no-config", tree.runtimeJs];
    }
    rt = await startSdkRuntime({
      package: bundled,
      command,
      mediaStartos: true,
      fakeBin: fakes.bin,
      prepareRoot: addImage,
      env: {
        // As deploy/container-runtime.service runs it (the children's deno is the tree's,
        // whichever binary the runtime runs from; the allocator gives freed memory back).
        ...tree.env,
        SDK_SERVICES_FIRST_PORT: String(ports.first),
        SDK_SERVICES_SECOND_PORT: String(ports.second),
      },
    });
    const runtimePid = findRuntime(rt.runtime.child.pid);
    if (runtimePid !== rt.runtime.child.pid) {
      console.error(`  runtime pid ${runtimePid} (below the wrapper ${rt.runtime.child.pid})`);
    }

    // After init: the runtime, and the package host only if init left it something to hold.
    const initAsked = performance.now();
    expectResult(rt, await rt.client.call("init", { id: "init-1", kind: "install" }), "init");
    const initMs = performance.now() - initAsked;
    await pause(2000);
    const afterInit = new Snapshot(runtimePid, seen, "after init");
    const initTotal = afterInit.all();
    const runtimeAlone = afterInit.ofRole("runtime")[0].rss;
    const hostAfterInit = afterInit.ofRole("init")[0];
    report({
      figure: `all processes after init (${afterInit.roles() || "the runtime alone"})`,
      ours: afterInit.describe(),
      node: NODE.afterInit,
      target: "PSS ≤ 104 MB",
      met: initTotal.pss <= 104,
    });
    report({
      figure: "the package host after init (retired once it holds no callback, effect, timer " +
        "or process)",
      ours: hostAfterInit
        ? `kept (RSS ${mb(hostAfterInit.rss)}, PSS ${mb(hostAfterInit.pss)})`
        : "retired: init left nothing to hold",
    });
    report({
      figure: "the runtime process alone after init (RSS, PSS)",
      ours: `${mb(runtimeAlone)} (PSS ${mb(afterInit.ofRole("runtime")[0].pss)})`,
    });
    report({ figure: "init (install), answer", ours: ms(initMs) });
    /** What memory that does not come back is measured against: all after init, once settled. */
    let settled = { total: initTotal, what: "after init" };
    // This fixture's host polls a settings store every 3 s: it lives until a tick of its poll was
    // seen, then retires. What is left then, and when.
    if (hostAfterInit) {
      const retired = await within(
        rt.runtime.waitForLog(/package host holds nothing after init/),
        30_000,
        "the package host's retirement",
      ).catch(() => null);
      const retiredAfter = performance.now() - initAsked - initMs;
      await pause(500);
      const afterRetired = new Snapshot(runtimePid, seen, "after the package host retired");
      report({
        figure: "all processes once the package host retired (its poll's first tick seen), and " +
          "when, after init's answer",
        ours: retired === null
          ? "the host was not retired within 30 s"
          : `${afterRetired.describe()}; retired ${ms(retiredAfter)} after init's answer`,
        target: "PSS ≤ 104 MB",
        met: retired !== null && afterRetired.all().pss <= 104,
      });
      if (retired !== null) settled = { total: afterRetired.all(), what: "once the host retired" };
    }

    // Main running and healthy.
    const startAsked = performance.now();
    expectResult(rt, await rt.client.call("start", {}), "start");
    const startMs = performance.now() - startAsked;
    const host = rt.host;
    await within(
      Promise.all(
        HEALTH_CHECKS.map((id) =>
          host.waitFor("set-health", (p) => p.id === id && p.result === "success")
        ),
      ),
      30_000,
      "success from every health check",
    );
    const healthyAt = performance.now();
    const healthyMs = healthyAt - startAsked;
    report({
      figure: "start, answer (spawn main, load, build the daemons)",
      ours: ms(startMs),
      node: NODE.start,
    });
    report({ figure: "start → every health check success", ours: ms(healthyMs) });
    await pause(2000);
    const running = new Snapshot(runtimePid, seen, "main running and healthy");
    const programs = running.processes.filter((p) => running.role(p) === PROGRAM);
    report({
      figure: `all processes, main running and all ${HEALTH_CHECKS.length} health checks ` +
        `success, 2 s after (${running.roles()})`,
      ours: running.describe(),
    });
    report({
      figure: "… without the programs main started (fake daemons are `deno eval` servers, " +
        "leaders are sh + tail)",
      ours: running.describe(running.own(), running.processes.length - programs.length),
      node: NODE.running,
    });
    const main = running.ofRole("main")[0];

    // Latency of the action: cold (no child yet; run right after getInput, as the host sends
    // them, so its child has been starting since the getInput arrived), then warm pairs.
    const cold = await getInput(rt, "cold");
    const coldRun = await run(rt, "cold", cold.value);
    report({
      figure: `${ACTION} getInput, first call (spawn, load the bundle, answer)`,
      ours: ms(cold.ms),
    });
    report({
      figure: `${ACTION} run, first call, right after the first getInput (its child started ` +
        "when the getInput arrived)",
      ours: ms(coldRun),
    });
    const inputTimes: number[] = [];
    const runTimes: number[] = [];
    for (let i = 0; i < warmCalls; i++) {
      const answer = await getInput(rt, `warm-${i}`);
      inputTimes.push(answer.ms);
      runTimes.push(await run(rt, `warm-${i}`, answer.value));
    }
    const warm = new Snapshot(runtimePid, seen, "warm getInput and run children");
    if (warm.ofRole("main")[0]?.pid !== main?.pid) {
      console.error("  warning: main was restarted while the action ran (config.json watch?)");
    }
    const getInputRss = warm.ofRole("getInput")[0]?.rss ?? NaN;
    const runRss = warm.ofRole("run")[0]?.rss ?? NaN;
    const children = warm.processes.filter((p) => childRole(p) !== null).length;
    const wrappers = totals(warm.ofRole(WRAPPER));
    const all = [cold.ms, ...inputTimes];
    const allRuns = [coldRun, ...runTimes];
    for (
      const [name, times, cold, target] of [
        ["getInput", inputTimes, all, 10],
        ["run", runTimes, allRuns, 20],
      ] as const
    ) {
      report({
        figure: `${ACTION} ${name} p50 / p99, warm child, ${warmCalls} sequential (median of ` +
          `all ${cold.length} with the first)`,
        ours: `${ms(quantile(times, 0.5))} / ${ms(quantile(times, 0.99))} (${
          ms(quantile(cold, 0.5))
        })`,
        node: "4 ms (median)",
        target: `median ≤ ${target} ms`,
        met: quantile(cold, 0.5) <= target,
      });
    }

    // Steady: main running, 12 s after it became healthy (the action's children idle since).
    const steadyWait = healthyAt + STEADY_S * 1000 - performance.now();
    if (steadyWait > 0) await pause(steadyWait);
    const steady = new Snapshot(runtimePid, seen, "steady");
    // BENCH_SMAPS=DIR: the memory maps of the runtime, the package host and main at steady, to
    // see what their memory is (BENCHMARKS.md reads them).
    if (Deno.env.get("BENCH_SMAPS")) {
      for (const p of steady.processes) {
        const role = steady.role(p);
        if (["runtime", "init", "main"].includes(role)) {
          Deno.copyFileSync(`/proc/${p.pid}/smaps`, `${Deno.env.get("BENCH_SMAPS")}/${role}.smaps`);
        }
      }
    }
    report({
      figure: `steady: main running, ${STEADY_S} s after it became healthy (${steady.roles()})`,
      ours: steady.describe(),
    });
    report({
      figure: "… without the stand-in programs main started (as the issue's trial counts)",
      ours: steady.describe(
        steady.own(),
        steady.processes.filter((p) => steady.role(p) !== PROGRAM).length,
      ),
      node: NODE.running,
      target: "PSS ≤ 125 MB",
      met: steady.own().pss <= 125,
    });

    // Backup, cold (its profile's first call).
    const backupAsked = performance.now();
    const backup = await rt.client.call("execute", {
      id: "backup-1",
      procedure: "/backup/create",
      input: null,
      timeout: 120_000,
    });
    const backupMs = performance.now() - backupAsked;
    report({
      figure: "backup, first call (spawn, load, rsync the volumes)",
      ours: backup.error ? `error ${backup.error.code}: ${backup.error.message}` : ms(backupMs),
      node: NODE.backup,
    });

    // The burst, with main stopped so that the figure after it compares with the one after init.
    expectResult(rt, await rt.client.call("stop", {}), "stop");
    const burstStarted = performance.now();
    await Promise.all(Array.from({ length: BURST }, async (_, i) => {
      const answer = await getInput(rt!, `burst-${i}`);
      await run(rt!, `burst-${i}`, answer.value);
    }));
    const burstMs = performance.now() - burstStarted;
    const afterBurst = new Snapshot(runtimePid, seen, "right after the burst");
    report({
      figure: `all processes right after a burst of ${BURST} actions in flight (each getInput ` +
        `then run, same id; main stopped; took ${ms(burstMs)}) (${afterBurst.roles()})`,
      ours: afterBurst.describe(),
    });
    await pause(afterBurstS * 1000);
    const later = new Snapshot(runtimePid, seen, `${afterBurstS} s after the burst`);
    const delta = later.all().rss - settled.total.rss;
    report({
      figure: `all processes ${afterBurstS} s after the burst${
        quick ? " (--quick; a full run waits 60 s)" : ""
      }, default idle retirement ${DEFAULT_IDLE_S} s (${later.roles()})`,
      ours: `${later.describe()}, ${signed(delta)} vs ${settled.what}`,
      // Less than after init meets it: the target is about memory that does not come back.
      target: `within 10 MB of ${settled.what}`,
      met: delta <= 10,
    });
    // The first call again, now that idleness retired the children.
    const again = await getInput(rt, "again");
    const againRun = await run(rt, "again", again.value);
    report({
      figure: `${ACTION} getInput / run, first call again once the children were retired`,
      ours: `${ms(again.ms)} / ${ms(againRun)}`,
    });
    const runtimeLater = later.ofRole("runtime")[0].rss;
    report({
      figure: `… the runtime then, vs after init`,
      ours: `${mb(runtimeLater)} (${signed(runtimeLater - runtimeAlone)})`,
    });

    // exit as the host sends it: after stop (its uninit child was started at stop).
    expectResult(rt, await rt.client.call("start", {}), "start again");
    expectResult(rt, await rt.client.call("stop", {}), "stop before exit");
    const exitAsked = performance.now();
    expectResult(rt, await rt.client.call("exit", { id: "exit-1", target: null }), "exit");
    report({
      figure: "exit right after stop (uninit in the child started at stop), answer",
      ours: ms(performance.now() - exitAsked),
      node: NODE.exit,
    });

    // One child of each kind, and the same children with the tiny bench fixture.
    const noop = await noopChildren();
    const plain = await plainAfterInit(dir, seen, tree);
    report({
      figure: "a package whose init watches nothing (tests/fixtures/sdk-hello): all processes " +
        `after init (${plain.snapshot.roles()})`,
      ours: plain.snapshot.describe(),
      node: NODE.afterInit,
      target: "PSS ≤ 104 MB (stretch ≤ 60 MB)",
      met: plain.snapshot.all().pss <= 104,
    });
    report({
      figure: "… its init, answer / exit without a prior stop (uninit in a fresh child)",
      ours: `${ms(plain.initMs)} / ${ms(plain.uninitMs)}`,
    });
    const pss = (p: ProcessInfo | undefined) => mb(p?.pss ?? NaN);
    report({
      figure: `one child's RSS (PSS): main / getInput / run (bundle ${bundleMb.toFixed(1)} MB)`,
      ours: `${mb(main?.rss ?? NaN)} (${pss(main)}) / ${mb(getInputRss)} (${
        pss(warm.ofRole("getInput")[0])
      }) / ${mb(runRss)} (${pss(warm.ofRole("run")[0])})`,
    });
    report({
      figure: "the same with the tiny bench fixture (bench/fixtures/noop): run child; the " +
        "runtime",
      ours: `${mb(noop.procedure)}; ${mb(noop.runtime)}`,
    });
    report({
      figure: "a child's wrapper (its PID namespace's unshare and shell init), per child",
      ours: `${(wrappers.rss / children).toFixed(1)} MB (PSS ${
        (wrappers.pss / children).toFixed(1)
      } MB)`,
    });
    const bundleShare = (runRss - noop.procedure) / runRss;
    report({
      figure: "share of a run child's RSS that the SDK bundle adds (vs the noop fixture's child)",
      ours: `${(bundleShare * 100).toFixed(0)} % (${mb(runRss - noop.procedure)})`,
    });
  } finally {
    if (rt) {
      await rt.close();
      // BENCH_LOG=FILE: the runtime's log of the whole scenario, to see what it did and when.
      const logFile = Deno.env.get("BENCH_LOG");
      if (logFile) Deno.writeTextFileSync(logFile, rt.runtime.stderr.join("\n") + "\n");
      needles.push(...rt.state.subcontainersMade.map((fs) => fs.guid));
    }
    // Whatever the runtime left behind (a failure) must not outlive the bench.
    const left = [...seen].filter(([pid, start]) => stillRunning(pid, start));
    for (const [pid] of left) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    killMatching(needles);
    await Deno.remove(dir, { recursive: true });
    report({
      figure: "processes of the runtime's tree left after it stopped",
      ours: String(left.length),
      target: "0",
      met: left.length === 0,
    });
  }
}

/** SIGKILLs any live process whose command line contains one of `needles`. */
function killMatching(needles: string[]): void {
  if (needles.length === 0) return;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (needles.some((n) => cmdline.includes(n)) && processExists(pid)) {
        Deno.kill(pid, "SIGKILL");
      }
    } catch {
      // gone meanwhile
    }
  }
}
