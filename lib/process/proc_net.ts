/**
 * Reads `/proc/net/<file>` for the compat layer (lib/worker/compat.ts). Deno 2.9 lets only
 * `--allow-all` read /proc, the runtime included, so `/bin/cat` (by absolute path, in the
 * runtime's own mount namespace, which no child can change) reads it. The runtime and every child
 * share the container's network namespace: what it reads is what the child would have read.
 *
 * Each file is read at most once per {@link PROC_NET_CACHE_MS}: concurrent and repeated reads
 * share one `cat` (health checks of several daemons poll the same files every second), so a child
 * that reads in a loop cannot make the runtime fork for each read.
 */

import type { ProcNetFile } from "../protocol/channel.ts";
import { readProcFile } from "./system_programs.ts";

/** How long one read of a `/proc/net` file is served to every reader. */
export const PROC_NET_CACHE_MS = 250;

/** Reads `/proc/net` files, sharing each read for a short while. */
export class ProcNetReader {
  readonly #cache = new Map<ProcNetFile, { at: number; text: Promise<string> }>();
  readonly #now: () => number;

  /**
   * Creates a reader with an empty cache.
   * @param now the clock (ms), injectable for tests
   */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /**
   * The text of `/proc/net/<file>`; rejects when it cannot be read.
   * @param file one of the files checkPortListening reads
   * @returns the file's text, at most {@link PROC_NET_CACHE_MS} old
   */
  read(file: ProcNetFile): Promise<string> {
    const now = this.#now();
    const cached = this.#cache.get(file);
    if (cached && now - cached.at < PROC_NET_CACHE_MS) return cached.text;
    const text = readOnce(file);
    this.#cache.set(file, { at: now, text });
    text.catch(() => this.#cache.delete(file));
    return text;
  }
}

function readOnce(file: ProcNetFile): Promise<string> {
  return readProcFile(`/proc/net/${file}`);
}
