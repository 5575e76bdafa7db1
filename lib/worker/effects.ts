/**
 * The SDK's `Effects` object for package code, built on a transport (PROTOCOL.md "Effects").
 * Runs inside the worker process: outside lib/worker/ it imports only the effect table
 * (lib/protocol/effects.ts), which carries no schemas.
 * @module
 */
import { type CallbackFn, CallbackRegistry, isThenable } from "./callbacks.ts";
import {
  type EffectEntry,
  type EffectGroup,
  EFFECTS,
  type EffectSpec,
} from "../protocol/effects.ts";

/** How effects leave this process. */
export interface EffectsTransport {
  /** One effect call: method (kebab/dotted), params without any function, the child-local callback id when a callback function was passed (null otherwise), and the event id of the effects object it was made through. Resolves with the host's result or rejects with an Error whose message is the host's/runtime's message (keep `code` and `data` as properties on the Error). */
  call(
    method: string,
    params: Record<string, unknown>,
    callbackId: number | null,
    eventId?: string | null,
  ): Promise<unknown>;
  /** Tells the runtime that these child-local callback ids are dead (their context was left). */
  dropCallbacks(ids: number[]): void;
}

/** What a root effects context is built from. */
export interface EffectsOptions {
  /** Where effect calls go. */
  transport: EffectsTransport;
  /** The process-wide callback registry the host's `callback` notifications fire. */
  callbacks: CallbackRegistry;
  /** The procedure id effects are attributed to (null for main). */
  eventId: string | null;
  /** The root's `constRetry` (children start without one). */
  constRetry?: () => void;
  /** Receives errors thrown by onLeaveContext functions or dropCallbacks (default: console.error). */
  onError?: (error: unknown) => void;
}

/** One effect method: the package's options object (ignored for no-argument effects) in, the host's result out. */
export type Effect = (options?: Record<string, unknown>) => Promise<unknown>;

/** Only the effects of the table's group `G`, by camelCase name. */
export type EffectsIn<G extends EffectGroup> = {
  [E in EffectEntry as E["group"] extends G ? E["name"] : never]: Effect;
};

/** `T` under a dotted group path: `Nest<"plugin.url", T>` = `{ plugin: { url: T } }`. */
export type Nest<Path extends string, T> = Path extends "" ? T
  : Path extends `${infer Head}.${infer Rest}` ? { [K in Head]: Nest<Rest, T> }
  : { [K in Path]: T };

/** `A | B` → `A & B`. */
export type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends
  (x: infer I) => void ? I : never;

/** Every effect of the table, at its group path (derived: a new table entry needs no edit here). */
export type EffectMembers = UnionToIntersection<
  { [G in EffectGroup]: Nest<G, EffectsIn<G>> }[EffectGroup]
>;

/** What an effects context has besides its effects. */
export interface ContextMembers {
  /** The procedure id effects are attributed to. */
  readonly eventId: string | null;
  /** A sub-context registered under `name`; replaces (leaves) a previous child of that name. */
  child(name: string): WorkerEffects;
  /** Set by the SDK on child contexts; `.const()` watchers call it when their value changes. */
  constRetry?: () => void;
  /** False once the context was left. */
  readonly isInContext: boolean;
  /** Runs `fn` when the context is left (soon, if it already was). */
  onLeaveContext(fn: () => unknown): void;
}

/** The SDK's `Effects` shape (start-core Effects.d.ts), typed structurally from the effect table. */
export type WorkerEffects = ContextMembers & EffectMembers;

interface Shared {
  readonly transport: EffectsTransport;
  readonly callbacks: CallbackRegistry;
  readonly eventId: string | null;
  readonly onError: (error: unknown) => void;
}

interface Context {
  readonly shared: Shared;
  readonly parent: Context | null;
  readonly name: string;
  readonly children: Map<string, Context>;
  /** Registered, not yet fired callback ids. */
  readonly callbackIds: Set<number>;
  readonly onLeave: Array<() => unknown>;
  /** Leaving has started (or finished). */
  left: boolean;
  /** Becomes false when leaving has finished. */
  inContext: boolean;
}

const contexts = new WeakMap<object, Context>();

/** A root effects context with the SDK's Effects shape. */
export function createEffects(options: EffectsOptions): WorkerEffects {
  const report = options.onError ?? ((error: unknown) => console.error(error));
  const shared: Shared = {
    transport: options.transport,
    callbacks: options.callbacks,
    eventId: options.eventId,
    onError: (error) => {
      try {
        report(error);
      } catch {
        // A failing reporter must not break leaving.
      }
    },
  };
  const effects = build(shared, null, "");
  effects.constRetry = options.constRetry;
  return effects;
}

