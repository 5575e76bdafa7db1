/** The shape of one dev host effect: its params schema, the value it watches, what it does. */

import { z } from "zod";
import type { RpcError } from "../../jsonrpc/errors.ts";
import { invalidParams, packageNotInstalled } from "../../protocol/errors.ts";
import type { Logger } from "../../log.ts";
import type { EffectMethod } from "../../protocol/effects.ts";
import { describeIssues } from "../../protocol/params.ts";
import type { CallbackTable } from "../callback_table.ts";
import type { RuntimeLink } from "../runtime_link.ts";
import type { DevState } from "../state.ts";
import type { Subcontainers } from "../subcontainers.ts";

/** What an effect handler may use. */
export interface EffectContext {
  /** The live state; after changing it, call `update`. */
  readonly state: DevState;
  /** `params.eventId` of the call (null for main). */
  readonly eventId: string | null;
  /** Makes and removes subcontainer filesystems under the root. */
  readonly subcontainers: Subcontainers;
  readonly callbacks: CallbackTable;
  readonly runtime: RuntimeLink;
  readonly log: Logger;
  /** The state changed: save it before answering and fire the callbacks watching `topics`. */
  update(...topics: string[]): void;
}

/** One effect, type-erased for the dispatch table. */
export interface Effect {
  /** Parses params (throws -32602), runs the effect; `topic` is what a callback would watch. */
  handle(method: string, params: unknown, context: EffectContext): Promise<EffectOutcome>;
}

/**
 * Handlers for some of the effect table's methods, by wire name: a name the table does not have
 * does not type-check (lib/dev/effects/index.ts checks that together they cover the table).
 */
export type EffectHandlers = Partial<Record<EffectMethod, Effect>>;

/** What an effect answered and the value a passed callback watches. */
export interface EffectOutcome {
  result: unknown;
  topic?: string;
}

/** Definition of one effect. */
export interface EffectDefinition<S extends z.ZodType> {
  params: S;
  /** For callback-taking effects: the watched value's topic. */
  watch?: (params: z.output<S>, context: EffectContext) => string;
  run(params: z.output<S>, context: EffectContext): unknown;
}

/** Builds an `Effect` from its definition. */
export function defineEffect<S extends z.ZodType>(definition: EffectDefinition<S>): Effect {
  return {
    async handle(method, raw, context) {
      const parsed = definition.params.safeParse(raw ?? {});
      if (!parsed.success) {
        throw invalidParams(`${method}: ${describeIssues(parsed.error)}`);
      }
      const result = await definition.run(parsed.data, context);
      return { result: result ?? null, topic: definition.watch?.(parsed.data, context) };
    },
  };
}

/** Params of effects that take none (`{}` or absent). */
export const noParams = z.object({});

/** Whether two JSON values are the same (key order included, as the state writes them). */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The package a `packageId` param names: the given one, or this service. */
export function packageOf(params: { packageId?: string | undefined }, state: DevState): string {
  return params.packageId ?? state.packageId;
}

/** Error 6 for a package other than the service itself. */
export function notInstalled(packageId: string, state: DevState): RpcError {
  return packageNotInstalled(
    `the dev host has no package ${packageId}; only ${state.packageId} (this service) is installed`,
  );
}
