/**
 * Child process entry: connects to the runtime's channel, loads the package,
 * says hello and runs the package functions the runtime asks for.
 *
 * argv: <channel socket> <profile> <package path>; stdin: the one-time token, one line (never
 * in argv or the environment, where other processes could read it).
 */

import { createRequire } from "node:module";
import { ErrorKind } from "../protocol/error_codes.ts";
import { RpcError } from "../jsonrpc/errors.ts";
import { Peer } from "../jsonrpc/peer.ts";
import { parseTarget } from "../exver/exver.ts";
import { CallbackRegistry } from "./callbacks.ts";
import {
  CALLBACK,
  type CallbackParams,
  DENIED,
  DROP_CALLBACKS,
  EFFECT,
  HELLO,
  IDLE,
  type IdleResult,
  PING,
  PROC_NET,
  RUN,
  type RunParams,
  SPAWN,
  SPAWN_EXIT,
  SPAWN_OUTPUT,
  type SpawnExitParams,
  type SpawnOutputParams,
  TERMINATE,
  WARM,
} from "../protocol/channel.ts";
import { installCompat, installConnectErrors } from "./compat.ts";
import { installBrokeredSpawn, type SpawnEvents } from "./brokered_spawn.ts";
import { beginCall, endCall, firstDenial, installDenialWatch, recordDenial } from "./denials.ts";
import { createEffects, leaveContext, type WorkerEffects } from "./effects.ts";
import { toWireError } from "./errors.ts";
import { unknownChannelMethod } from "../protocol/errors.ts";
import { loadPackage, packageFunction, type PackageModule } from "./load_package.ts";
import { IdleWatch } from "./idle.ts";
import { FileWatches } from "./file_watches.ts";
import { PackageTimers } from "./package_timers.ts";
import { PollReads } from "./poll_reads.ts";
import { TickObservation } from "./tick_observation.ts";
import type { Latin1Hint } from "../memory/latin1_source.ts";
import { DEFAULT_HEAP_TRIM, HeapTrimmer, takeCollector } from "../memory/heap_trim.ts";
import { realClock } from "../process/clock.ts";

// First of all, before package code can see it: the collector V8 exposed for heap trims.
const collect = takeCollector();

const [socket, profile, packagePath] = Deno.args;

/**
 * What the runtime writes to stdin, then closes: the one-time token, a line, and the package's
 * Latin-1 hint (memory/latin1_source.ts), a JSON line; a hint of any other shape is ignored (the
 * child loads the source as it is).
 */
async function readStdin(): Promise<{ token: string; latin1: Latin1Hint | null }> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(65536);
  let text = "";
  for (;;) {
    const read = await Deno.stdin.read(buffer);
    if (read === null) break;
    text += decoder.decode(buffer.subarray(0, read), { stream: true });
  }
  const [token, hintLine] = text.split("\n");
  let hint: unknown = null;
  try {
    hint = JSON.parse(hintLine ?? "null");
  } catch {
    hint = null;
  }
  return { token, latin1: isLatin1Hint(hint) ? hint : null };
}

function isLatin1Hint(value: unknown): value is Latin1Hint {
  if (typeof value !== "object" || value === null) return false;
  const { sha256, edits } = value as Record<string, unknown>;
  return typeof sha256 === "string" && Array.isArray(edits) &&
    edits.every((edit) =>
      Array.isArray(edit) && edit.length === 2 && edit.every((n) => Number.isInteger(n))
    );
}
const { token, latin1 } = await readStdin();

const conn = await Deno.connect({ transport: "unix", path: socket });
// No grant outlives its use: the channel is connected, so nothing in this child may touch its
// path again (a later file or socket bound there cannot be reached through the grant).
for (
  const descriptor of [
    { name: "read", path: socket },
    { name: "write", path: socket },
    { name: "net", host: `unix:${socket}` },
  ] as const
) {
  await Deno.permissions.revoke(descriptor);
}

let module: PackageModule | undefined;
let loadError: ReturnType<typeof toWireError> | undefined;
/** Resolves once the runtime accepted this child's hello: channel requests may follow it only. */
let helloAccepted!: () => void;
const accepted = new Promise<void>((resolve) => helloAccepted = resolve);

