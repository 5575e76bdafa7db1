/**
 * Makes a spawn the profile forbids fail clearly through every `node:child_process` function.
 *
 * Deno 2.9 reports a refused program as `NotCapable` from `spawn`, `execFile` and `exec`, but
 * `execFileSync`/`execSync` throw a bare "Command failed: <program>" and `spawnSync` returns as
 * if the program had run. These three are wrapped to ask Deno first and throw (or, for
 * `spawnSync`, return in `error`, as Node does) a `NotCapable` naming the program, which the
 * runtime answers with 34 naming the profile.
 */

import { createRequire } from "node:module";

type AnyFunction = (...args: unknown[]) => unknown;

/** The program a sync spawn function starts: the file, or the shell for `execSync`. */
function programOf(name: string, args: unknown[]): string | null {
  if (name === "execSync") {
    const options = args[1] as { shell?: unknown } | undefined;
    return typeof options?.shell === "string" ? options.shell : "/bin/sh";
  }
  return typeof args[0] === "string" ? args[0] : null;
}

/** The NotCapable Deno would raise for `program`, or null when the profile may run it. */
function refusal(program: string): Deno.errors.NotCapable | null {
  if (Deno.permissions.querySync({ name: "run", command: program }).state === "granted") {
    return null;
  }
  return new Deno.errors.NotCapable(
    `Requires run access to "${program}", run again with the --allow-run flag`,
  );
}

/** Wraps `execFileSync`, `execSync` and `spawnSync` of `node:child_process`; call before the package loads. */
export function installSpawnCheck(): void {
  const require = createRequire(import.meta.url);
  const cp = require("node:child_process") as Record<string, AnyFunction>;
  for (const name of ["execFileSync", "execSync", "spawnSync"]) {
    const original = cp[name];
    cp[name] = function (this: unknown, ...args: unknown[]) {
      const program = programOf(name, args);
      const error = program === null ? null : refusal(program);
      if (error === null) return original.apply(this, args);
      if (name !== "spawnSync") throw error;
      return {
        pid: 0,
        output: [null, null, null],
        stdout: null,
        stderr: null,
        status: null,
        signal: null,
        error,
      };
    };
  }
}
