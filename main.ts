/** CLI entry point: flags/env → config → serve the host until exit or a signal. */

import { parseArgs, USAGE } from "./lib/cli/config.ts";
import { ErrorKind } from "./lib/protocol/error_codes.ts";
import { createLogger } from "./lib/log.ts";
import type { Policy } from "./lib/policy/policy.ts";
import { ListenError, UnixServer } from "./lib/jsonrpc/unix_server.ts";
import type { Service } from "./lib/service/service.ts";
import { DEFAULT_HEAP_TRIM, HeapTrimmer, takeCollector } from "./lib/memory/heap_trim.ts";
import { realClock } from "./lib/process/clock.ts";

/** The collector V8 exposes to this process (the start flags), for heap trims when quiet. */
const collect = takeCollector();

async function main(): Promise<number> {
  // Listen for signals first, so a SIGTERM during startup is an orderly exit too.
  const signalled = new Promise<string>((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
  });
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

  // A policy file is read and validated before listening: its mistakes are startup errors.
  let policy: Policy | null = null;
  if (config.policy !== null) {
    const { loadPolicy } = await import("./lib/policy/policy_file.ts");
    const { PolicyError, policyWarnings } = await import("./lib/policy/policy.ts");
    try {
      const packageDir = config.package.slice(0, config.package.lastIndexOf("/")) || "/";
      policy = await loadPolicy(config.policy, { package: packageDir, root: config.root });
      for (const warning of policyWarnings(policy)) log.warn(warning);
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      console.error(`error: ${error.message}`);
      return 2;
    }
  }

  const trimmer = collect === null ? null : new HeapTrimmer({
    ...DEFAULT_HEAP_TRIM,
    clock: realClock,
    collect,
    heapBytes: () => Deno.memoryUsage().heapTotal,
  });

  // Accept connections first and load the rest meanwhile: early requests wait for it.
  let startLoading!: () => void;
  const service: Promise<Service> = new Promise<void>((resolve) => startLoading = resolve)
    .then(() => import("./lib/service/service.ts"))
    .then((m) => m.startService(config, policy, log));
  let ready: Service | undefined; // set as soon as it loaded: later messages skip the promise
  let server: UnixServer;
  try {
    server = await UnixServer.listen({
      path: config.socket,
      log,
      peer: {
        onRequest: (method, params, context) => {
          // The host is active: a heap trim waits for a quiet spell (a flag, no timer per line).
          trimmer?.touch();
          return ready
            ? ready.runtime.handleRequest(method, params, context)
            : service.then((s) => s.runtime.handleRequest(method, params, context));
        },
        onNotification: (method, params) => {
          trimmer?.touch();
          if (ready) ready.runtime.handleNotification(method, params);
          else service.then((s) => s.runtime.handleNotification(method, params));
        },
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
  startLoading();
  service.then((s) => ready = s, () => {});
  console.error(`listening on ${server.path}`);

  let running: Service;
  try {
    running = await service;
  } catch (error) {
    console.error(`error: the runtime could not start: ${error}`);
    await server.close();
    return 1;
  }
  trimmer?.start();
  const reason = await Promise.race([signalled, running.runtime.exitRequested.then(() => "exit")]);
  log.info("shutting down", { reason });
  trimmer?.stop();
  await running.shutdown();
  await server.close();
  return 0;
}

Deno.exit(await main());
