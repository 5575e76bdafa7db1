/**
 * The errors the runtime answers with, one named constructor each, so every site says what
 * happened and the code and message of each kind are written once. Codes are the host's
 * `ErrorKind` (positive) or JSON-RPC's own (negative); see the README's error table.
 */

import { type ErrorData, type ErrorObject, JsonRpcCode, RpcError } from "../jsonrpc/errors.ts";
import { ErrorKind } from "./error_codes.ts";

/** -32601: no such method; `details` says what is served instead. */
export function methodNotFound(details: string): RpcError {
  return new RpcError(JsonRpcCode.MethodNotFound, "Method not found", { details });
}

/** -32602: the params (or a procedure's input) are wrong; `details` names the field. */
export function invalidParams(details: string): RpcError {
  return new RpcError(JsonRpcCode.InvalidParams, "Invalid params", { details });
}

/** 6: an effect this runtime does not know. */
export function unknownEffect(method: string): RpcError {
  return new RpcError(ErrorKind.NotFound, "Unknown effect", {
    details: `${method} is not an effect of this runtime`,
  });
}

/** 34: the broker refuses an effect; `details` says why. */
export function effectNotAllowed(details: string): RpcError {
  return new RpcError(ErrorKind.Authorization, "Effect not allowed", { details });
}

/** 1 (Unknown): the host could not be reached or went away; `details` says how. */
export function hostUnavailable(message: string, details: string): RpcError {
  return new RpcError(ErrorKind.Unknown, message, { details });
}

/** 71: the host gave no answer in time. */
export function hostTimeout(method: string, ms: number): RpcError {
  return new RpcError(ErrorKind.Timeout, "The host did not answer", {
    details: `${method} got no answer from the host within ${ms} ms`,
  });
}

/** 40: the method needs a successful init first. */
export function uninitialized(method: string): RpcError {
  return new RpcError(ErrorKind.Uninitialized, "The runtime is not initialized", {
    details: `${method} refused: send init first`,
  });
}

/** 34: the profile does not allow what was attempted. */
export function permissionDenied(profile: string, what: string): RpcError {
  return new RpcError(ErrorKind.Authorization, "Permission denied", {
    details: `the ${profile} profile does not allow this: ${what}`,
  });
}

/** 59: a package-side failure the runtime itself detected. */
export function packageFailure(message: string, details: string, debug?: string): RpcError {
  return new RpcError(ErrorKind.Javascript, message, debug ? { details, debug } : { details });
}

/** 6: a package other than this service was named; `details` says which ones exist. */
export function packageNotInstalled(details: string): RpcError {
  return new RpcError(ErrorKind.NotFound, "Package not installed", { details });
}

/** 1 (Unknown): the runtime (seen from the dev host) could not be reached or went away. */
export function runtimeUnavailable(message: string, details: string): RpcError {
  return new RpcError(ErrorKind.Unknown, message, { details });
}

/** 1 (Unknown): something threw that is not an `RpcError`; its message is kept, no data. */
export function unexpectedFailure(message: string): RpcError {
  return new RpcError(ErrorKind.Unknown, message);
}

/** 73: the serving side is closing; no data. */
export function closing(message: string): RpcError {
  return new RpcError(ErrorKind.Cancelled, message);
}

/** 34: a channel connection that presented no known child's token; no data. */
export function unknownChild(): RpcError {
  return new RpcError(ErrorKind.Authorization, "Unknown child");
}

/** -32602: a child's channel call (`what`: `effect`, `spawn`, `proc-net`) has malformed params. */
export function invalidChannelCall(what: string): RpcError {
  return new RpcError(JsonRpcCode.InvalidParams, `Invalid ${what} call`);
}

/** -32601: a method the other end of a child's channel does not serve; no data. */
export function unknownChannelMethod(method: string): RpcError {
  return new RpcError(JsonRpcCode.MethodNotFound, `unknown channel method ${method}`);
}

/**
 * An error object that crossed a channel (a child's load error, say), as an `RpcError` again:
 * code, message and data as they were sent.
 */
export function fromWire(error: ErrorObject): RpcError {
  return new RpcError(error.code, error.message, error.data as ErrorData | undefined);
}

/**
 * Why a call was cut short. Every timeout, stop and shutdown aborts an `AbortSignal` with one of
 * these as its reason; `cancelError` turns the reason into the answer.
 */
export type CancelReason =
  | { kind: "timeout"; ms: number; queued: boolean }
  | { kind: "stop" }
  | { kind: "exit" }
  | { kind: "shutdown" };

/** A reason as an `Error`, so it can be an `AbortSignal`'s reason and still be matched. */
export class Cancelled extends Error {
  /** Why. */
  readonly reason: CancelReason;

  /** Wraps `reason`. */
  constructor(reason: CancelReason) {
    super(`cancelled: ${reason.kind}`);
    this.name = "Cancelled";
    this.reason = reason;
  }
}

/** The `CancelReason` a signal was aborted with, or undefined when it is not aborted by one. */
export function cancelReason(signal: AbortSignal | undefined): CancelReason | undefined {
  return signal?.aborted && signal.reason instanceof Cancelled ? signal.reason.reason : undefined;
}

/** The one mapping of a cancellation to its answer: a timeout is 71, everything else 73. */
export function cancelError(reason: CancelReason, what: string): RpcError {
  switch (reason.kind) {
    case "timeout":
      return new RpcError(ErrorKind.Timeout, "The procedure timed out", {
        details: reason.queued
          ? `${what} waited ${reason.ms} ms for a free child and never ran`
          : `${what} was stopped after ${reason.ms} ms; its processes were killed`,
      });
    case "stop":
      return new RpcError(ErrorKind.Cancelled, "Start was cancelled by stop", {
        details: `stop was called while ${what} was starting`,
      });
    case "exit":
    case "shutdown":
      return new RpcError(ErrorKind.Cancelled, "The runtime is shutting down", {
        details: `${what} was cancelled because the service container is exiting`,
      });
  }
}
