/**
 * The compat layer: the few operations start-sdk performs on paths Deno 2.9 reserves for
 * `--allow-all` (any path under /dev, /proc, /sys — even a read, even a recursive mkdir of a
 * directory that exists), served without giving the child `--allow-all`.
 *
 * It replaces functions on Node's shared `fs/promises` object before the package loads: a
 * CommonJS bundle (esbuild/ncc output, what packages ship) reads the property at every call, so it
 * calls these. Everything not in the table below goes to Deno unchanged, so any other reserved
 * path still fails with `NotCapable` (answered 34 naming the path and the profile). An ES-module
 * package that imports `{ readFile }` by name binds Deno's function directly and is not served.
 * Whatever package code does with such a failure, the denial watch (denials.ts) has seen it.
 */

import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { PROC_NET_FILES, type ProcNetFile } from "../protocol/channel.ts";
import type { FileWatches } from "./file_watches.ts";

/** One operation the compat layer serves, with the start-sdk code that performs it. */
export interface Interception {
  /** The `fs/promises` function replaced. */
  operation: "mkdir" | "readFile";
  /** The exact paths served; any other path goes to Deno. */
  paths: readonly string[];
  /** How the call is served instead. */
  served: string;
  /** The start-sdk 2.0.9 function that performs it. */
  sdk: string;
}

/** Host directories SubContainer rbinds into every rootfs (`run` only with `sharedRun`). */
const SHARED_DIRS: readonly string[] = Object.freeze(["/dev", "/sys", "/run"]);

/** The whole table: what is intercepted, how it is served, and which SDK code needs it. */
export const INTERCEPTIONS: readonly Interception[] = Object.freeze([
  {
    operation: "mkdir",
    paths: SHARED_DIRS,
    served: "with {recursive: true}: succeeds without touching the path (it exists in every " +
      "container; /dev and /sys are reserved by Deno, /run is outside every write grant)",
    sdk: "SubContainer.of/eager/withTemp: `fs.mkdir('/dev'|'/sys'|'/run', {recursive: true})` " +
      "before `mount --rbind` into the rootfs",
  },
  {
    operation: "readFile",
    paths: PROC_NET_FILES.map((file) => `/proc/net/${file}`),
    served: "read by the runtime and answered over the child's channel (every profile: the " +
      "container's one network namespace)",
    sdk: "healthCheck.checkPortListening: reads /proc/net/tcp, tcp6, udp, udp6",
  },
]);

/** How the compat layer reaches the runtime. */
export interface CompatChannel {
  /** Resolves with the text of `/proc/net/<file>`, read by the runtime. */
  procNet(file: ProcNetFile): Promise<string>;
}

type AnyFunction = (...args: unknown[]) => unknown;

/** The path argument as a normalised string, or null when it is not a plain string path. */
function plainPath(path: unknown): string | null {
  if (typeof path !== "string" || !path.startsWith("/")) return null;
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed.replace(/\/{2,}/g, "/");
}

/** Whether mkdir options ask for a recursive mkdir. */
function isRecursive(options: unknown): boolean {
  return typeof options === "object" && options !== null &&
    (options as { recursive?: unknown }).recursive === true;
}

/** The encoding readFile options ask for, or null for a Buffer. */
function encodingOf(options: unknown): BufferEncoding | null {
  if (typeof options === "string") return options as BufferEncoding;
  if (typeof options === "object" && options !== null) {
    const encoding = (options as { encoding?: unknown }).encoding;
    if (typeof encoding === "string") return encoding as BufferEncoding;
  }
  return null;
}

/**
 * Installs the table's interceptions on Node's `fs/promises`, and its `watch` served by `watches`;
 * call before the package loads.
 * @param channel how the runtime is reached
 * @param watches the process's file watches (what the idle answer lists)
 */
export function installCompat(channel: CompatChannel, watches: FileWatches): void {
  const require = createRequire(import.meta.url);
  const fsp = require("node:fs/promises") as Record<string, AnyFunction>;
  const mkdir = fsp.mkdir;
  const readFile = fsp.readFile;
  const procNet = new Map<string, ProcNetFile>(
    PROC_NET_FILES.map((file) => [`/proc/net/${file}`, file]),
  );

  fsp.mkdir = function (this: unknown, ...args: unknown[]) {
    const path = plainPath(args[0]);
    if (path !== null && SHARED_DIRS.includes(path) && isRecursive(args[1])) {
      // A recursive mkdir of an existing directory creates nothing and resolves undefined.
      return Promise.resolve(undefined);
    }
    return mkdir.apply(this, args);
  };

  // Watches the idle answer can list (file_watches.ts), their events handed on once the file is
  // quiet: a watcher never reads a write half done (settledEvents).
  fsp.watch = (path: unknown, options?: unknown) => settledEvents(watches.watch(path, options));

  fsp.readFile = function (this: unknown, ...args: unknown[]) {
    const file = procNet.get(plainPath(args[0]) ?? "");
    if (file === undefined) return readFile.apply(this, args);
    const encoding = encodingOf(args[1]);
    return channel.procNet(file).then((text) =>
      encoding === null ? Buffer.from(text) : Buffer.from(text).toString(encoding)
    );
  };
}

