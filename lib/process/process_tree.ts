/** Process-group helpers: kill a whole tree, tell whether any of it is left, reap after a crash. */

/**
 * Sends `signal` to every process in group `pgid`; false when the group is already empty.
 * @param pgid the process group's id
 * @param signal the signal
 * @returns whether it was sent (false when the group is empty or may not be signalled)
 */
export function signalGroup(pgid: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Lists the live (not zombie) members of group $1 from /proc. Deno only lets
 * a process with --allow-all read /proc, so the runtime asks a shell.
 */
const LIVE_MEMBERS_SCRIPT = `pg=$1
for f in /proc/[0-9]*/stat; do
  read -r line < "$f" 2>/dev/null || continue
  set -- \${line##*) }
  [ "$3" = "$pg" ] || continue
  case "$1" in Z|X) ;; *) echo "\${f%/stat}" ;; esac
done`;

async function hasLiveMembers(pgid: number): Promise<boolean> {
  try {
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", LIVE_MEMBERS_SCRIPT, "sh", String(pgid)],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() !== "";
  } catch {
    return true; // cannot tell: assume something is left
  }
}

/**
 * SIGKILLs group `pgid` and resolves once no live process is left in it
 * (members that are already dead but not yet reaped by init do not count),
 * or after `limitMs`: a process stuck in the kernel cannot be hurried.
 * Returns whether the group is gone.
 * @param pgid the process group's id
 * @param limitMs how long to keep checking (default 2 s)
 * @returns true once the group is gone, false when it was not within `limitMs`
 */
export async function killGroup(pgid: number, limitMs = 2000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (signalGroup(pgid, "SIGKILL")) {
    if (!await hasLiveMembers(pgid)) return true;
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
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
[ -n "$1" ] && rm -rf -- "$1"
exit 0`;

/** The reaper process: `track` a group when a child starts, `untrack` it when the group is gone. */
export class Reaper {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  /**
   * Starts the watchdog shell in its own session; it removes directory `leftover` when it ends.
   * @param leftover a directory to remove when the reaper ends (empty: none)
   */
  constructor(leftover: string) {
    this.#child = new Deno.Command("/bin/sh", {
      args: ["-c", REAPER_SCRIPT, "reaper", leftover],
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

  /**
   * Adds group `pgid` to the watch list.
   * @param pgid the process group's id
   */
  track(pgid: number): void {
    this.#send(`+${pgid}`);
  }

  /**
   * Removes group `pgid` from the watch list.
   * @param pgid the process group's id
   */
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
