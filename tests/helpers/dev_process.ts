/** Test helper: `deno task dev` as a subprocess in its own process group, as a terminal runs it. */

import { LineReader } from "./line_reader.ts";

/** The repository root. */
export const REPO = new URL("../../", import.meta.url).pathname;

/** A running `deno task dev`. */
export interface DevProcess {
  root: string;
  /** The runtime's socket under the root. */
  socket: string;
  child: Deno.ChildProcess;
  stdout: LineReader;
  stderr: LineReader;
  status: Promise<Deno.CommandStatus>;
  /** Ctrl-C: SIGINT to the whole process group, as a terminal sends it. */
  interrupt(): void;
  /** Interrupts (if still running), waits for the exit and removes the root. */
  close(): Promise<Deno.CommandStatus>;
}

/** Options of `startDev`. */
export interface DevProcessOptions {
  /** Extra arguments after `--root`. */
  args?: string[];
  env?: Record<string, string>;
}

/** Starts `deno task dev --root <fresh temp dir>` and waits for its "Try next" text. */
export async function startDev(options: DevProcessOptions = {}): Promise<DevProcess> {
  const root = await Deno.makeTempDir({ prefix: "startos-dev-test-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "dev", "--root", root, ...(options.args ?? [])],
    cwd: REPO,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const stdout = new LineReader(child.stdout);
  const stderr = new LineReader(child.stderr);
  const status = child.status;
  const interrupt = () => {
    try {
      Deno.kill(-child.pid, "SIGINT");
    } catch {
      // the group is gone
    }
  };
  let closing: Promise<Deno.CommandStatus> | undefined;
  const dev: DevProcess = {
    root,
    socket: `${root}/rpc/service.sock`,
    child,
    stdout,
    stderr,
    status,
    interrupt,
    close: () =>
      closing ??= (async () => {
        interrupt();
        const result = await status;
        await Promise.all([stdout.done, stderr.done]);
        await Deno.remove(root, { recursive: true }).catch(() => {});
        return result;
      })(),
  };
  if (await stdout.waitFor(/^Try next/) === null) {
    const result = await dev.close();
    throw new Error(`deno task dev exited with ${result.code}:\n${stderr.lines.join("\n")}`);
  }
  return dev;
}

/** Pids of live processes whose command line mentions `text` (our temp roots are unique). */
export function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z" || state === "X") continue;
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(text)) found.push(Number(entry.name));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Socket files left under `dir` (recursively). */
export function socketsUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    for (const entry of Deno.readDirSync(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) walk(full);
      else if (Deno.lstatSync(full).isSocket) found.push(full);
    }
  };
  walk(dir);
  return found;
}