const callbacks = new CallbackRegistry(undefined, () => idleWatch.check());
/** What this child holds besides what it watches, for the runtime's `idle` request (idle.ts). */
const held = { requests: 0, processes: 0, calls: 0 };
/** Package code's `fs/promises.watch` watches (what the `idle` answer lists with the callbacks). */
const fileWatches = new FileWatches();
/** Package code's timers, which the idle look may find only polling (tick_observation.ts). */
const timers = new PackageTimers({
  created: (timer) => idleWatch.timerCreated(timer),
  fired: (timer) => idleWatch.timerFired(timer),
});
/** What a timer's tick does with files, while the idle look records it. */
const tickReads = new PollReads();
const idleWatch = new IdleWatch(
  [conn, fileWatches, timers],
  () => held,
  globalThis,
  new TickObservation(timers, tickReads, {
    clock: realClock,
    onHeld: (why) => {
      // For the packager reading the log: the runtime only sees that no answer comes.
      Deno.stderr.writeSync(
        new TextEncoder().encode(`the package host is kept while its timers work: ${why}\n`),
      );
    },
  }),
);
/** Gives the heap's empty pages back once the child is quiet (see heap_trim.ts). */
const trimmer = collect === null ? null : new HeapTrimmer({
  ...DEFAULT_HEAP_TRIM,
  clock: realClock,
  collect,
  heapBytes: () => Deno.memoryUsage().heapTotal,
});
/** Counts `work` as held (`requests` or `calls`) until it settles. */
function holding<T>(kind: "requests" | "calls", work: Promise<T>): Promise<T> {
  held[kind]++;
  if (kind === "calls") trimmer?.begin();
  idleWatch.check();
  return work.finally(() => {
    held[kind]--;
    if (kind === "calls") trimmer?.end();
    idleWatch.check();
  });
}
/** Callback notifications received (the idle answer says how many: see `IdleResult`). */
let callbacksSeen = 0;
/** Daemons of main, kept to be terminated on SIGTERM. */
let mainDaemons: { term(): Promise<unknown> } | undefined;
let mainEffects: WorkerEffects | undefined;

const peer = new Peer(conn, {
  onRequest: (method, params) => {
    if (method === WARM) return holding("calls", warm());
    if (method === IDLE) {
      return idleWatch.whenIdle().then(({ polls, droppedTimers }): IdleResult => ({
        callbacks: callbacks.size,
        watches: fileWatches.list(),
        polls,
        droppedTimers,
        callbacksSeen,
      }));
    }
    if (method !== RUN) throw unknownChannelMethod(method);
    return holding("calls", serveRun(params as RunParams));
  },
  onNotification: (method, params) => {
    if (method === CALLBACK) {
      const { id, args } = params as CallbackParams;
      callbacksSeen++;
      idleWatch.callbackArrived();
      callbacks.fire(id, args);
    } else if (method === TERMINATE) {
      terminate();
    } else if (method === SPAWN_OUTPUT) {
      spawnEvents.output(params as SpawnOutputParams);
    } else if (method === SPAWN_EXIT) {
      spawnEvents.exit(params as SpawnExitParams);
      held.processes--;
      idleWatch.check();
    }
  },
  unexpectedErrorCode: ErrorKind.Javascript,
});
// A child whose runtime is gone has nothing left to do.
peer.closed.then(() => Deno.exit(0));

