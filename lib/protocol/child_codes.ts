/**
 * Which error codes a child's answer may carry. A child runs package code, so its answer is
 * checked again here, in the runtime: the codes that describe the runtime itself come from the
 * runtime alone.
 *
 * | code | from a child |
 * | --- | --- |
 * | any positive code but those below (6, 34, 59, a package's own known-error codes, ...) | kept |
 * | 40 Uninitialized, 71 Timeout, 73 Cancelled | replaced by 59 (only the runtime knows its state, its deadlines and its teardowns), unless the runtime itself answered one of the child's effects with that code during the call (package code passing on an effect's timeout) |
 * | 0, negative (JSON-RPC's own, -32603 among them), not an integer, ≥ 2^31 | replaced by 59 |
 * @module
 */

import { RpcError } from "../jsonrpc/errors.ts";
import { ErrorKind } from "./error_codes.ts";

// Re-exported so that the types this module's API uses are documented with it.
export type { ErrorData, ErrorObject, RpcError } from "../jsonrpc/errors.ts";

/** Codes only the runtime answers with. */
export const RUNTIME_ONLY_CODES: ReadonlySet<number> = new Set([
  ErrorKind.Uninitialized,
  ErrorKind.Timeout,
  ErrorKind.Cancelled,
]);

/**
 * Whether a child may answer with `code`.
 * @param code the code of the child's error answer
 * @param given codes the runtime gave the child's effects during the call
 * @returns true when it passes to the host unchanged
 */
export function childMayAnswer(code: number, given: ReadonlySet<number> = new Set()): boolean {
  if (!Number.isInteger(code) || code <= 0 || code >= 2 ** 31) return false;
  return !RUNTIME_ONLY_CODES.has(code) || given.has(code);
}

/**
 * The error the host gets for a child's error answer: the same, or 59 when the child chose a
 * code only the runtime may give (the child's code and message are kept in `data`).
 * @param error the child's error answer
 * @param child the child's name, for the details
 * @param given codes the runtime gave the child's effects during the call
 * @returns the error to answer with
 */
export function childAnswerError(
  error: RpcError,
  child: string,
  given: ReadonlySet<number> = new Set(),
): RpcError {
  if (childMayAnswer(error.code, given)) return error;
  return new RpcError(ErrorKind.Javascript, error.message, {
    details: `the ${child} child answered code ${error.code}, which only the runtime gives: ` +
      error.message,
  });
}
