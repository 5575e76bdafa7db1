/**
 * Fakes for the unit layer: no subprocess, no socket. Every fake records what was asked of it
 * and lets the test decide when (and how) each promise settles.
 */

import assert from "node:assert/strict";
import type { BrokerChild, HostEffects } from "../../lib/effects/broker.ts";
import { RpcError } from "../../lib/jsonrpc/errors.ts";
import { createLogger, type LogFields, type Logger, type LogLevel } from "../../lib/log.ts";
import type { EffectAccess, ProfileName } from "../../lib/policy/permissions.ts";
import { defaultPolicy, type Policy, type ReuseLimits } from "../../lib/policy/policy.ts";
import type { ChildHandle, IdleHoldings } from "../../lib/process/child_handle.ts";
import type { Clock, TimerId } from "../../lib/process/clock.ts";
import type { ChildRole, RunParams } from "../../lib/protocol/channel.ts";
import type { ExecuteRequest, InitKind, System } from "../../lib/service/system.ts";

/** A promise with its settle functions exposed. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
  /** True once `resolve` or `reject` was called. */
  readonly settled: boolean;
}

/** A new pending `Deferred`. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  let settled = false;
  return {
    promise,
    resolve: (value) => {
      settled = true;
      resolve(value);
    },
    reject: (reason) => {
      settled = true;
      reject(reason);
    },
    get settled() {
      return settled;
    },
  };
}

/** Resolves after every pending microtask and one macrotask turn (timers of 0 ms included). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A clock the test moves: `now()` stands still and timers fire only in `advance`, in the order
 * they are due (ties in the order they were set), each followed by a `flush`.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<TimerId, { at: number; fn: () => void }>();

  /**
   * A clock standing at `start`.
   * @param start ms since the epoch
   */
  constructor(start = 1_750_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(id: TimerId): void {
    this.#timers.delete(id);
  }

  /** Timers set and not fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward, firing every timer due by then (and those they set).
   * @param ms how far
   * @returns when the timers fired and what they started has settled
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    while (true) {
      let next: [TimerId, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= until && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
      await flush();
    }
    this.#now = until;
    await flush();
  }
}

/** Tracks whether `promise` has settled, without adding an unhandled rejection. */
export function watch<T>(
  promise: Promise<T>,
): { readonly settled: boolean; readonly promise: Promise<T> } {
  const state = { settled: false, promise };
  promise.then(() => state.settled = true, () => state.settled = true);
  return state;
}

/** A logger that writes nothing. */
export const silentLog: Logger = createLogger({ level: "error", write: () => {} });

/** One line written to a `RecordingLogger`. */
export interface LogLine {
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

/** A logger that keeps every line (debug included) for assertions. */
export function recordingLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger({
    level: "debug",
    format: "json",
    write: (line) => {
      const { level, msg, time: _time, ...fields } = JSON.parse(line);
      lines.push({ level, msg, fields });
    },
  });
  return { log, lines };
}

/** How a `FakeChild` behaves. */
export interface FakeChildOptions {
  role?: ChildRole;
  /** `ready` starts resolved (default) or pending until `markReady`/`failReady`. */
  ready?: "resolved" | "pending";
  /** When set, every `run` resolves with this function's value at once (after `ready`). */
  answer?: (params: RunParams) => unknown;
  /** True: `terminate()` (SIGTERM) does nothing, only `kill` ends the child. Default: it exits. */
  ignoreTerminate?: boolean;
  /** True: `kill()` waits for `releaseKill()` before the child exits. */
  holdKill?: boolean;
  /** Overrides the spawn time (ms since the epoch). */
  spawnedAt?: number;
}

/** One `run` call a `FakeChild` received, settled by the test. */
export interface RunCall {
  params: RunParams;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

let nextChildId = 1;

/** A child process whose every move is decided by the test. */
export class FakeChild implements ChildHandle {
  readonly name: string;
  readonly role: ChildRole;
  readonly spawnedAt: number;
  readonly ready: Promise<void>;
  readonly exited: Promise<Deno.CommandStatus>;
  readonly recentOutput: string[] = [];
  /** Every `run` received, in order. */
  readonly runs: RunCall[] = [];
  /** How many times `terminate()` was called. */
  terminateCalls = 0;
  /** How many times `kill()` was called. */
  killCalls = 0;
  readonly #options: FakeChildOptions;
  readonly #ready = deferred<void>();
  readonly #exited = deferred<Deno.CommandStatus>();
  readonly #killGate = deferred<void>();
  readonly #idle = deferred<IdleHoldings>();
  readonly #pending = new Set<Deferred<unknown>>();
  readonly #runWaiters: ((call: RunCall) => void)[] = [];
  #status: Deno.CommandStatus | undefined;

  /** A child that is ready at once and runs nothing until the test answers. */
  constructor(options: FakeChildOptions = {}) {
    this.#options = options;
    this.role = options.role ?? "run";
    this.name = `${this.role}#${nextChildId++}`;
    this.spawnedAt = options.spawnedAt ?? Date.now();
    this.ready = this.#ready.promise;
    this.ready.catch(() => {});
    this.exited = this.#exited.promise;
    if ((options.ready ?? "resolved") === "resolved") this.#ready.resolve();
  }

  get hasExited(): boolean {
    return this.#status !== undefined;
  }

  /** True once `kill()` was called. */
  get killed(): boolean {
    return this.killCalls > 0;
  }

  /** The exit status, once exited. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** Makes a pending `ready` resolve. */
  markReady(): void {
    this.#ready.resolve();
  }

  /** Makes a pending `ready` reject (a load error). */
  failReady(error: unknown = new Error("the package failed to load")): void {
    this.#ready.reject(error);
  }

  /**
   * Makes `whenIdle()` resolve: the child says it holds nothing but `held` (default: nothing).
   * @param held what it still watches
   */
  markIdle(held: Partial<IdleHoldings> = {}): void {
    this.#idle.resolve({
      callbacks: 0,
      watches: [],
      polls: [],
      droppedTimers: [],
      callbacksSeen: 0,
      touched: false,
      ...held,
    });
  }

  whenIdle(): Promise<IdleHoldings> {
    return this.#idle.promise;
  }

  /** Lets a held `kill()` finish. */
  releaseKill(): void {
    this.#killGate.resolve();
  }

  async run(params: RunParams): Promise<unknown> {
    await this.ready;
    if (this.hasExited) throw new Error(`${this.name} has exited`);
    const result = deferred<unknown>();
    const call: RunCall = { params, resolve: result.resolve, reject: result.reject };
    this.runs.push(call);
    this.#pending.add(result);
    const forget = () => this.#pending.delete(result);
    result.promise.then(forget, forget);
    for (const waiter of this.#runWaiters.splice(0)) waiter(call);
    if (this.#options.answer) result.resolve(this.#options.answer(params));
    return await result.promise;
  }

  /** The next `run` call (or the latest one, if it has not been answered yet). */
  nextRun(): Promise<RunCall> {
    const last = this.runs.at(-1);
    if (last && this.#pending.size > 0) return Promise.resolve(last);
    return new Promise((resolve) => this.#runWaiters.push(resolve));
  }

  terminate(): void {
    this.terminateCalls++;
    if (!this.#options.ignoreTerminate) this.exit({ signal: "SIGTERM" });
  }

  async kill(): Promise<void> {
    this.killCalls++;
    if (this.#options.holdKill) await this.#killGate.promise;
    this.exit({ signal: "SIGKILL" });
    await this.exited;
  }

  /** The process ends: pending runs reject (as with a real child), `exited` resolves. */
  exit(how: { code?: number; signal?: Deno.Signal } = {}): void {
    if (this.#status) return;
    const status: Deno.CommandStatus = how.signal
      ? { success: false, code: how.signal === "SIGTERM" ? 143 : 137, signal: how.signal }
      : { success: how.code === 0 || how.code === undefined, code: how.code ?? 0, signal: null };
    this.#status = status;
    const error = new Error(`${this.name} exited before it answered`);
    for (const pending of this.#pending) pending.reject(error);
    this.#ready.reject(error);
    this.#exited.resolve(status);
  }
}

/** Spawns `FakeChild`ren and remembers them. */
export class FakeSpawner {
  /** Every child spawned, in order. */
  readonly children: FakeChild[] = [];
  /** Options for each new child, by profile (or for all). */
  options: (profile: ProfileName) => FakeChildOptions;
  readonly #waiters: { profile: ProfileName; index: number; resolve(child: FakeChild): void }[] =
    [];

  readonly #clock: Clock | undefined;

  /**
   * A spawner of fakes.
   * @param options decides how each spawned child behaves
   * @param clock gives each child its spawn time (default: `Date.now()`)
   */
  constructor(options: (profile: ProfileName) => FakeChildOptions = () => ({}), clock?: Clock) {
    this.options = options;
    this.#clock = clock;
  }

  /** The `spawn` function to hand to the code under test. */
  readonly spawn = (profile: ProfileName): FakeChild => {
    const spawnedAt = this.#clock?.now();
    const child = new FakeChild({ role: profile, spawnedAt, ...this.options(profile) });
    this.children.push(child);
    const index = this.of(profile).length - 1;
    for (const waiter of this.#waiters.filter((w) => w.profile === profile && w.index === index)) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve(child);
    }
    return child;
  };

  /** Children spawned for `profile`, in order. */
  of(profile: ProfileName): FakeChild[] {
    return this.children.filter((child) => child.role === profile);
  }

  /** Resolves with the `index`th child (from 0) spawned for `profile`, now or when it is spawned. */
  nth(profile: ProfileName, index: number): Promise<FakeChild> {
    const existing = this.of(profile)[index];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.#waiters.push({ profile, index, resolve }));
  }

  /** Kills every child still alive (test cleanup). */
  async killAll(): Promise<void> {
    await Promise.all(this.children.map((child) => {
      child.releaseKill();
      return child.kill();
    }));
  }
}

/** The default policy with reuse limits and warm pool sizes overridden. */
export function testPolicy(
  children: Partial<ReuseLimits> = {},
  pool: Partial<Record<ProfileName, number>> = {},
): Policy {
  const policy = defaultPolicy({ package: "/pkg", root: "/root" });
  return {
    ...policy,
    children: { ...policy.children, ...children },
    pool: { ...policy.pool, ...pool },
  };
}

/** The methods of `System` that answer with a promise. */
export type SystemMethod = "init" | "exit" | "start" | "stop" | "execute" | "shutdown";

/** One call a `FakeSystem` received. */
export interface SystemCall {
  method: SystemMethod;
  args: unknown;
  /** Settles the call's promise (held calls only; others are resolved already). */
  answer: Deferred<unknown>;
}

/** A `System` that records every call; calls of `held` methods wait for the test. */
export class FakeSystem implements System {
  readonly calls: SystemCall[] = [];
  /** Every `callback` delivered. */
  readonly callbacks: { id: number; args: unknown[] }[] = [];
  /** Methods whose calls stay pending until the test settles `answer`. */
  readonly held = new Set<SystemMethod>();
  /** Methods whose calls reject at once with this error. */
  readonly failing = new Map<SystemMethod, unknown>();

  #call(method: SystemMethod, args: unknown): Promise<never> {
    const answer = deferred<unknown>();
    this.calls.push({ method, args, answer });
    if (this.failing.has(method)) answer.reject(this.failing.get(method));
    else if (!this.held.has(method)) {
      answer.resolve(method === "execute" ? { ok: true } : undefined);
    }
    return answer.promise as Promise<never>;
  }

  /** The calls of `method`, in order. */
  of(method: SystemMethod): SystemCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  init(request: { eventId: string; kind: InitKind }): Promise<void> {
    return this.#call("init", request);
  }

  exit(request: { eventId: string; target: string | null; uninit: boolean }): Promise<void> {
    return this.#call("exit", request);
  }

  start(): Promise<void> {
    return this.#call("start", undefined);
  }

  stop(): Promise<void> {
    return this.#call("stop", undefined);
  }

  execute(request: ExecuteRequest): Promise<unknown> {
    return this.#call("execute", request);
  }

  callback(id: number, args: unknown[]): void {
    this.callbacks.push({ id, args });
  }

  shutdown(): Promise<void> {
    return this.#call("shutdown", undefined);
  }
}

/** A child as the broker sees it; remembers the callbacks delivered to it. */
export class FakeBrokerChild implements BrokerChild {
  readonly name: string;
  readonly role: ChildRole;
  readonly profile: { effects: EffectAccess };
  eventId: string | null;
  /** True while a call runs (procedure children): set it false to play "after the answer". */
  inCall = true;
  /** Callbacks delivered, by child-local id. */
  readonly delivered: { localId: number; args: unknown[] }[] = [];

  /** A child of `role` with the effect access of that role's default profile unless given. */
  constructor(
    role: ChildRole,
    options: { eventId?: string | null; effects?: EffectAccess; name?: string } = {},
  ) {
    this.role = role;
    this.name = options.name ?? `${role}#${nextChildId++}`;
    this.eventId = options.eventId ?? null;
    const defaults = defaultPolicy({ package: "/pkg", root: "/root" }).profiles;
    this.profile = { effects: options.effects ?? defaults[role].effects };
  }

  callback(localId: number, args: unknown[]): void {
    this.delivered.push({ localId, args });
  }
}

/** The host connection as the broker sees it: records calls, answers `answer(method, params)`. */
export class FakeHost implements HostEffects {
  /** Every `call`, in order. */
  readonly calls: { method: string; params: Record<string, unknown> }[] = [];
  /** Every `callQuietly`, in order. */
  readonly quiet: { method: string; params: Record<string, unknown> }[] = [];
  answer: (method: string, params: Record<string, unknown>) => unknown = () => null;

  call(method: string, params: Record<string, unknown>): Promise<unknown> {
    this.calls.push({ method, params });
    return Promise.resolve(this.answer(method, params));
  }

  callQuietly(method: string, params: Record<string, unknown>): void {
    this.quiet.push({ method, params });
  }
}

/** Asserts that `work` rejects with an `RpcError` of `code` (and, if given, details matching). */
export async function assertRpcError(
  work: Promise<unknown> | (() => unknown),
  code: number,
  details?: RegExp,
): Promise<RpcError> {
  let caught: unknown;
  try {
    await (typeof work === "function" ? Promise.resolve().then(work) : work);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof RpcError, `expected an RpcError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `code of ${caught.message}: ${JSON.stringify(caught.data)}`);
  if (details) {
    const data = caught.data;
    const text = typeof data === "string" ? data : String(data?.details ?? "");
    assert.match(text, details);
  }
  return caught;
}

/**
 * Settles like `work`, or rejects after `ms` saying what never happened: a bound on awaits that
 * would otherwise hang the test run when the property under test is broken.
 */
export async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