// Before the package loads: see every permission denial from now on, including those package code
// catches (denials.ts says what they do to a call; the runtime logs them).
const watching = installDenialWatch({
  profile,
  report: (report) => void accepted.then(() => peer.notify(DENIED, report)),
});
if (!watching) {
  console.error(
    "warning: this Deno raises permission errors in a way the denial watch does not see: " +
      "denials package code catches go unnoticed",
  );
}
// Serve the SDK's operations on reserved paths, and refuse forbidden spawns with a NotCapable
// naming the program where Deno's sync spawns would hide it.
installConnectErrors();
installCompat({
  procNet: (file) =>
    accepted.then(() => holding("requests", peer.request(PROC_NET, { file }))).catch((error) => {
      if (error instanceof RpcError && error.code === ErrorKind.Authorization) {
        const details = (error.data as { details?: unknown } | undefined)?.details;
        const denial = new Deno.errors.NotCapable(
          `Requires read access to "/proc/net/${file}" (the runtime refused: ${
            typeof details === "string" ? details : error.message
          })`,
        );
        recordDenial(denial, { permission: "read", target: `/proc/net/${file}` });
      }
      throw error;
    }) as Promise<string>,
}, fileWatches);
// Timers and what their ticks do with files, seen from here on, in the package host alone (the
// only child asked `idle`; the others run the package unwrapped). The runtime's own timers here
// (the heap trim's) are unref'd, which the idle look leaves alone.
if (profile === "init") {
  const require = createRequire(import.meta.url);
  const fs = require("node:fs");
  timers.install(globalThis, require("node:timers"));
  tickReads.install([fs, require("node:fs/promises")], console, [
    { on: globalThis, names: ["fetch"] },
    // Node's callback watches, which the idle answer cannot list (`fs/promises.watch` it lists).
    { on: fs, names: ["watch", "watchFile"] },
    { on: require("node:net").Socket.prototype, names: ["connect"] },
    { on: require("node:http"), names: ["request", "get"] },
    { on: require("node:https"), names: ["request", "get"] },
    { on: require("node:dgram"), names: ["createSocket"] },
  ]);
}
// No program is granted: start-container, mount, rsync and the file utilities (also as `sh -c`)
// are run by the runtime on request.
const spawnEvents: SpawnEvents = installBrokeredSpawn({
  request: (method, params) =>
    accepted.then(() =>
      holding(
        "requests",
        peer.request(method, params).then((result) => {
          // Started: running until its spawn-exit notification (counted before the request ends).
          if (method === SPAWN) held.processes++;
          return result;
        }),
      )
    ),
  notify: (method, params) => peer.notify(method, params),
});
try {
  module = await loadPackage(packagePath, latin1);
} catch (error) {
  loadError = toWireError(error, profile);
}
// Loading left the most garbage a child ever makes: the first trim follows once it is quiet.
trimmer?.start();

/**
 * A failure after a permission denial in the same call (one package code may have caught) is
 * answered as that denial: the call went wrong because of it.
 */
function withDenial(error: unknown): unknown {
  const denial = firstDenial();
  if (denial === undefined || !(error instanceof Error) || error instanceof RpcError) {
    return error;
  }
  if (error === denial || error.name === "NotCapable" || error.cause !== undefined) return error;
  return new Error(error.message, { cause: denial });
}

/**
 * Runs one call under the denial watch: the same denial met too often fails it at once, and a
 * strict profile's call that met one is answered 34 (see denials.ts).
 */
async function serveRun(params: RunParams): Promise<unknown> {
  const tooMany = beginCall(params.fn, params.eventId);
  let result: unknown;
  try {
    result = await Promise.race([run(params), tooMany]);
  } catch (error) {
    const wire = toWireError(withDenial(error), profile);
    endCall("failed");
    throw new RpcError(wire.code, wire.message, wire.data as never);
  }
  const refused = endCall("answered");
  if (refused) throw new RpcError(refused.code, refused.message, refused.data as never);
  return result;
}

const transport = {
  async call(
    method: string,
    params: Record<string, unknown>,
    callback: number | null,
    eventId: string | null = null,
  ) {
    try {
      return await holding("requests", peer.request(EFFECT, { method, params, callback, eventId }));
    } catch (error) {
      if (!(error instanceof RpcError)) throw error;
      // A refused effect is a denial too, whether or not package code catches it.
      if (error.code === ErrorKind.Authorization) {
        const details = (error.data as { details?: unknown } | undefined)?.details;
        const denial = new Deno.errors.NotCapable(
          typeof details === "string" ? details : `${method}: ${error.message}`,
        );
        recordDenial(denial, { permission: "effect", target: method });
      }
      throw error;
    }
  },
  dropCallbacks(ids: number[]) {
    peer.notify(DROP_CALLBACKS, { ids });
  },
};

function effectsFor(eventId: string | null, constRetry?: () => void): WorkerEffects {
  return createEffects({
    transport,
    callbacks,
    eventId,
    constRetry,
    onError: (error) => console.error("callback failed:", error),
  });
}