/**
 * Makes a connection Deno refuses fail as Node reports a failed connection: `net.Socket`'s
 * `connect()` (what `net.connect` and `net.createConnection` call) returns the socket, and the
 * refusal (a `NotCapable`, given Node's `code: "EACCES"`, `syscall: "connect"`) comes as its
 * `'error'` event on a later turn of the event loop, then `'close'`. Deno 2.9 throws it from `connect()` itself,
 * where no `'error'` handler sees it: a package that probes its daemon's Unix socket
 * (`connect(path).on('error', …)`, tor's control socket) would fail the whole call instead of
 * taking its "not reachable" branch. The denial is still seen by the denial watch (denials.ts).
 */
export function installConnectErrors(): void {
  const require = createRequire(import.meta.url);
  const net = require("node:net") as { Socket: { prototype: Record<string, AnyFunction> } };
  const proto = net.Socket.prototype;
  const connect = proto.connect;
  proto.connect = function (this: { destroy(error: Error): void }, ...args: unknown[]) {
    try {
      return connect.apply(this, args);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotCapable)) throw error;
      Object.assign(error, { code: "EACCES", errno: -13, syscall: "connect" });
      // As Node's own connection errors, on a later turn of the event loop.
      setTimeout(() => this.destroy(error), 0);
      return this;
    }
  };
}

/** How long a watched file must stay quiet before its events are handed on (ms). */
export const WATCH_QUIET_MS = 50;
/** The longest events wait for a file that never goes quiet (a log written all the time) (ms). */
export const WATCH_MAX_WAIT_MS = 1_000;

/** The timers {@linkcode settledEvents} waits on (the real ones, or a test's). */
export interface QuietTimer {
  /** Calls `fn` once after `ms`; returns what `clear` takes. */
  set(fn: () => void, ms: number): number;
  /** Cancels it. */
  clear(id: number): void;
}

const realTimer: QuietTimer = {
  set: (fn, ms) => setTimeout(fn, ms) as unknown as number,
  clear: (id) => clearTimeout(id),
};

/**
 * `events`, each handed on once no new one came for `quietMs` — all of them, in order. start-sdk's
 * FileHelper writes a file with `fs.writeFile` (truncate, then write) and its `.const()` watcher
 * re-reads the file at the first event: in one Node process the two rarely interleave, but here
 * the writer (an action's child) and the watcher (the package host) are two processes, and the
 * watcher read the empty file often enough (4 of ~26 action writes, measured) to parse nothing,
 * drop its watch silently and stop reacting. Handing on the events once the file is quiet lets
 * the write finish first; the watcher reacts `quietMs` later. A file that never goes quiet has
 * its events handed on every `maxWaitMs` all the same.
 * @example
 * ```ts
 * for await (const event of settledEvents(fsp.watch("/media/startos/volumes/main/store.json"))) {
 *   console.log(event.eventType); // 50 ms after the last change of a burst
 * }
 * ```
 * @param events the watch's events
 * @param quietMs the quiet time (default {@linkcode WATCH_QUIET_MS})
 * @param timer the timers (default: the real ones)
 * @param maxWaitMs the longest a burst is held (default {@linkcode WATCH_MAX_WAIT_MS})
 * @returns the same events, later
 */
export async function* settledEvents<T>(
  events: AsyncIterable<T>,
  quietMs = WATCH_QUIET_MS,
  timer: QuietTimer = realTimer,
  maxWaitMs = WATCH_MAX_WAIT_MS,
): AsyncGenerator<T, void, undefined> {
  const iterator = events[Symbol.asyncIterator]();
  /** The source's next event; a rejection nobody waits for any more (the reader stopped after an
   * abort) is not an unhandled one. */
  const pull = () => {
    const promise = iterator.next();
    promise.catch(() => {});
    return promise;
  };
  try {
    let next = pull();
    while (true) {
      const first = await next;
      if (first.done) return;
      const burst = [first.value];
      let ended = false;
      let capId = 0;
      const cap = new Promise<null>((resolve) => capId = timer.set(() => resolve(null), maxWaitMs));
      while (true) {
        next = pull();
        let id = 0;
        const quiet = new Promise<null>((resolve) => id = timer.set(() => resolve(null), quietMs));
        const more = await Promise.race([next, quiet, cap]);
        timer.clear(id);
        if (more === null) break;
        if (more.done) {
          ended = true;
          break;
        }
        burst.push(more.value);
      }
      timer.clear(capId);
      yield* burst;
      if (ended) return;
    }
  } finally {
    await iterator.return?.();
  }
}
