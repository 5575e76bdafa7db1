/** Test helper: a runtime running a fixture package against a fake host, on a fresh temp root. */

import { isolationPolicy } from "./isolation.ts";
import { FakeHost } from "./fake_host.ts";
import { RpcClient } from "./rpc_client.ts";
import { type RuntimeProcess, spawnRuntime } from "./runtime_process.ts";

/** Absolute path of a fixture package module. */
export function fixture(name: string, file = "index.js"): string {
  return new URL(`../fixtures/${name}/${file}`, import.meta.url).pathname;
}

/** A runtime with its fake host and a client. */
export interface PackageRuntime {
  root: string;
  host: FakeHost;
  runtime: RuntimeProcess;
  client: RpcClient;
  /** Stops everything and removes the root. */
  close(): Promise<void>;
}

/** Options of `startPackageRuntime`. */
export interface PackageRuntimeOptions {
  /** Package module (default: the basic fixture). */
  package?: string;
  /** Extra runtime arguments. */
  args?: string[];
  /** Extra environment for the runtime (and so for children whose profile allows env). */
  env?: Record<string, string>;
  /** JSONC policy text written to the root and passed with --policy. */
  policy?: string;
  /** Send init and require it to succeed (default true). */
  init?: boolean;
}

/** Builds a root with volumes/main, assets and a fake host, starts the runtime and (by default) inits it. */
export async function startPackageRuntime(
  options: PackageRuntimeOptions = {},
): Promise<PackageRuntime> {
  const root = await Deno.makeTempDir({ prefix: "startos-test-" });
  await Deno.mkdir(`${root}/rpc`, { recursive: true });
  await Deno.mkdir(`${root}/volumes/main`, { recursive: true });
  await Deno.mkdir(`${root}/assets`, { recursive: true });
  await Deno.writeTextFile(`${root}/volumes/main/data.txt`, "volume data");
  const host = FakeHost.listen(`${root}/rpc/host.sock`);
  const args = ["--package", options.package ?? fixture("basic"), ...(options.args ?? [])];
  const policy = isolationPolicy(options.policy);
  if (policy !== undefined) {
    await Deno.writeTextFile(`${root}/policy.jsonc`, policy);
    args.push("--policy", `${root}/policy.jsonc`);
  }
  let runtime: RuntimeProcess;
  try {
    runtime = await spawnRuntime({ root, args, env: { FIXTURE_ROOT: root, ...options.env } });
  } catch (error) {
    host.close();
    await Deno.remove(root, { recursive: true });
    throw error;
  }
  const client = await RpcClient.connect(runtime.socket);
  const close = async () => {
    client.close();
    await runtime.stop();
    host.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  if (options.init ?? true) {
    const outcome = await client.call("init", { id: "init-1", kind: "install" });
    if (outcome.error) {
      await close();
      throw new Error(`init failed: ${JSON.stringify(outcome.error)}`);
    }
  }
  return { root, host, runtime, client, close };
}

/** `execute` params for an action procedure. */
export function runAction(
  action: string,
  input: unknown = null,
  id = `run-${action}`,
  timeout: number | null = 30000,
) {
  return { id, procedure: `/actions/${action}/run`, input: { input }, timeout };
}

/** True while a live process with `pid` exists (a zombie awaiting its reaper does not count). */
export function processExists(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The child (`run#2`) a runtime log line came from. */
export function childOf(line: string | null): string {
  const match = line?.match(/\bchild=(\S+)/);
  if (!match) throw new Error(`no child= in log line: ${line}`);
  return match[1];
}

/**
 * The host pid of child `name`'s process group leader (needs `--log-level debug`, which logs
 * `spawned child=<name> pid=<pid>`). Package code sees only pids inside the child's PID
 * namespace; when this leader is gone, every process of the child is.
 */
export function leaderPid(stderr: readonly string[], name: string): number {
  const line = stderr.find((l) => / spawned /.test(l) && l.includes(`child=${name} `));
  const match = line?.match(/\bpid=(\d+)/);
  if (!match) throw new Error(`no spawned line for ${name}`);
  return Number(match[1]);
}

/**
 * Makes the fake host answer `subcontainer.create-fs` as StartOS does: a fresh rootfs directory
 * under `<root>/subcontainers/<guid>` (with `dirs` made inside it), answered `[rootfs, guid]`.
 * @param rt the runtime whose host answers
 * @param dirs directories to create inside each new rootfs
 */
export function serveCreateFs(rt: PackageRuntime, dirs: readonly string[] = []): void {
  rt.host.handlers.set("subcontainer.create-fs", async () => {
    const guid = crypto.randomUUID();
    const rootfs = `${rt.root}/subcontainers/${guid}`;
    await Deno.mkdir(rootfs, { recursive: true });
    for (const dir of dirs) await Deno.mkdir(`${rootfs}/${dir}`, { recursive: true });
    return [rootfs, guid];
  });
}
