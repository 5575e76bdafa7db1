/** Process-group helpers: kill a whole tree, tell whether any of it is left, reap after a crash. */

/** Sends `signal` to every process in group `pgid`; false when the group is already empty. */
export function signalGroup(pgid: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGKILLs group `pgid` until no process is left in it (kill(2) then fails
 * with ESRCH), or until `limitMs` has passed: a process stuck in the kernel
 * cannot be hurried. Returns whether the group is gone. (Reading /proc
 * instead would need --allow-all under Deno 2.9.)
 */
export async function killGroup(pgid: number, limitMs = 2000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (signalGroup(pgid, "SIGKILL")) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

/**
 * A watchdog shell that outlives the runtime: it is told the process group
 * of every child and, when its stdin closes (the runtime exited or was
 * SIGKILLed), kills every group still listed. It ignores the signals a
 * terminal sends to a foreground group.
 */
const REAPER_SCRIPT = `trap '' INT TERM HUP QUIT
groups=""
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups \${line#+}" ;;
    -*) g=\${line#-}; kept=""; for x in $groups; do [ "$x" = "$g" ] || kept="$kept $x"; done; groups=$kept ;;
  esac
done
for g in $groups; do kill -KILL -- "-$g" 2>/dev/null; done
exit 0`;

/** The reaper process: `track` a group when a child starts, `untrack` it when the group is gone. */
export class Reaper {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  /** Starts the watchdog shell in its own session. */
  constructor() {
    this.#child = new Deno.Command("/bin/sh", {
      args: ["-c", REAPER_SCRIPT],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
  }

  #send(line: string): void {
    if (this.#closed) return;
    const bytes = new TextEncoder().encode(line + "\n");
    this.#chain = this.#chain.then(() => this.#writer.write(bytes)).catch(() => {});
  }

  /** Adds group `pgid` to the watch list. */
  track(pgid: number): void {
    this.#send(`+${pgid}`);
  }

  /** Removes group `pgid` from the watch list. */
  untrack(pgid: number): void {
    this.#send(`-${pgid}`);
  }

  /** Closes the watch list: the reaper kills what is still listed and exits. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#chain;
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}
