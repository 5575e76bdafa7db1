/** CLI entry point: flags/env → config → serve the host until exit or a signal. */

import { parseArgs, USAGE } from "./lib/config.ts";
import { ErrorKind } from "./lib/error_codes.ts";
import { createLogger } from "./lib/log.ts";
import { Runtime } from "./lib/runtime.ts";
import { ListenError, UnixServer } from "./lib/server.ts";
import { UnavailableSystem } from "./lib/unavailable_system.ts";

async function main(): Promise<number> {
  const parsed = parseArgs(Deno.args, (name) => Deno.env.get(name), Deno.cwd());
  if (parsed.kind === "help") {
    console.log(USAGE);
    return 0;
  }
  if (parsed.kind === "error") {
    console.error(`error: ${parsed.message}\n\n${USAGE}`);
    return 2;
  }
  const config = parsed.config;
  const log = createLogger({ format: config.logFormat, level: config.logLevel });
  const system = new UnavailableSystem();
  const runtime = new Runtime({ system, log, dev: config.dev });

  let server: UnixServer;
  try {
    server = await UnixServer.listen({
      path: config.socket,
      log,
      peer: {
        onRequest: runtime.handleRequest,
        onNotification: runtime.handleNotification,
        onNote: (note) => log.debug(note),
        maxLineBytes: config.maxLineBytes,
        unexpectedErrorCode: ErrorKind.Unknown,
      },
    });
  } catch (error) {
    const message = error instanceof ListenError
      ? error.message
      : `cannot listen on ${config.socket}: ${error}`;
    console.error(`error: ${message}`);
    return 1;
  }
  console.error(`listening on ${server.path}`);

  const signalled = new Promise<string>((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
  });
  const reason = await Promise.race([signalled, runtime.exitRequested.then(() => "exit")]);
  log.info("shutting down", { reason });
  runtime.beginShutdown();
  await system.shutdown();
  await server.close();
  return 0;
}

Deno.exit(await main());
