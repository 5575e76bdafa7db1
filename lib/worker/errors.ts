/** Turns whatever package code threw into a wire error object (runs inside a child). */

import { ErrorKind } from "../protocol/error_codes.ts";
import { type ErrorObject, RpcError } from "../jsonrpc/errors.ts";

export type { ErrorObject };
import { denialKind, deniedWhat, policyKey } from "./denial_kind.ts";

/**
 * The one error type on the channel: the worker raises `RpcError` with the code it answers with,
 * and the runtime's error answers to its requests arrive as `RpcError` too.
 */
export { RpcError };

function validCode(code: unknown): code is number {
  return typeof code === "number" && Number.isInteger(code) && code > 0 && code < 2 ** 31;
}

function knownError(value: object): ErrorObject | undefined {
  const record = value as Record<string, unknown>;
  const pair = record.errorCode ?? record["error-code"];
  if (Array.isArray(pair) && pair.length === 2 && typeof pair[1] === "string") {
    return { code: validCode(pair[0]) ? pair[0] : ErrorKind.Javascript, message: pair[1] };
  }
  if (typeof record.error === "string") {
    // `{error, code}`: the convention the Node runtime answers with `code`.
    return {
      code: validCode(record.code) ? record.code : ErrorKind.Unknown,
      message: record.error,
    };
  }
  return undefined;
}

/** How deep `cause` chains are followed. */
const MAX_CAUSE_DEPTH = 16;

/** The first permission denial in `error`'s cause chain (the error itself included), if any. */
function notCapableIn(error: unknown): Error | undefined {
  let current = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH; depth++) {
    if (typeof current !== "object" || current === null) return undefined;
    if (
      current instanceof Deno.errors.NotCapable ||
      (current instanceof Error && current.name === "NotCapable")
    ) {
      return current;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Maps a thrown value to an error object: a coded error keeps its code; a
 * permission denial anywhere in the `cause` chain is 34 naming the permission,
 * the profile and the policy key that would grant it; a known error (`{error,
 * code?}` or `{errorCode: [code, message]}`) keeps its message and code (1 when
 * absent); anything else is 59 with the message and stack.
 * @param error what package code (or the worker) threw
 * @param profile the child's profile
 * @returns the error object to answer with
 */
export function toWireError(error: unknown, profile: string): ErrorObject {
  if (error instanceof RpcError) {
    const object: ErrorObject = {
      code: validCode(error.code) ? error.code : ErrorKind.Javascript,
      message: error.message,
    };
    if (error.data !== undefined) object.data = error.data;
    return object;
  }
  const denied = notCapableIn(error);
  if (denied) {
    const context = denied === error ? "" : ` (while: ${(error as Error).message ?? error})`;
    const key = policyKey(denialKind(denied.message).permission, profile);
    return {
      code: ErrorKind.Authorization,
      message: "Permission denied",
      data: {
        details: `the ${profile} profile does not allow this: ${
          deniedWhat(denied.message, profile)
        } (policy key: ${key})${context}`,
        debug: denied.stack,
      },
    };
  }
  if (error instanceof Error) {
    return {
      code: ErrorKind.Javascript,
      message: error.message || error.name,
      data: { details: `${error.name}: ${error.message}`, debug: error.stack },
    };
  }
  if (typeof error === "object" && error !== null) {
    const known = knownError(error);
    if (known) return known;
  }
  let text: string;
  try {
    text = typeof error === "string" ? error : JSON.stringify(error) ?? String(error);
  } catch {
    text = String(error);
  }
  return { code: ErrorKind.Javascript, message: text, data: { details: `package threw ${text}` } };
}
