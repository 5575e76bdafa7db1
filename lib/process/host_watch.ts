/**
 * The files a retired package host watched, watched by the runtime instead: once the host's
 * `idle` answer lists what it still watches (protocol/channel.ts `IdleResult`), the runtime can
 * retire it and replay init in a fresh child when one of them changes (process_system.ts).
 *
 * A watch is taken over only where the init profile may read (the child could watch nothing
 * else, but its answer is not believed: it runs package code), after resolving symlinks, and only
 * while the path exists. The state the child saw when it answered is compared with the state once
 * the runtime watches: a change that fell between the two fires at once.
 * @module
 */

import type { WatchedPath } from "../protocol/channel.ts";
import { fileState, sameState } from "../protocol/file_state.ts";
import { within } from "../policy/paths.ts";

/** What stops a watch taken over. */
export interface Watching {
  /** Stops watching (idempotent). */
  release(): void;
}

/** Starts a watch (`Deno.watchFs`, or a test's). */
export type WatchFs = (path: string, options: { recursive: boolean }) => Deno.FsWatcher;

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
  const resolved: { watch: WatchedPath; real: string }[] = [];
  for (const watch of watches) {
    let real: string;
    try {
      real = Deno.realPathSync(watch.path);
    } catch {
      return `${watch.path}: does not exist any more`;
    }
    const readable = (path: string) => readPaths.some((base) => within(path, base));
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
      const watcher = watchFs(real, { recursive: watch.recursive });
      watchers.push(watcher);
      (async () => {
        for await (const _event of watcher) fire();
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
