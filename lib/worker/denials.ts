/**
 * The denial watch: every permission denial package code meets in this child, including those it
 * catches, and what they do to the call that meets them.
 *
 * start-sdk swallows some failures (FileHelper's `fs.access(path).then(() => true, () => false)`
 * reads a denial as "file missing"; a health check loop turns a refused `fetch` into a failure
 * and tries again every second), so a denial must never turn silently into a different answer or
 * a call that waits for its timeout. The rule, per call:
 * - the same denial (permission and target) met {@link REPEAT_LIMIT} times fails the call at once
 *   with 34: package code is retrying something it will never be allowed;
 * - a getInput or sandbox call that meets any denial is answered 34 naming it, even when package
 *   code caught it and answered (those answers must be what the package answers with the
 *   permission: a form prefilled from a file it could not read is wrong);
 * - any other call answers as the package did, and the runtime logs each denial it met with the
 *   policy key that would grant it; a call that fails after a denial is answered 34 naming it;
 * - denials outside a call (main's daemons, callbacks, timers) are logged once each.
 *
 * How every denial is seen: Deno 2.9 builds each `NotCapable` with `new NotCapable(message)`,
 * whose constructor assigns `this.name`. An accessor for `name` on `NotCapable.prototype` turns
 * that assignment into a call here (then defines `name` on the error as the assignment would
 * have), so denials raised anywhere (Deno's own APIs, Node's `fs`, `net`, `http`, `os`, `fetch`)
 * are recorded before any code can catch them. {@linkcode installDenialWatch} checks that it works
 * and says so when a Deno release builds these errors otherwise. Denials Node's module loader
 * raises while it probes for files (`require()` looking for `package.json` up the tree, which it
 * catches itself) are not counted.
 * @module
 */

import { createRequire } from "node:module";
import {
  type DeniedEntry,
  type DeniedParams,
  MAX_DENIED_ENTRIES,
  type PackageFunction,
} from "../protocol/channel.ts";
import { ErrorKind } from "../protocol/error_codes.ts";
import { type DenialKind, denialKind, deniedWhat, policyKey } from "./denial_kind.ts";
import { RpcError } from "../jsonrpc/errors.ts";

export type { DeniedEntry, DeniedParams, PackageFunction } from "../protocol/channel.ts";
export type { DenialKind } from "./denial_kind.ts";
export type { RpcError } from "../jsonrpc/errors.ts";

/** The same denial met this many times in one call fails the call (a retry loop). */
export const REPEAT_LIMIT = 5;

/** Profiles whose calls fail on any denial: their answers must not depend on one. */
export const STRICT_PROFILES: readonly string[] = Object.freeze(["getInput", "sandbox"]);

/** Distinct denials met outside calls that are reported (each once). */
const MAX_OUTSIDE_REPORTS = 64;

/** What the watch needs from the child. */
export interface DenialWatchOptions {
  /** The child's profile, for messages and policy keys. */
  profile: string;
  /** Sends a report to the runtime (the `denied` channel notification). */
  report(params: DeniedParams): void;
}

/** One denial kind of the current call, with the first error of that kind. */
interface Entry extends DeniedEntry {
  first: Error;
}

/** The call this child runs now. */
interface CallState {
  fn: PackageFunction;
  eventId: string | null;
  entries: Map<string, Entry>;
  /** The first denial of the call (an entry's `first`, or a refusal the child was told of). */
  first: Error | undefined;
  /** Fails the call (rejects its `tooMany` promise); set to a no-op once used. */
  stop: (error: RpcError) => void;
}

let options: DenialWatchOptions | null = null;
let call: CallState | null = null;
const seen = new WeakSet<object>();
const outside = new Set<string>();
/** Set while the watch checks itself: the accessor notes that it ran and records nothing. */
let probing: { ran: boolean } | null = null;
/** Calls into Node's module resolution running now (it probes paths and catches the denials). */
let resolving = 0;
/** True while the watch works: a denial raised meanwhile (a stack hook reading files) is not its. */
let busy = false;

/** A frame of Node's module loader: `at Module._findPath (node:module:1:21883)`. */
const MODULE_LOADER_FRAME = /\(node:module:\d+:\d+\)/;

