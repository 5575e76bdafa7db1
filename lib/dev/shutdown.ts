/** How the dev session ends: Ctrl-C/SIGTERM, and stopping the runtime as StartOS stops a container. */

import type { Logger } from "../log.ts";
import { RuntimeLink } from "./runtime_link.ts";
import type { RuntimeProcess } from "./runtime_process.ts";

/** How long the runtime gets to stop after SIGTERM before it is killed. */
const RUNTIME_STOP_MS = 15_000;
/** Signals within this long of the first are the same Ctrl-C (deno task forwards it too). */
const SAME_SIGNAL_MS = 1000;

/** Resolves with the first SIGINT/SIGTERM this process gets, and with a later, second one. */
export function signals(): { first: Promise<Deno.Signal>; second: Promise<Deno.Signal> } {
  const resolvers: ((signal: Deno.Signal) => void)[] = [];
  const first = new Promise<Deno.Signal>((resolve) => resolvers.push(resolve));
  const second = new Promise<Deno.Signal>((resolve) => resolvers.push(resolve));
  let firstAt = 0;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      if (firstAt !== 0 && Date.now() - firstAt < SAME_SIGNAL_MS) return;
      firstAt ||= Date.now();
      resolvers.shift()?.(signal);
    });
  }
  return { first, second };
}

/**
 * Stops the runtime as StartOS stops a container: `stop` first, so main's daemons get `term()`,
 * then SIGTERM (SIGKILL after a grace period). A second Ctrl-C (`hurry`) skips waiting for `stop`.
 */
export async function stopRuntime(
  runtime: RuntimeProcess,
  socket: string,
  log: Logger,
  hurry: Promise<unknown>,
): Promise<Deno.CommandStatus> {
  const link = new RuntimeLink(socket, log);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      link.request("stop", {}),
      hurry,
      runtime.status,
      new Promise((resolve) => timer = setTimeout(resolve, RUNTIME_STOP_MS)),
    ]);
  } catch (error) {
    log.debug("stop before shutdown failed", { reason: (error as Error).message });
  } finally {
    clearTimeout(timer);
    link.close();
  }
  try {
    runtime.child.kill("SIGTERM");
  } catch {
    // already gone
  }
  const killTimer = setTimeout(() => {
    try {
      runtime.child.kill("SIGKILL");
    } catch {
      // gone meanwhile
    }
  }, RUNTIME_STOP_MS);
  const status = await runtime.status;
  clearTimeout(killTimer);
  return status;
}
