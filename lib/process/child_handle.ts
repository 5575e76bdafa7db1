/**
 * What the process layer needs of a child, so the package host, main and procedure children can
 * be driven by `Child` (a real `deno run` subprocess) or by a fake in unit tests.
 */

import type { ChildRole, RunParams } from "../protocol/channel.ts";

/** One child process as the layers above the launcher see it. */
export interface ChildHandle {
  /** A short name for logs: `run#3`. */
  readonly name: string;
  /** What the child is for: `init`, `main` or a procedure (`getInput`, `run`, `backup`, `sandbox`). */
  readonly role: ChildRole;
  /** When the child was spawned (ms since the epoch). */
  readonly spawnedAt: number;
  /** Resolves when the child is ready for calls; rejects with its load error or when it dies first. */
  readonly ready: Promise<void>;
  /** Resolves with the exit status once the process has exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** True once the process has exited. */
  readonly hasExited: boolean;
  /** Last lines the child printed, for error reports. */
  readonly recentOutput: readonly string[];
  /**
   * Runs a package function; rejects with the package's error or when the child dies.
   * @param params which function, the call's event id and its arguments
   * @returns the function's JSON result
   */
  run(params: RunParams): Promise<unknown>;
  /**
   * Resolves once the child says it holds nothing that could run package code again (the
   * package host after init; see `IDLE` in protocol/channel.ts); never resolves otherwise.
   */
  whenIdle(): Promise<void>;
  /** Asks the child to stop on its own (main: leave its context, `term()` its daemons, exit). */
  terminate(): void;
  /** Kills the child with everything it spawned; resolves when all of it is gone. */
  kill(): Promise<void>;
}
