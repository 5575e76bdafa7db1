/** Zod schemas of the eight methods' params, built once, and their validation. */

import * as z from "../zod.ts";
import { invalidParams } from "./errors.ts";
import { describeIssues } from "./issues.ts";
import { PROCEDURE_INPUT } from "./procedures.ts";

const noParams = z.pipe(
  z.union([z.object({}), z.null(), z.undefined()]),
  z.transform(() => ({})),
);
const timeout = z._default(
  z.nullable(z.number().check(z.positive(), z.lte(2_147_483_647))),
  null,
);

const procedureCall = z.object({
  id: z.string(),
  procedure: z.string(),
  input: z.optional(z.unknown()),
  timeout,
});

/** Params schema of each method. */
export const PARAMS = {
  init: z.object({
    id: z.string(),
    kind: z._default(z.nullable(z.enum(["install", "update", "restore"])), null),
  }),
  exit: z.object({
    id: z.string(),
    target: z._default(z.nullable(z.string()), null),
  }),
  start: noParams,
  stop: noParams,
  execute: procedureCall,
  sandbox: procedureCall,
  callback: z.object({
    id: z.int().check(z.nonnegative()),
    args: z._default(z.array(z.unknown()), () => []),
  }),
  eval: z.object({ script: z.string() }),
} as const;

/** The methods the runtime serves. */
export type Method = keyof typeof PARAMS;

/** Validated params of `method` (what its schema's `parse` returns). */
export type Params<M extends Method> = ReturnType<(typeof PARAMS)[M]["parse"]>;

export { describeIssues };

/** Validates `params` of `method`; throws -32602 with the issue in `data.details`. */
export function parseParams<M extends Method>(method: M, params: unknown): Params<M> {
  const result = PARAMS[method].safeParse(params);
  if (!result.success) {
    throw invalidParams(`${method}: ${describeIssues(result.error)}`);
  }
  return result.data as Params<M>;
}

const SAMPLES: Record<Method, unknown> = {
  init: { id: "warm-up", kind: null },
  exit: { id: "warm-up", target: null },
  start: {},
  stop: null,
  execute: { id: "warm-up", procedure: "/actions/a/run", input: { input: null }, timeout: 1 },
  sandbox: { id: "warm-up", procedure: "/backup/create", input: null, timeout: null },
  callback: { id: 1, args: [] },
  eval: { script: "" },
};

/**
 * Parses a sample of every method's params once. zod compiles a schema on its
 * first use (about a millisecond each); doing it at startup keeps that off
 * the first real request of each method.
 */
export function warmUpParams(): void {
  for (const method of Object.keys(SAMPLES) as Method[]) PARAMS[method].safeParse(SAMPLES[method]);
  PROCEDURE_INPUT.run.safeParse({ input: null });
  PROCEDURE_INPUT.getInput.safeParse({ prefill: null });
  PROCEDURE_INPUT.backup.safeParse(null);
}
