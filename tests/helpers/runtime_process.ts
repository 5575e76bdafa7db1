/** Test helper: runs `main.ts` as a real subprocess with the flags of `deno task start`. */

import { startTaskFlags } from "../../lib/dev/start_flags.ts";
import { LineReader } from "./line_reader.ts";

const REPO = new URL("../../", import.meta.url).pathname;

/** The permission flags of `deno task start`, read from deno.json so tests run what ships. */
export { startTaskFlags };

/**
 * What runs the runtime: this process's deno running main.ts with the start task's flags, or,
 * with `STARTOS_TEST_BUNDLE_DIR` set to a directory scripts/bundle.ts wrote, runtime.js from it
 * (the deployed form; its children then run the worker.js beside it).
 */
export async function runtimeCommand(): Promise<string[]> {
  const flags = await startTaskFlags();
  const bundles = Deno.env.get("STARTOS_TEST_BUNDLE_DIR");
  return bundles
    ? [Deno.execPath(), "run", ...flags, "--no-config", `${bundles}/runtime.js`]
    : [Deno.execPath(), "run", ...flags, `${REPO}main.ts`];
}

/** A runtime subprocess and what it printed. */
export interface RuntimeProcess {
  root: string;
  socket: string;
  child: Deno.ChildProcess;
  /** Every stderr line so far. */
  stderr: string[];
  /** Resolves with the exit status. */
  status: Promise<Deno.CommandStatus>;
  /** Waits for a stderr line matching `pattern` (null if the process ended first). */
  waitForLog(pattern: RegExp): Promise<string | null>;
  /** Sends SIGTERM (if still running), waits for exit and removes the temp root. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Options of `spawnRuntime`. */
export interface SpawnOptions {
  /** Extra CLI arguments (after `--root`). */
  args?: string[];
  env?: Record<string, string>;
  /** Use this root instead of a fresh temp dir (not removed on stop). */
  root?: string;
  /** Do not wait for the `listening on` line. */
  noWait?: boolean;
}

/** Spawns the runtime on a fresh temp root and waits until it accepts connections. */
export async function spawnRuntime(options: SpawnOptions = {}): Promise<RuntimeProcess> {
  const ownRoot = options.root === undefined;
  const root = options.root ?? await Deno.makeTempDir({ prefix: "startos-test-" });
  const [deno, ...runtime] = await runtimeCommand();
  const child = new Deno.Command(deno, {
    args: [...runtime, "--root", root, ...(options.args ?? [])],
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return await watchRuntime(child, root, { removeRoot: ownRoot, wait: !options.noWait });
}

/**
 * Wraps a spawned runtime: collects its stderr lines, stops it with SIGTERM
 * (removing `root` when `removeRoot`), and with `wait` resolves once it
 * prints `listening on <socket>` (the socket is taken from that line).
 */
export async function watchRuntime(
  child: Deno.ChildProcess,
  root: string,
  options: { removeRoot: boolean; wait: boolean },
): Promise<RuntimeProcess> {
  const reader = new LineReader(child.stderr);
  child.stdout.cancel();
  const status = child.status;
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const proc: RuntimeProcess = {
    root,
    socket: `${root}/rpc/service.sock`,
    child,
    stderr: reader.lines,
    status,
    waitForLog: (pattern) => reader.waitFor(pattern),
    stop: () => {
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
        const result = await status;
        await reader.done;
        if (options.removeRoot) await Deno.remove(root, { recursive: true }).catch(() => {});
        return result;
      })();
      return stopped;
    },
  };
  if (options.wait) {
    const line = await reader.waitFor(/^listening on /);
    if (line === null) {
      const { code } = await status;
      throw new Error(`runtime exited with ${code} before listening:\n${reader.lines.join("\n")}`);
    }
    proc.socket = line.slice("listening on ".length);
  }
  return proc;
}
