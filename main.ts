/** CLI entry point: flags/env → config → serve the host until exit or a signal. */

import { resolveDeno, resolveDenoDir, resolveWorkerEntry } from "./lib/child_binary.ts";
import { parseArgs, USAGE } from "./lib/config.ts";
import { EffectsBroker } from "./lib/effects/broker.ts";
import { HostClient } from "./lib/effects/host_client.ts";
import { ErrorKind } from "./lib/error_codes.ts";
import { parseTarget } from "./lib/exver.ts";
import { createLogger } from "./lib/log.ts";
import { defaultPolicy, type Policy, PolicyError } from "./lib/policy.ts";
import { ProcessSystem } from "./lib/process_system.ts";
import { Runtime } from "./lib/runtime.ts";
import { ListenError, UnixServer } from "./lib/server.ts";
import { Supervisor } from "./lib/supervisor.ts";

function checkTarget(target: string): string | null {
  try {
    parseTarget(target);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

async function main(): Promise<number> {
  // Listen for signals first, so a SIGTERM during startup is an orderly exit too.
  const signalled = new Promise<string>((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
  });
  const env = (name: string) => Deno.env.get(name);
  const parsed = parseArgs(Deno.args, env, Deno.cwd());
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

  let policy: Policy;
  try {
    const vars = {
      package: config.package.slice(0, config.package.lastIndexOf("/")) || "/",
      root: config.root,
    };
    policy = config.policy === null
      ? defaultPolicy(vars)
      : await (await import("./lib/policy_file.ts")).loadPolicy(config.policy, vars);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }

  const host = new HostClient({ path: config.hostSocket, log, timeoutMs: config.effectTimeoutMs });
  const broker = new EffectsBroker(host, log);
  const supervisor = await Supervisor.create({
    log,
    denoPath: resolveDeno(env),
    workerEntry: resolveWorkerEntry(env),
    packagePath: config.package,
    env: { ...Deno.env.toObject(), DENO_DIR: resolveDenoDir(env) },
    onEffect: (child, call) => broker.handle(child, call),
    onDropCallbacks: (child, ids) => broker.dropCallbacks(child, ids),
    onExit: (child) => broker.childExited(child),
  });
  const system = new ProcessSystem({
    supervisor,
    broker,
    policy,
    log,
    stopTimeoutMs: config.stopTimeoutMs,
  });
  const runtime = new Runtime({ system, log, dev: config.dev, checkTarget });

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
    await supervisor.shutdown();
    const message = error instanceof ListenError
      ? error.message
      : `cannot listen on ${config.socket}: ${error}`;
    console.error(`error: ${message}`);
    return 1;
  }
  console.error(`listening on ${server.path}`);

  const reason = await Promise.race([signalled, runtime.exitRequested.then(() => "exit")]);
  log.info("shutting down", { reason });
  runtime.beginShutdown();
  await system.shutdown();
  host.close();
  await server.close();
  return 0;
}

Deno.exit(await main());
