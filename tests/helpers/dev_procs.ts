/**
 * Test helper: the process tree under a `deno task dev` (through every PID namespace: /proc here is
 * the machine's), to check that Ctrl-C leaves none of it behind.
 */

/** A process, identified by pid and start time (a pid can be reused). */
export interface ProcessId {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
  start: string;
  cmdline: string;
}

/** `[ppid, start, state]` of `pid`, or null when it is gone. */
function statOf(pid: number): { ppid: number; start: string; state: string } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0], ppid: Number(fields[1]), start: fields[19] };
  } catch {
    return null;
  }
}

/** Every live descendant of `root` right now. */
export function descendants(root: number): ProcessId[] {
  const children = new Map<number, number[]>();
  const starts = new Map<number, string>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    const stat = statOf(pid);
    if (!stat || stat.state === "Z" || stat.state === "X") continue;
    starts.set(pid, stat.start);
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
  }
  const found: ProcessId[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      let cmdline = "";
      try {
        cmdline = Deno.readTextFileSync(`/proc/${child}/cmdline`).replaceAll("\0", " ").trim();
      } catch {
        // gone meanwhile
      }
      found.push({ pid: child, start: starts.get(child) ?? "", cmdline });
      walk(child);
    }
  };
  walk(root);
  return found;
}

/** Those of `processes` still alive (same pid, same start time, not a zombie). */
export function stillAlive(processes: readonly ProcessId[]): ProcessId[] {
  return processes.filter((p) => {
    const stat = statOf(p.pid);
    return stat !== null && stat.start === p.start && stat.state !== "Z" && stat.state !== "X";
  });
}

/** The mount namespace of `pid` (`mnt:[4026…]`), or null when it is gone. */
export function mountNamespaceOf(pid: number): string | null {
  try {
    return Deno.readLinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/** Pids of live processes in mount namespace `ns`. */
export function processesInNamespace(ns: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = statOf(Number(entry.name));
    if (stat && stat.state !== "Z" && mountNamespaceOf(Number(entry.name)) === ns) {
      found.push(Number(entry.name));
    }
  }
  return found;
}
