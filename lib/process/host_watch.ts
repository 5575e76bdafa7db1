/**
 * The files a retired package host watched, watched by the runtime instead: once the host's
 * `idle` answer lists what it still watches (protocol/channel.ts `IdleResult`), the runtime can
 * retire it and replay init in a fresh child when one of them changes (process_system.ts).
 *
 * A watch is taken over only where the init profile may read (the child could watch nothing
 * else, but its answer is not believed: it runs package code), after resolving symlinks, and only
 * while the path exists. The state the child saw when it answered is compared with the state once
 * the runtime watches: a change that fell between the two fires at once.
 *
 * What counts as a change, closer to what start-sdk reacts to than any event of the path:
 * - a file: a write that changes its bytes (compared with what they were when the runtime began
 *   watching, for files up to `MAX_COMPARED_BYTES`; start-sdk's FileHelper rewrites a file whole,
 *   often with the same content, and reacts only to a new value), its removal, its replacement by
 *   a rename;
 * - a directory (start-sdk watches a missing file's directory until the file appears): an entry
 *   created, removed or renamed, not a write into a file that exists.
 *
 * Paths a host's timers polled (its answer's `polls`, worker/tick_observation.ts) are polled here
 * as the host did, at its period (within `POLL_MS_RANGE`): a change of their state (modification
 * or status-change time, size, inode, existence) is a change. They may not exist; a path that
 * resolves outside what init may read is looked at as absent.
 * @module
 */

import type { PolledPath, WatchedPath } from "../protocol/channel.ts";
import { type FileState, fileState, sameState } from "../protocol/file_state.ts";
import { within } from "../policy/paths.ts";
import type { Clock, TimerId } from "./clock.ts";

/** Whether a path lies within what init may read. */
function readableIn(readPaths: readonly string[]): (path: string) => boolean {
  return (path) => readPaths.some((base) => within(path, base));
}

/** What stops a watch taken over. */
export interface Watching {
  /** Stops watching (idempotent). */
  release(): void;
}

/** Starts a watch (`Deno.watchFs`, or a test's). */
export type WatchFs = (path: string, options: { recursive: boolean }) => Deno.FsWatcher;

/** The largest file whose bytes are compared (a larger one changes at any write). */
export const MAX_COMPARED_BYTES = 1024 * 1024;

/** The bytes of `path`, or null when it cannot be read or is larger than `MAX_COMPARED_BYTES`. */
async function contentOf(path: string): Promise<Uint8Array | null> {
  try {
    if ((await Deno.stat(path)).size > MAX_COMPARED_BYTES) return null;
    const bytes = await Deno.readFile(path);
    return bytes.length > MAX_COMPARED_BYTES ? null : bytes;
  } catch {
    return null;
  }
}

