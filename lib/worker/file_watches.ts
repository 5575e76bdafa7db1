/**
 * Node's `fs/promises.watch` served over `Deno.watchFs`, with every live watch known: what the
 * package host reports in its `idle` answer, so that the runtime can watch the same paths once the
 * host is retired and replay init when one changes (process/process_system.ts).
 *
 * Deno's own `fs/promises.watch` keeps the event loop alive even with `persistent: false` and
 * cannot be unref'd, so a child watching a file could never tell that the watch is all it holds.
 * `Deno.watchFs`'s watcher can: Deno 2.9's `FsWatcher` has `ref()` and `unref()` (not in its
 * type declarations; tests/unit/file_watches_test.ts checks they work). While the idle watch looks
 * (worker/idle.ts), every watch here is unref'd with the channel, and the event loop drains when
 * nothing else is pending. A Deno without them keeps the watches ref'd: the host is then kept.
 *
 * The events are Node's: `{eventType, filename}`, `"rename"` for a create, a remove or a rename
 * (one event per path), `"change"` otherwise; `filename` is the entry's name (its path below the
 * watched directory when recursive), a `Buffer` with `encoding: "buffer"`. An abort ends the
 * iteration with Node's `AbortError`; a path that cannot be watched fails the first `next()`.
 * Runs inside the worker process.
 * @module
 */

import { Buffer } from "node:buffer";
import type { WatchedPath } from "../protocol/channel.ts";
import { fileState } from "../protocol/file_state.ts";

/** One Node-shaped watch event. */
export interface WatchEvent {
  /** `"rename"` (created, removed, renamed) or `"change"`. */
  eventType: "rename" | "change";
  /** The entry's name, as the requested encoding. */
  filename: string | Buffer;
}

/** Node's options of `fs/promises.watch`, as far as they matter here. */
interface WatchOptions {
  recursive: boolean;
  encoding: string;
  signal: AbortSignal | undefined;
}

function watchOptions(options: unknown): WatchOptions {
  if (typeof options === "string") {
    return { recursive: false, encoding: options, signal: undefined };
  }
  const given = typeof options === "object" && options !== null
    ? options as Record<string, unknown>
    : {};
  return {
    recursive: given.recursive === true,
    encoding: typeof given.encoding === "string" ? given.encoding : "utf8",
    signal: given.signal instanceof AbortSignal ? given.signal : undefined,
  };
}

/** A path argument (a string, a `Buffer` or a `file:` URL) as an absolute path. */
export function pathOf(path: unknown): string {
  const text = path instanceof URL
    ? decodeURIComponent(path.pathname)
    : path instanceof Uint8Array
    ? new TextDecoder().decode(path)
    : String(path);
  const absolute = text.startsWith("/") ? text : `${Deno.cwd()}/${text}`;
  return absolute.length > 1 ? absolute.replace(/\/+$/, "") : absolute;
}

/** Node's `AbortError` (what `fs/promises.watch` throws when its signal aborts). */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error("The operation was aborted", { cause: signal.reason }), {
    name: "AbortError",
    code: "ABORT_ERR",
  });
}

/** Deno's error for a path that cannot be watched, with Node's `code` and `syscall`. */
function watchError(error: unknown, path: string): unknown {
  if (error instanceof Deno.errors.NotFound) {
    return Object.assign(error, { code: "ENOENT", errno: -2, syscall: "watch", path });
  }
  return error;
}

/** Deno's watcher with the (undeclared) methods that let the event loop end while it waits. */
type Watcher = Deno.FsWatcher & { ref?: () => void; unref?: () => void };

/** The entry an event path names, relative to the watched path. */
function entryName(watched: string, recursive: boolean, eventPath: string): string {
  if (recursive && eventPath.startsWith(`${watched}/`)) return eventPath.slice(watched.length + 1);
  return eventPath.slice(eventPath.lastIndexOf("/") + 1);
}

/** One live watch; `waiting` while a `next()` of its watcher is pending. */
interface LiveWatch {
  path: string;
  recursive: boolean;
  watcher: Watcher;
  waiting: boolean;
}

