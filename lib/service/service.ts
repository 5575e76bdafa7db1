/**
 * Everything behind the socket: host client, effects broker, child launcher, spawn broker,
 * process system and the method handlers. main.ts loads this module after it
 * listens, so the socket accepts connections while it loads (requests wait).
 */

import { resolveDeno, resolveDenoDir, resolveWorkerEntry } from "../process/child_binary.ts";
import type { Config } from "../cli/config.ts";
import { EFFECT_RATE, EffectsBroker } from "../effects/broker.ts";
import { SubcontainerLedger } from "../effects/subcontainer_ledger.ts";
import { programDirsFrom, SpawnBroker } from "../process/spawn_broker.ts";
import { HostClient } from "../effects/host_client.ts";
import { parseTarget } from "../exver/exver.ts";
import type { Logger } from "../log.ts";
import { warmUpParams } from "../protocol/params.ts";
import { defaultPolicy, type Policy, withOwnAddresses } from "../policy/policy.ts";
import { readContainerAddresses } from "../process/container_addresses.ts";
import { ProcessSystem } from "../process/process_system.ts";
import { Runtime } from "./runtime.ts";
import { probeContainment } from "../process/spawn.ts";
import { ChildLauncher } from "../process/child_launcher.ts";
import { Child } from "../process/child.ts";
import { pollFiles, watchFiles } from "../process/host_watch.ts";
import { realClock } from "../process/clock.ts";

/** The running service: the method handlers and how to stop everything. */
export interface Service {
  /** The method handlers behind the socket. */
  runtime: Runtime;
  /** Stops main gracefully, kills every other child and closes the host connection. */
  shutdown(): Promise<void>;
}

function checkTarget(target: string): string | null {
  try {
    parseTarget(target);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Builds the service; `policy` is null when no policy file was given (the defaults apply). */
export async function startService(
  config: Config,
  policy: Policy | null,
  log: Logger,
): Promise<Service> {
  const env = (name: string) => Deno.env.get(name);
  const packageDir = config.package.slice(0, config.package.lastIndexOf("/")) || "/";
  // `${container}` in a profile's net list: the container's own addresses, read once here.
  const addresses = await readContainerAddresses();
  const effective = withOwnAddresses(
    policy ?? defaultPolicy({ package: packageDir, root: config.root }),
    addresses,
  );
  log.debug("the container's own addresses", { addresses: addresses.join(" ") || "none" });
  const host = new HostClient({ path: config.hostSocket, log, timeoutMs: config.effectTimeoutMs });
  const subcontainers = new SubcontainerLedger();
  const broker = new EffectsBroker(host, log, EFFECT_RATE, subcontainers);
  const containment = await probeContainment();
  if (containment.mode === "pid-namespace") {
    log.warn(
      "children cannot get a mount namespace each; the mounts the spawn broker makes for a " +
        "child are made in the container's namespace",
      { reason: containment.why },
    );
  } else if (containment.mode === "process-group") {
    log.warn(
      "children cannot get a PID namespace each; falling back to process groups: a process a " +
        "child starts that leaves its group (setsid) survives the child's teardown",
      { reason: containment.why },
    );
  }
  if (containment.mode !== "process-group" && !containment.canJoin) {
    log.warn(
      "the runtime cannot join its children's namespaces: the programs it runs for them run in " +
        "process groups of their own, and their mounts are made in the container's namespace",
      { reason: containment.why },
    );
  }
  const spawnBroker = new SpawnBroker({
    canJoin: containment.canJoin,
    log,
    root: config.root,
    containment: containment.mode,
    programDirs: programDirsFrom(env("STARTOS_PROGRAM_DIRS")),
    subcontainers,
    env: Deno.env.toObject(),
  });
  const launcher = await ChildLauncher.create({
    containment: containment.mode,
    spawnBroker,
    helloDeadlineMs: config.loadTimeoutMs,
    log,
    denoPath: resolveDeno(env),
    workerEntry: resolveWorkerEntry(env),
    packagePath: config.package,
    env: { ...Deno.env.toObject(), DENO_DIR: resolveDenoDir(env) },
    admit: (child, what) => broker.admit(child, what),
    onEffect: (child, call) => broker.handle(child, call),
    onDropCallbacks: (child, ids) => broker.dropCallbacks(child, ids),
    onExit: (child) => broker.childExited(child),
  });
  const system = new ProcessSystem({
    spawn: (profile) => launcher.spawn(profile, effective.profiles[profile]),
    reportMainStopped: () => broker.reportMainStopped(),
    deliverCallback: (id, args) => broker.deliver(id, args),
    watchFor: (child, held, changed) => {
      if (!(child instanceof Child)) return "not a child of the launcher";
      const files = watchFiles(held.watches, effective.profiles.init.read, changed);
      if (typeof files === "string") return files;
      const polled = pollFiles(held.polls, effective.profiles.init.read, changed, realClock);
      if (typeof polled === "string") {
        files.release();
        return polled;
      }
      const callbacks = broker.adopt(child, changed);
      return {
        release: () => {
          files.release();
          polled.release();
          callbacks.release();
        },
      };
    },
    killAll: () => launcher.shutdown(),
    policy: effective,
    log,
    stopTimeoutMs: config.stopTimeoutMs,
  });
  const runtime = new Runtime({ system, log, dev: config.dev, checkTarget });
  warmUpParams();
  return {
    runtime,
    shutdown: async () => {
      runtime.beginShutdown();
      // Like exit without uninit: main gets SIGTERM and its stop timeout first.
      await system.stop(false);
      await system.shutdown();
      host.close();
    },
  };
}
