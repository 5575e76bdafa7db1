/** JSON-RPC 2.0 message shapes and the classification of a parsed JSON value. */

import type { ErrorObject } from "./errors.ts";

/** A JSON-RPC id: a number, a string or null. */
export type Id = number | string | null;

/** A call that expects an answer. */
export interface RequestMessage {
  /** Discriminant. */
  kind: "request";
  /** The id the answer must carry. */
  id: Id;
  /** The method called. */
  method: string;
  /** The `params` member as sent (undefined when absent). */
  params: unknown;
}

/** A call without an `id` member: never answered. */
export interface NotificationMessage {
  /** Discriminant. */
  kind: "notification";
  /** The method called. */
  method: string;
  /** The `params` member as sent (undefined when absent). */
  params: unknown;
}

/** An answer to a request this side sent. */
export interface ResponseMessage {
  /** Discriminant. */
  kind: "response";
  /** The id of the request answered. */
  id: Id;
  /** The result, on success. */
  result?: unknown;
  /** The error object, on failure. */
  error?: ErrorObject;
}

/** A value that is not a valid JSON-RPC message; answered -32600. */
export interface InvalidMessage {
  /** Discriminant. */
  kind: "invalid";
  /** The value's id when it had a usable one, else null (the -32600 answer carries it). */
  id: Id;
  /** What is wrong with it, for the error's details. */
  reason: string;
}

/** Any classified message. */
export type Message = RequestMessage | NotificationMessage | ResponseMessage | InvalidMessage;

function isId(value: unknown): value is Id {
  return value === null || typeof value === "string" ||
    (typeof value === "number" && Number.isFinite(value));
}

function isErrorObject(value: unknown): value is ErrorObject {
  if (typeof value !== "object" || value === null) return false;
  const { code, message } = value as Record<string, unknown>;
  return typeof code === "number" && Number.isInteger(code) && typeof message === "string";
}

/**
 * Classifies one parsed JSON value (not an array: batches are split by the caller).
 *
 * A missing `"jsonrpc"` member is accepted, as the StartOS host omits it; a
 * present one must be `"2.0"`. An object with a `method` is a request when it
 * has an `id` member and a notification otherwise.
 */
export function classify(value: unknown): Message {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "invalid", id: null, reason: "a message must be a JSON object" };
  }
  const msg = value as Record<string, unknown>;
  const hasId = "id" in msg;
  if (hasId && !isId(msg.id)) {
    return { kind: "invalid", id: null, reason: "id must be a number, a string or null" };
  }
  const id: Id = hasId ? msg.id as Id : null;
  if ("jsonrpc" in msg && msg.jsonrpc !== "2.0") {
    return { kind: "invalid", id, reason: 'jsonrpc must be "2.0" when present' };
  }
  if ("method" in msg) {
    if (typeof msg.method !== "string") {
      return { kind: "invalid", id, reason: "method must be a string" };
    }
    const params = "params" in msg ? msg.params : undefined;
    return hasId
      ? { kind: "request", id, method: msg.method, params }
      : { kind: "notification", method: msg.method, params };
  }
  if (hasId && "result" in msg !== "error" in msg) {
    if ("error" in msg) {
      if (!isErrorObject(msg.error)) {
        return { kind: "invalid", id, reason: "error must have an integer code and a message" };
      }
      return { kind: "response", id, error: msg.error };
    }
    return { kind: "response", id, result: msg.result };
  }
  return { kind: "invalid", id, reason: "a request needs a string method" };
}