/** `contentOf`, at once: read before the watch starts, so no write falls between the two. */
function contentNow(path: string): Uint8Array | null {
  try {
    if (Deno.statSync(path).size > MAX_COMPARED_BYTES) return null;
    const bytes = Deno.readFileSync(path);
    return bytes.length > MAX_COMPARED_BYTES ? null : bytes;
  } catch {
    return null;
  }
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Events that change which entries a path has (not what a file holds). */
const ENTRY_EVENTS: ReadonlySet<Deno.FsEvent["kind"]> = new Set(["create", "remove", "rename"]);

/**
 * Watches `watches` for a retired host; `changed` is called at every change until `release`.
 * @example
 * ```ts
 * const watching = watchFiles(idle.watches, initProfile.read, () => replayInit());
 * if (typeof watching === "string") keepTheHost(watching);
 * ```
 * @param watches the host's watches, from its idle answer
 * @param readPaths what the init profile may read
 * @param changed called at each change (a burst of events calls it as often)
 * @param watchFs how a watch is started (default `Deno.watchFs`)
 * @returns what stops the watches, or why they cannot be taken over (the host is then kept)
 */
export function watchFiles(
  watches: readonly WatchedPath[],
  readPaths: readonly string[],
  changed: () => void,
  watchFs: WatchFs = Deno.watchFs,
): Watching | string {
  const readable = readableIn(readPaths);
  const resolved: { watch: WatchedPath; real: string }[] = [];
  for (const watch of watches) {
    let real: string;
    try {
      real = Deno.realPathSync(watch.path);
    } catch {
      return `${watch.path}: does not exist any more`;
    }
    if (!readable(watch.path) || !readable(real)) {
      return `${watch.path}: outside what the init profile may read`;
    }
    resolved.push({ watch, real });
  }
  const watchers: Deno.FsWatcher[] = [];
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    for (const watcher of watchers) {
      try {
        watcher.close();
      } catch { /* closed already */ }
    }
  };
  const fire = () => {
    if (!released) changed();
  };
  try {
    for (const { watch, real } of resolved) {
      const directory = Deno.statSync(real).isDirectory;
      // A file's bytes when the runtime began watching; a write after this read and before the
      // watch began shows in the state compared below.
      let last = directory ? null : contentNow(real);
      const watcher = watchFs(real, { recursive: watch.recursive });
      watchers.push(watcher);
      (async () => {
        for await (const event of watcher) {
          if (ENTRY_EVENTS.has(event.kind) || (!directory && last === null)) {
            fire();
            continue;
          }
          if (directory) continue; // a write into an existing entry
          const now = await contentOf(real);
          if (!sameBytes(last, now)) fire();
          last = now;
        }
      })().catch(() => fire());
    }
  } catch (error) {
    release();
    return `cannot watch: ${error instanceof Error ? error.message : String(error)}`;
  }
  // A change between the child's answer and these watches: its state differs now.
  if (resolved.some(({ watch }) => !sameState(watch.state, fileState(watch.path)))) {
    queueMicrotask(fire);
  }
  return { release };
}

/** The shortest and longest period the runtime polls at, whatever the host's timers did (ms). */
export const POLL_MS_RANGE = Object.freeze({ min: 500, max: 60_000 });

/**
 * Polls `polls` for a retired host at its timers' period; `changed` is called at every look that
 * finds a path's state changed, until `release`.
 * @example
 * ```ts
 * const polling = pollFiles(idle.polls, initProfile.read, () => replayInit(), realClock);
 * if (typeof polling === "string") keepTheHost(polling);
 * ```
 * @param polls the host's polled paths, from its idle answer
 * @param readPaths what the init profile may read
 * @param changed called at each look that saw a change
 * @param clock what the looks wait on
 * @returns what stops the polling, or why it cannot be taken over (the host is then kept)
 */
export function pollFiles(
  polls: readonly PolledPath[],
  readPaths: readonly string[],
  changed: () => void,
  clock: Clock,
): Watching | string {
  const readable = readableIn(readPaths);
  for (const { path } of polls) {
    if (!readable(path)) return `${path}: outside what the init profile may read`;
  }
  /** The state of `path`, read only where init may read once symlinks are resolved. */
  const stateOf = (path: string): FileState | null => {
    let real: string;
    try {
      real = Deno.realPathSync(path);
    } catch {
      return null;
    }
    return readable(real) ? fileState(real) : null;
  };
  if (polls.length === 0) return { release: () => {} };
  const last = polls.map((poll) => poll.state);
  const periods = polls.map((poll) => poll.everyMs).filter((ms) => ms > 0);
  const everyMs = Math.min(
    POLL_MS_RANGE.max,
    Math.max(POLL_MS_RANGE.min, periods.length > 0 ? Math.min(...periods) : POLL_MS_RANGE.max),
  );
  let released = false;
  let timer: TimerId | undefined;
  const look = () => {
    timer = undefined;
    if (released) return;
    let moved = false;
    polls.forEach((poll, i) => {
      const now = stateOf(poll.path);
      if (sameState(last[i], now)) return;
      last[i] = now;
      moved = true;
    });
    if (moved) changed();
    if (!released) timer = clock.setTimeout(look, everyMs);
  };
  // A change between the host's last tick and now shows at the first look, right away.
  queueMicrotask(look);
  return {
    release: () => {
      released = true;
      if (timer !== undefined) clock.clearTimeout(timer);
    },
  };
}
