/** A `System` for builds without the process model: every package method answers a clear error. */

import { ErrorKind } from "./error_codes.ts";
import { RpcError } from "./jsonrpc/errors.ts";
import type { System } from "./system.ts";

function unavailable(): never {
  throw new RpcError(ErrorKind.Unknown, "Package execution is not available in this build", {
    details: "this runtime build has no process model yet, so it cannot run package code",
  });
}

/** Answers every package method with an error; owns no processes. */
export class UnavailableSystem implements System {
  /** Always fails. */
  init(): Promise<void> {
    return Promise.reject(unavailable());
  }
  /** Nothing to uninit: exit succeeds so the container can be torn down. */
  exit(): Promise<void> {
    return Promise.resolve();
  }
  /** Always fails. */
  start(): Promise<void> {
    return Promise.reject(unavailable());
  }
  /** Nothing runs, so nothing to stop. */
  stop(): Promise<void> {
    return Promise.resolve();
  }
  /** Always fails. */
  execute(): Promise<unknown> {
    return Promise.reject(unavailable());
  }
  /** No callbacks can exist. */
  callback(): void {}
  /** Nothing to kill. */
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
