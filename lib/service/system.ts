/** The narrow interface through which the runtime reaches package code. */

import type { Procedure } from "../protocol/procedures.ts";

/** Why `init` runs. */
export type InitKind = "install" | "update" | "restore" | null;

/** One `execute` or `sandbox` call, validated. */
export interface ExecuteRequest {
  /** The procedure id the host gave (`eventId` of the effects it causes). */
  eventId: string;
  /** What to run (from the procedure path). */
  procedure: Procedure;
  /** Input shaped per procedure: `{prefill}`, `{input}` or `null`. */
  input: unknown;
  /** Milliseconds before the procedure is killed; null for none. */
  timeoutMs: number | null;
  /** True for `sandbox`: the narrowest profile, read-only effects. */
  sandbox: boolean;
}

/** Runs package code on behalf of the runtime's method handlers. */
export interface System {
  /** Loads the package and runs its `init`. */
  init(request: { eventId: string; kind: InitKind }): Promise<void>;
  /**
   * Stops main and, when `uninit` is set (init succeeded), runs the package's `uninit` with the
   * target (an ExVer string or null).
   */
  exit(request: { eventId: string; target: string | null; uninit: boolean }): Promise<void>;
  /** Starts main unless it is running or starting. */
  start(): Promise<void>;
  /** Stops main; resolves when every process of it is gone. */
  stop(): Promise<void>;
  /** Runs one procedure and resolves with its JSON result. */
  execute(request: ExecuteRequest): Promise<unknown>;
  /** Delivers a `callback` notification from the host. */
  callback(id: number, args: unknown[]): void;
  /** Kills every child; no package code runs after it resolves. */
  shutdown(): Promise<void>;
}