/** Leaves a context: its children first, then runs its onLeaveContext functions, drops its callbacks (transport.dropCallbacks) and sets isInContext to false. Idempotent. */
export function leaveContext(effects: WorkerEffects): void {
  const ctx = contexts.get(effects);
  if (ctx === undefined) throw new TypeError("Not an effects context made by createEffects");
  leave(ctx);
}

function leave(ctx: Context): void {
  if (ctx.left) return;
  ctx.left = true;
  for (const child of [...ctx.children.values()]) leave(child);
  ctx.children.clear();
  for (const fn of ctx.onLeave.splice(0)) runGuarded(ctx.shared, fn);
  const ids = [...ctx.callbackIds];
  ctx.callbackIds.clear();
  if (ids.length > 0) {
    ctx.shared.callbacks.forget(ids);
    try {
      ctx.shared.transport.dropCallbacks(ids);
    } catch (error) {
      ctx.shared.onError(error);
    }
  }
  ctx.inContext = false;
  if (ctx.parent?.children.get(ctx.name) === ctx) ctx.parent.children.delete(ctx.name);
}

function runGuarded(shared: Shared, fn: () => unknown): void {
  try {
    const result = fn();
    if (isThenable(result)) result.then(undefined, shared.onError);
  } catch (error) {
    shared.onError(error);
  }
}

function build(shared: Shared, parent: Context | null, name: string): WorkerEffects {
  const ctx: Context = {
    shared,
    parent,
    name,
    children: new Map(),
    callbackIds: new Set(),
    onLeave: [],
    left: false,
    inContext: true,
  };
  const obj: Record<string, unknown> = {
    child(childName: string): WorkerEffects {
      const child = build(shared, ctx, childName);
      const childCtx = contexts.get(child) as Context;
      if (ctx.left) {
        // A child of a left context is born left so nothing registered on it leaks.
        childCtx.left = true;
        childCtx.inContext = false;
        return child;
      }
      const previous = ctx.children.get(childName);
      if (previous !== undefined) leave(previous);
      ctx.children.set(childName, childCtx);
      return child;
    },
    constRetry: undefined,
    onLeaveContext(fn: () => unknown): void {
      if (typeof fn !== "function") return;
      if (ctx.left) queueMicrotask(() => runGuarded(shared, fn));
      else ctx.onLeave.push(fn);
    },
  };
  Object.defineProperty(obj, "eventId", { value: shared.eventId, enumerable: true });
  Object.defineProperty(obj, "isInContext", { get: () => ctx.inContext, enumerable: true });
  for (const spec of EFFECTS) {
    let target = obj;
    for (const segment of spec.group === "" ? [] : spec.group.split(".")) {
      target = (target[segment] ??= {}) as Record<string, unknown>;
    }
    target[spec.name] = effect(ctx, spec);
  }
  const effects = obj as unknown as WorkerEffects;
  contexts.set(effects, ctx);
  return effects;
}

function effect(ctx: Context, spec: EffectSpec): Effect {
  const { method } = spec;
  const noArgs = spec.noArgs === true;
  const withCallback = spec.callback === true;
  const { transport, callbacks } = ctx.shared;
  return async (options?: unknown): Promise<unknown> => {
    const params = noArgs ? {} : toParams(method, options);
    const fn = withCallback ? (options as { callback?: unknown } | undefined)?.callback : undefined;
    const id = typeof fn === "function" ? register(ctx, fn as CallbackFn) : null;
    try {
      return await transport.call(method, params, id, ctx.shared.eventId);
    } catch (error) {
      // The host did not take the callback: forget it now rather than at leave.
      if (id !== null && ctx.callbackIds.delete(id)) {
        callbacks.forget([id]);
        try {
          transport.dropCallbacks([id]);
        } catch (dropError) {
          ctx.shared.onError(dropError);
        }
      }
      throw error;
    }
  };
}

/** Registers `fn` as owned by `ctx`; null (dropped) when the context was left. */
function register(ctx: Context, fn: CallbackFn): number | null {
  if (ctx.left) return null;
  const id = ctx.shared.callbacks.register((...args: unknown[]) => {
    ctx.callbackIds.delete(id);
    return fn(...args);
  });
  ctx.callbackIds.add(id);
  return id;
}

/** The options object minus its function-valued properties; `{}` for null/undefined. */
function toParams(method: string, options: unknown): Record<string, unknown> {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`Options of effect ${method} must be an object`);
  }
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (typeof value !== "function") params[key] = value;
  }
  return params;
}
