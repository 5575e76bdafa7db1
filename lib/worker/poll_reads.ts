/**
 * What package code does with Node's `fs` while a timer's tick is observed (worker/idle.ts): the
 * paths it only looks at (`stat`, `lstat`, `access`, `exists`, `readFile`, `readdir`, in every
 * form: promises, callbacks, sync), each with its state then, and whether it did anything else
 * with files (a write, a removal, a stream, an open), wrote to the console or reached
 * anything else (a connection, an HTTP request: what the entry names). A tick
 * that only looked is a poll: the runtime can look at the same paths instead (process/host_watch.ts)
 * and replay init when one changes. One that did more is work of its own, and keeps the host.
 *
 * The functions are replaced on Node's shared `fs` and `fs/promises` objects before the package
 * loads (a CommonJS bundle reads the property at every call, see compat.ts). Outside a tick they
 * only pass the call on. What is not seen: Deno's own APIs (`Deno.writeFile`), which start-sdk
 * packages do not use; a package that did would only lose what its tick did once the host is
 * retired, never gain a permission.
 * Runs inside the worker process.
 * @module
 */

import { type FileState, fileState } from "../protocol/file_state.ts";
import { type AnyFunction, keepingProperties } from "./wrap.ts";
import { pathOf } from "./file_watches.ts";

/** What a tick did, once it ended. */
export interface TickReads {
  /** Each path looked at, with its state at the look (null: absent). */
  reads: Map<string, FileState | null>;
  /** What else it did (the first such thing), or null when it only looked. */
  impure: string | null;
}

/** Functions that only look at a path, in each of their forms. */
const LOOKS: readonly string[] = ["stat", "lstat", "access", "exists", "readFile", "readdir"];

/** Functions that change files, open them, or start something that outlives the call. */
const DOES: readonly string[] = [
  "writeFile",
  "appendFile",
  "mkdir",
  "mkdtemp",
  "rm",
  "rmdir",
  "unlink",
  "rename",
  "copyFile",
  "cp",
  "open",
  "opendir",
  "symlink",
  "link",
  "chmod",
  "lchmod",
  "chown",
  "lchown",
  "utimes",
  "lutimes",
  "truncate",
  "createReadStream",
  "createWriteStream",
];

const CONSOLE: readonly string[] = ["log", "info", "warn", "error", "debug", "trace"];

/** The path argument as an absolute path, or null when it is no path (a file descriptor, say). */
function pathArgument(path: unknown): string | null {
  const named = (typeof path === "string" && path !== "") || path instanceof URL ||
    path instanceof Uint8Array;
  return named ? pathOf(path) : null;
}

/** Records what package code does with files while a tick is observed. */
export class PollReads {
  #tick: TickReads | null = null;

  /** Whether a tick is being recorded. */
  get recording(): boolean {
    return this.#tick !== null;
  }

  /**
   * Wraps the looking and doing functions of Node's `fs` and `fs/promises` objects, the
   * console's writers, and whatever else `doing` names (a connection, a request: what a tick may
   * reach other than files); call before the package loads.
   * @example
   * ```ts
   * const reads = new PollReads();
   * const require = createRequire(import.meta.url);
   * reads.install([require("node:fs"), require("node:fs/promises")], console, [
   *   { on: globalThis, names: ["fetch"] },
   * ]);
   * ```
   * @param modules Node's `fs` and `fs/promises`
   * @param output the console
   * @param doing further functions that are work, each with the object that holds them
   */
  install(
    modules: readonly object[],
    output: object,
    doing: readonly { on: object; names: readonly string[] }[] = [],
  ): void {
    for (const { on, names } of doing) {
      for (const name of names) this.#wrap(on as Record<string, AnyFunction>, name, false);
    }
    for (const module of modules) {
      const functions = module as Record<string, AnyFunction>;
      for (const name of LOOKS) {
        for (const form of [name, `${name}Sync`]) this.#wrap(functions, form, true);
      }
      for (const name of DOES) {
        for (const form of [name, `${name}Sync`]) this.#wrap(functions, form, false);
      }
    }
    for (const name of CONSOLE) this.#wrap(output as Record<string, AnyFunction>, name, false);
  }

  #wrap(functions: Record<string, AnyFunction>, name: string, looks: boolean): void {
    const original = functions[name];
    if (typeof original !== "function") return;
    const note = (path: unknown) => this.#note(name, looks, path);
    functions[name] = keepingProperties(original, function (this: unknown, ...args: unknown[]) {
      note(args[0]);
      return original.apply(this, args);
    });
  }

  #note(name: string, looks: boolean, path: unknown): void {
    const tick = this.#tick;
    if (tick === null || tick.impure !== null) return;
    if (!looks) {
      tick.impure = `${name}()`;
      return;
    }
    const absolute = pathArgument(path);
    if (absolute === null) {
      tick.impure = `${name}() of something that is not a path`;
      return;
    }
    tick.reads.set(absolute, fileState(absolute));
  }

  /** Starts recording a tick (a tick already recorded goes on). */
  begin(): void {
    this.#tick ??= { reads: new Map(), impure: null };
  }

  /**
   * Notes that the tick did something this module cannot see in `fs` (an effect, a process, a
   * callback), so that it is not a poll.
   * @param what what it did, for the log
   */
  spoil(what: string): void {
    if (this.#tick !== null && this.#tick.impure === null) this.#tick.impure = what;
  }

  /** Ends the tick being recorded. @returns what it did; nothing recorded: an empty tick */
  end(): TickReads {
    const tick = this.#tick ?? { reads: new Map(), impure: null };
    this.#tick = null;
    return tick;
  }
}
