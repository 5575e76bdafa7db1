/** JSON-RPC error objects and the standard codes of the JSON-RPC 2.0 specification. */

/** Standard JSON-RPC 2.0 error codes. */
export const JsonRpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;

/** The `data` member of an error as the StartOS host reads it. */
export type ErrorData = { details?: string; debug?: string; [key: string]: unknown } | string;

/** An error object as it travels on the wire. */
export interface ErrorObject {
  /** The error code (JSON-RPC's own are negative, the host's `ErrorKind` positive). */
  code: number;
  /** A short description. */
  message: string;
  /** Anything more (`{ details, debug }` for the StartOS host). */
  data?: unknown;
}

/** An error that is answered to the peer as a JSON-RPC error object. */
export class RpcError extends Error {
  /** The wire code. */
  readonly code: number;
  /** The wire `data` member, if any. */
  readonly data: ErrorData | undefined;

  /** Creates an error with a wire `code`, a `message` and optional `data`. */
  constructor(code: number, message: string, data?: ErrorData) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.data = data;
  }

  /** The error as a wire error object. */
  toObject(): ErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  /** Rebuilds an error received from a peer. */
  static fromObject(error: ErrorObject): RpcError {
    return new RpcError(error.code, error.message, error.data as ErrorData | undefined);
  }
}

/** Raised for requests that were in flight when their connection closed. */
export class ConnectionClosedError extends Error {
  /** Creates the error; `message` says which connection. */
  constructor(message = "connection closed before the answer arrived") {
    super(message);
    this.name = "ConnectionClosedError";
  }
}
