/**
 * Starts the runtime (`main.ts --dev`) as a subprocess with exactly the
 * permission flags of `deno task start`, forwards its log lines and waits
 * for its `listening on` line.
 */

import { forwardLines } from "../process/output_lines.ts";
import { REPO_ROOT, startTaskFlags } from "./start_flags.ts";

/** Options of `startRuntime`. */
export interface RuntimeOptions {
  /** Arguments after `main.ts`. */
  args: string[];
  /** Extra environment on top of this process's. */
  env: Record<string, string>;
  /** Turns the runtime's command line into the one to spawn (e.g. inside the dev namespace). */
  wrap?: (command: string[]) => string[];
  /** Receives every line the runtime writes to stderr. */
  onLine(line: string): void;
}

/** A runtime subprocess that is listening. */
export interface RuntimeProcess {
  child: Deno.ChildProcess;
  /** The socket it listens on, as it printed it. */
  socket: string;
  /** Resolves with the exit status. */
  status: Promise<Deno.CommandStatus>;
}

/** Raised when the runtime exits before it listens. */
export class RuntimeStartError extends Error {
  /** Creates the error; `message` says how the runtime ended. */
  constructor(message: string) {
    super(message);
    this.name = "RuntimeStartError";
  }
}

/** Spawns the runtime and resolves once it listens; rejects if it exits first. */
export async function startRuntime(options: RuntimeOptions): Promise<RuntimeProcess> {
  const flags = await startTaskFlags();
  const command = [Deno.execPath(), "run", ...flags, `${REPO_ROOT}main.ts`, ...options.args];
  const argv = options.wrap?.(command) ?? command;
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: options.env,
    stdin: "null",
    // Its own process group: a terminal's Ctrl-C reaches only the dev session, which stops
    // main first (so its daemons get term()) and then the runtime.
    detached: true,
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  let listening!: (socket: string) => void;
  const socket = new Promise<string>((resolve) => listening = resolve);
  const output = forwardLines(child.stderr, (line) => {
    if (line.startsWith("listening on ")) listening(line.slice("listening on ".length));
    options.onLine(line);
  });
  const status = child.status.then(async (status) => {
    await output;
    return status;
  });
  const first = await Promise.race([socket, status]);
  if (typeof first !== "string") {
    throw new RuntimeStartError(
      `the runtime exited with code ${first.code}${
        first.signal ? ` (${first.signal})` : ""
      } before it listened`,
    );
  }
  return { child, socket: first, status };
}
