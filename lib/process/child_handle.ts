/**
 * What the process layer needs of a child, so the package host, main and procedure children can
 * be driven by `Child` (a real `deno run` subprocess) or by a fake in unit tests.
 */

import type { ChildRole, IdleResult, RunParams } from "../protocol/channel.ts";

/** What an idle package host still watches (its `idle` answer), as the runtime saw it arrive. */
export interface IdleHoldings extends IdleResult {
  /**
   * A callback sent to the child had not reached it when it answered: the answer is older than
   * that delivery, which the child may then be reacting to.
   */
  touched: boolean;
}

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
   * Resolves once the child says it holds nothing that could run package code again but what it
   * watches (the package host after init; see `IDLE` in protocol/channel.ts), with what that is;
   * never resolves otherwise.
   */
  whenIdle(): Promise<IdleHoldings>;
  /** Asks the child to stop on its own (main: leave its context, `term()` its daemons, exit). */
  terminate(): void;
  /** Kills the child with everything it spawned; resolves when all of it is gone. */
  kill(): Promise<void>;
}