/** The accessor's setter: keeps the assignment's effect, then records the error. */
function nameSetter(this: Error, value: unknown): void {
  Object.defineProperty(this, "name", {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
  if (probing) {
    probing.ran = true;
    return;
  }
  if (busy || resolving > 0) return;
  busy = true;
  try {
    // A resolution that did not go through the wrapped functions: told by its frames, read only
    // where no package hook (source-map-support) formats stacks.
    if (Error.prepareStackTrace === undefined && MODULE_LOADER_FRAME.test(this.stack ?? "")) return;
    recordDenial(this);
  } catch {
    // Never let the watch break the code that raised the denial.
  } finally {
    busy = false;
  }
}

/** Counts calls of Node's module resolution (`require()`, `require.resolve()`) in `resolving`. */
function watchModuleResolution(): void {
  const require = createRequire(import.meta.url);
  const Module = require("node:module") as Record<string, unknown>;
  for (const name of ["_resolveFilename", "_findPath"]) {
    const original = Module[name];
    if (typeof original !== "function" || (original as { watched?: true }).watched) continue;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      resolving++;
      try {
        return original.apply(this, args);
      } finally {
        resolving--;
      }
    };
    Module[name] = Object.assign(wrapped, { watched: true as const });
  }
}

/**
 * Installs the watch (once per child, before the package loads).
 * @param watchOptions the child's profile and where reports go
 * @returns whether the watch sees denials as they are raised (false: a Deno release builds
 *   `NotCapable` otherwise; only denials the worker is told of or that reach an answer are seen)
 */
export function installDenialWatch(watchOptions: DenialWatchOptions): boolean {
  options = watchOptions;
  watchModuleResolution();
  const prototype = Deno.errors.NotCapable.prototype;
  if (Object.getOwnPropertyDescriptor(prototype, "name")?.set !== nameSetter) {
    Object.defineProperty(prototype, "name", {
      configurable: true,
      get: () => "NotCapable",
      set: nameSetter,
    });
  }
  probing = { ran: false };
  try {
    new Deno.errors.NotCapable("probe");
    return probing.ran;
  } finally {
    probing = null;
  }
}

/**
 * The key a denial is counted under: what was refused, in the words of its message (Deno's name
 * the permission and target; the broker's also the argument that failed and why).
 */
function keyOf(kind: DenialKind, message: string): string {
  return `${kind.permission}\0${message}`;
}

/** A 34 naming `entry`, with `why` after it. */
function denialError(entry: Entry, profile: string, why: string, entries: Entry[]): RpcError {
  return new RpcError(ErrorKind.Authorization, "Permission denied", {
    details: `the ${profile} profile does not allow this: ${
      deniedWhat(entry.message, profile)
    } (policy key: ${entry.policyKey}); ${why}`,
    denials: entries.map(publicEntry),
    debug: stackOf(entry.first),
  });
}

/** An error's stack, formatted without the watch seeing what a package's stack hook raises. */
function stackOf(error: Error): string | undefined {
  const wasBusy = busy;
  busy = true;
  try {
    return error.stack;
  } catch {
    return undefined;
  } finally {
    busy = wasBusy;
  }
}

/** An entry as it goes on the wire. */
function publicEntry(entry: Entry): DeniedEntry {
  const { permission, target, message, policyKey, count } = entry;
  return { permission, target, message, policyKey, count };
}

/**
 * Records a denial: the watch calls this for every `NotCapable` raised; the worker for refusals
 * the runtime answered (an effect or a program the profile may not use). Each error counts once.
 * @param error the denial (a `NotCapable`, or the error the refusal was raised as)
 * @param kind what it refused, when the message does not say it in Deno's words
 */
export function recordDenial(error: Error, kind: DenialKind = denialKind(error.message)): void {
  if (seen.has(error)) return;
  seen.add(error);
  const profile = options?.profile ?? "unknown";
  const key = keyOf(kind, error.message);
  const make = (): Entry => ({
    ...kind,
    message: error.message.slice(0, 500),
    policyKey: policyKey(kind.permission, profile),
    count: 0,
    first: error,
  });
  if (call === null) {
    if (outside.has(key) || outside.size >= MAX_OUTSIDE_REPORTS) return;
    outside.add(key);
    const entry = { ...publicEntry(make()), count: 1 };
    const report = options?.report;
    // Not from inside the constructor that raised it: the report waits for a microtask.
    queueMicrotask(() =>
      report?.({ eventId: null, fn: null, outcome: "outside", denials: [entry] })
    );
    return;
  }
  call.first ??= error;
  let entry = call.entries.get(key);
  if (!entry) {
    if (call.entries.size >= MAX_DENIED_ENTRIES) return;
    call.entries.set(key, entry = make());
  }
  entry.count++;
  if (entry.count === REPEAT_LIMIT) {
    const stop = call.stop;
    call.stop = () => {};
    stop(denialError(
      entry,
      profile,
      `the call met this denial ${REPEAT_LIMIT} times (package code retries it), so it was ` +
        "stopped instead of waiting for its timeout",
      [...call.entries.values()],
    ));
  }
}

/**
 * Starts a call: denials from now on are the call's.
 * @param fn the package function it runs
 * @param eventId its event id
 * @returns a promise that rejects (34) when the call meets the same denial {@link REPEAT_LIMIT}
 *   times, and never settles otherwise: race the call against it
 */
export function beginCall(fn: PackageFunction, eventId: string | null): Promise<never> {
  let stop!: (error: RpcError) => void;
  const tooMany = new Promise<never>((_, reject) => stop = reject);
  call = { fn, eventId, entries: new Map(), first: undefined, stop };
  return tooMany;
}

/**
 * Ends the current call and reports its denials to the runtime (before the answer goes out).
 * @param outcome `answered`: the package answered; `failed`: the call is answered with an error
 * @returns for an answered call of a strict profile that met a denial, the 34 to answer instead;
 *   otherwise null
 */
export function endCall(outcome: "answered" | "failed"): RpcError | null {
  const ended = call;
  call = null;
  if (ended === null || ended.entries.size === 0) return null;
  const profile = options?.profile ?? "unknown";
  const entries = [...ended.entries.values()];
  const strict = outcome === "answered" && STRICT_PROFILES.includes(profile);
  options?.report({
    eventId: ended.eventId,
    fn: ended.fn,
    outcome: strict ? "failed" : outcome,
    denials: entries.map(publicEntry),
  });
  if (!strict) return null;
  return denialError(
    entries[0],
    profile,
    `package code caught the denial and answered anyway; a ${profile} answer must not depend ` +
      "on a denial, so the call fails instead",
    entries,
  );
}

/**
 * The first denial of the current call, if any.
 * @returns the error it was raised as
 */
export function firstDenial(): Error | undefined {
  return call?.first;
}
