/** Encoding of outgoing JSON-RPC messages as single lines (without the trailing newline). */

import type { ErrorObject } from "./errors.ts";
import type { Id } from "./messages.ts";

/** Thrown when a result cannot be written as JSON (a BigInt, a cycle). */
export class EncodeError extends Error {
  /** Wraps the serialiser's complaint. */
  constructor(cause: unknown) {
    super(`the result is not JSON-serialisable: ${cause instanceof Error ? cause.message : cause}`);
    this.name = "EncodeError";
  }
}

function stringifyValue(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new EncodeError(error);
  }
  // undefined, functions and symbols have no JSON form: they are answered as null.
  return text ?? "null";
}

/** A success answer; `undefined` is written as an explicit `"result":null`. */
export function encodeResult(id: Id, result: unknown): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${stringifyValue(result)}}`;
}

/** An error answer. */
export function encodeError(id: Id, error: ErrorObject): string {
  let text: string;
  try {
    text = JSON.stringify(error);
  } catch {
    text = JSON.stringify({ code: error.code, message: error.message });
  }
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":${text}}`;
}

/** A request this side sends. */
export function encodeRequest(id: Id, method: string, params: unknown): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":${JSON.stringify(method)},"params":${
    stringifyValue(params)
  }}`;
}

/** A notification this side sends. */
export function encodeNotification(method: string, params: unknown): string {
  return `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":${stringifyValue(params)}}`;
}