/**
 * Applies the wanted ref state to a watch that waits: Deno's `ref()`/`unref()` act on the pending
 * `next()` and throw when there is none (and keep nothing then), so a watch that does not wait
 * is left alone (it holds nothing) and gets the state when its next wait begins.
 */
function applyRef(live: LiveWatch, unrefd: boolean): void {
  if (!live.waiting) return;
  try {
    if (unrefd) live.watcher.unref?.();
    else live.watcher.ref?.();
  } catch { /* not waiting after all: it holds nothing */ }
}

/** The live watches of this process. */
export class FileWatches {
  readonly #live = new Map<object, LiveWatch>();
  #unrefd = false;

  /** How many watches are live. */
  get size(): number {
    return this.#live.size;
  }

  /**
   * `fs/promises.watch(path, options)`.
   * @example
   * ```ts
   * const watches = new FileWatches();
   * for await (const { eventType, filename } of watches.watch("/media/startos/volumes/main")) {
   *   console.log(eventType, filename);
   * }
   * ```
   * @param path what package code passed
   * @param options Node's options (`recursive`, `encoding`, `signal`; `persistent` is ignored)
   * @returns the events, until the iteration is ended or the signal aborts
   */
  watch(path: unknown, options?: unknown): AsyncIterableIterator<WatchEvent> {
    const { recursive, encoding, signal } = watchOptions(options);
    const absolute = pathOf(path);
    const key = {};
    let failure: unknown;
    let live: LiveWatch | undefined;
    if (!signal?.aborted) {
      try {
        const watcher: Watcher = Deno.watchFs(absolute, { recursive });
        live = { path: absolute, recursive, watcher, waiting: false };
        this.#live.set(key, live);
      } catch (error) {
        failure = watchError(error, absolute);
      }
    }
    const watcher = live?.watcher;
    /** Whether the watches are unref'd now (read at each wait). */
    const unrefd = () => this.#unrefd;
    const end = () => {
      if (!this.#live.delete(key)) return;
      try {
        watcher?.close();
      } catch { /* closed already */ }
    };
    const queued: WatchEvent[] = [];
    const name = (entry: string) => encoding === "buffer" ? Buffer.from(entry) : entry;
    const events = (async function* (): AsyncGenerator<WatchEvent> {
      if (signal?.aborted) throw abortError(signal);
      if (failure !== undefined || watcher === undefined) throw failure;
      const aborted = new Promise<"aborted">((resolve) =>
        signal?.addEventListener("abort", () => resolve("aborted"), { once: true })
      );
      const iterator = watcher[Symbol.asyncIterator]();
      try {
        while (true) {
          while (queued.length > 0) yield queued.shift()!;
          const pending = iterator.next();
          live!.waiting = true;
          applyRef(live!, unrefd());
          const next = await Promise.race([pending, aborted]).finally(() => live!.waiting = false);
          if (next === "aborted") throw abortError(signal!);
          if (next.done) return;
          const { kind, paths } = next.value;
          const eventType = kind === "create" || kind === "remove" || kind === "rename"
            ? "rename"
            : "change";
          for (const eventPath of paths) {
            queued.push({ eventType, filename: name(entryName(absolute, recursive, eventPath)) });
          }
        }
      } finally {
        end();
      }
    })();
    if (signal && !signal.aborted) signal.addEventListener("abort", end, { once: true });
    return events;
  }

  /** Lets the event loop end while only these watches are pending (the idle look). */
  unref(): void {
    this.#unrefd = true;
    for (const live of this.#live.values()) applyRef(live, true);
  }

  /** Makes every watch keep the event loop alive again. */
  ref(): void {
    this.#unrefd = false;
    for (const live of this.#live.values()) applyRef(live, false);
  }

  /** Every live watch, with its path's state now (for the idle answer). */
  list(): WatchedPath[] {
    return [...this.#live.values()].map(({ path, recursive }) => ({
      path,
      recursive,
      state: fileState(path),
    }));
  }
}