/** Runs the code paths of a call once (effects object, error mapping) so the first real call is warm. */
async function warm(): Promise<null> {
  leaveContext(effectsFor("warm-up"));
  toWireError(new Error("warm-up"), profile);
  // The effect path in this direction: request, answer, settle.
  await peer.request(PING, {});
  return null;
}

function action(id: string): Record<string, unknown> {
  const actions = module!.actions as { get?: (id: string) => unknown } | undefined;
  if (typeof actions?.get !== "function") {
    throw new RpcError(
      ErrorKind.Javascript,
      `package ${packagePath} does not export actions.get()`,
    );
  }
  const found = actions.get(id);
  if (!found) throw new RpcError(ErrorKind.NotFound, `action ${id} not found`);
  return found as Record<string, unknown>;
}

function actionMethod(id: string, name: "getInput" | "run") {
  const method = action(id)[name];
  if (typeof method !== "function") {
    throw new RpcError(ErrorKind.Javascript, `action ${id} has no ${name}() function`);
  }
  return method as (options: Record<string, unknown>) => unknown;
}

async function run({ fn, eventId, args }: RunParams): Promise<unknown> {
  if (!module) throw new RpcError(ErrorKind.Javascript, "the package is not loaded");
  switch (fn) {
    case "init": {
      const effects = effectsFor(eventId);
      if (args.replay === true) {
        // A replay (the runtime watched for the retired host) is no install the host shows the
        // progress of: as start-sdk's own re-runs, its progress goes nowhere.
        (effects as unknown as Record<string, unknown>).setInitProgress = () =>
          Promise.resolve(null);
      }
      return await packageFunction(module, "init", packagePath)({
        effects,
        kind: args.kind ?? null,
      });
    }
    case "uninit": {
      const effects = effectsFor(eventId);
      const target = parseTarget((args.target as string | null) ?? null);
      return await packageFunction(module, "uninit", packagePath)({ effects, target });
    }
    case "main": {
      mainEffects = effectsFor(null, () => {
        transport.call("restart", {}, null).catch((error) =>
          console.error("restart failed:", error)
        );
      });
      const buildable = await packageFunction(module, "main", packagePath)({
        effects: mainEffects,
      });
      const build = (buildable as { build?: () => Promise<unknown> } | null)?.build;
      if (typeof build !== "function") {
        throw new RpcError(ErrorKind.Javascript, `main() of ${packagePath} returned no build()`);
      }
      mainDaemons = await build.call(buildable) as { term(): Promise<unknown> };
      return null;
    }
    case "getInput":
    case "run": {
      const effects = effectsFor(eventId);
      try {
        const target = action(args.actionId as string);
        const method = actionMethod(args.actionId as string, fn);
        if (fn === "getInput") {
          return await method.call(target, { effects, prefill: args.prefill ?? null });
        }
        // The SDK's run() validates its input against the spec its getInput() computed for the
        // same eventId, kept in memory; the host ran that getInput in another child, so compute
        // it again here first. Its failure is the run's to report, not this step's.
        if (typeof target.getInput === "function") {
          try {
            await (target.getInput as (o: Record<string, unknown>) => unknown).call(target, {
              effects,
              prefill: null,
            });
          } catch (error) {
            console.error(`getInput before run failed: ${error}`);
          }
        }
        return await method.call(target, { effects, input: args.input ?? null });
      } finally {
        leaveContext(effects);
      }
    }
    case "createBackup": {
      const effects = effectsFor(eventId);
      try {
        return await packageFunction(module, "createBackup", packagePath)({ effects });
      } finally {
        leaveContext(effects);
      }
    }
  }
}

/** Stops on request: leave main's context (daemons registered there terminate), term() them, exit. */
let terminating: Promise<never> | undefined;
function terminate(): Promise<never> {
  terminating ??= (async () => {
    try {
      if (mainEffects) leaveContext(mainEffects);
      await mainDaemons?.term();
    } catch (error) {
      console.error("term failed:", error);
    }
    Deno.exit(0);
  })();
  return terminating;
}
// The runtime asks over the channel (a PID namespace's init does not pass its signals on);
// SIGTERM still works where a child runs without one.
Deno.addSignalListener("SIGTERM", terminate);

await peer.request(HELLO, { token, ...(loadError ? { loadError } : {}) });
helloAccepted();
