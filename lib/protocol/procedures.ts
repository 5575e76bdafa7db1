/** Procedure paths of `execute`/`sandbox` → what to run, and the input each one takes. */

import * as z from "../zod.ts";
import type { InputSchema } from "./issues.ts";

/** A parsed procedure path. */
export type Procedure =
  | { kind: "getInput"; actionId: string }
  | { kind: "run"; actionId: string }
  | { kind: "backup" };

/** The procedure kinds, each of which maps to a permission profile. */
export type ProcedureKind = Procedure["kind"];

/** Action ids as the SDK writes them: letters, digits, `-`, `_` and `.`, not starting with `.`. */
const ACTION_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The accepted forms, quoted in errors. */
export const PROCEDURE_FORMS = "/backup/create, /actions/{id}/getInput, /actions/{id}/run";

/** Parses a procedure path; returns a sentence saying what is wrong when it is not one. */
export function parseProcedure(path: string): Procedure | string {
  if (path === "/backup/create") return { kind: "backup" };
  const parts = path.split("/");
  if (parts.length === 4 && parts[0] === "" && parts[1] === "actions") {
    const [, , actionId, verb] = parts;
    if (verb !== "getInput" && verb !== "run") {
      return `unknown action procedure ${JSON.stringify(verb)}; expected one of ${PROCEDURE_FORMS}`;
    }
    if (!ACTION_ID.test(actionId)) {
      return `invalid action id ${
        JSON.stringify(actionId)
      }: letters, digits, '-', '_' and '.' only`;
    }
    return { kind: verb, actionId };
  }
  return `unknown procedure ${JSON.stringify(path)}; expected one of ${PROCEDURE_FORMS}`;
}

const getInputInput = z.strictObject({
  prefill: z._default(z.nullable(z.record(z.string(), z.unknown())), null),
});
const runInput = z.pipe(
  z.strictObject({ input: z.optional(z.unknown()) }),
  z.transform((v) => ({ input: v.input ?? null })),
);
const backupInput = z._default(z.null(), null);

/** The input schema of each procedure kind, as the host sends it. */
export const PROCEDURE_INPUT: Record<ProcedureKind, InputSchema> = {
  getInput: getInputInput,
  run: runInput,
  backup: backupInput,
};
