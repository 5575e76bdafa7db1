/**
 * Memory of a process tree, from /proc: every process's parent, resident set (VmRSS, split into
 * anonymous and file-backed pages) and proportional set (PSS: shared pages divided among the
 * processes sharing them, so a sum of PSS counts the Deno binary's pages once).
 */

/** One live process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot (with the pid, identifies the process across reuse). */
  startTime: number;
  /** Arguments (argv). */
  cmdline: string[];
  /** VmRSS, RssAnon, RssFile in MB. */
  rss: number;
  anon: number;
  file: number;
  /** Pss in MB (NaN when smaps_rollup could not be read). */
  pss: number;
}

const MB = 1024;

function kbField(text: string, key: string): number {
  return Number(text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0);
}

/** The process `pid` now, or null when it is gone (or a zombie, or a kernel thread). */
export function processInfo(pid: number): ProcessInfo | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const state = status.match(/^State:\s+(\S)/m)?.[1];
    if (state === "Z" || state === "X" || !/^VmRSS:/m.test(status)) return null;
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces and parentheses): state is field 3,
    // starttime field 22.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    let pss = NaN;
    try {
      pss = kbField(Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`), "Pss") / MB;
    } catch {
      // not readable: leave NaN
    }
    return {
      pid,
      ppid: Number(status.match(/^PPid:\s+(\d+)/m)?.[1] ?? 0),
      startTime: Number(fields[19]),
      cmdline: Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((a) => a !== ""),
      rss: kbField(status, "VmRSS") / MB,
      anon: kbField(status, "RssAnon") / MB,
      file: kbField(status, "RssFile") / MB,
      pss,
    };
  } catch {
    return null; // gone meanwhile
  }
}

/** `root` and every live descendant of it, root first (empty when `root` is gone). */
export function processTree(root: number): ProcessInfo[] {
  const byParent = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let status: string;
    try {
      status = Deno.readTextFileSync(`/proc/${entry.name}/status`);
    } catch {
      continue;
    }
    const ppid = Number(status.match(/^PPid:\s+(\d+)/m)?.[1] ?? 0);
    const siblings = byParent.get(ppid) ?? [];
    siblings.push(Number(entry.name));
    byParent.set(ppid, siblings);
  }
  const tree: ProcessInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const info = processInfo(pid);
    if (info) tree.push(info);
    queue.push(...(byParent.get(pid) ?? []));
  }
  return tree;
}

/** Sums of RSS and PSS (MB) over `processes`. */
export function totals(processes: ProcessInfo[]): { rss: number; pss: number } {
  return {
    rss: processes.reduce((sum, p) => sum + p.rss, 0),
    pss: processes.reduce((sum, p) => sum + p.pss, 0),
  };
}

/** True while the process identified by `pid` and `startTime` is alive. */
export function stillRunning(pid: number, startTime: number): boolean {
  return processInfo(pid)?.startTime === startTime;
}
