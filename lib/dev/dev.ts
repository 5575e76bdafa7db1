/**
 * `deno task dev`: a dev host, the runtime (`main.ts --dev`) and a package, on sockets under a
 * local root (default `.dev/`). The runtime runs in the dev namespace (the root is
 * `/media/startos` there, see `namespace.ts`) with the stand-ins of `standins/` for
 * `start-container` and `mount`. Sends `init`, prints what to try next, and on Ctrl-C (SIGINT)
 * or SIGTERM stops the runtime and the dev host, leaving no process and no socket behind. When the
 * runtime exits by itself (after `exit`), the dev host stops too.
 */

import { createLogger, type Logger } from "../log.ts";
import { ListenError } from "../jsonrpc/unix_server.ts";
import { resolveDenoDir } from "../process/child_binary.ts";
import { denoCommand } from "./deno_command.ts";
import { DEV_USAGE, type DevOptions, parseDevArgs } from "./dev_args.ts";
import { DevHost } from "./dev_host.ts";
import { devRootPaths, prepareRoot } from "./dev_root.ts";
import { probeIsolation } from "./namespace.ts";
import { type PackageManifest, readManifest } from "./package_manifest.ts";
import { RuntimeLink } from "./runtime_link.ts";
import { DEFAULT_SOCKET } from "./rpc_args.ts";
import { planRuntime } from "./runtime_plan.ts";
import { type RuntimeProcess, RuntimeStartError, startRuntime } from "./runtime_process.ts";
import { signals, stopRuntime } from "./shutdown.ts";
import { followStandinLog } from "./standins/follow_log.ts";
import { installStandins } from "./standins/install.ts";
import { emptyState, StateFileError, StateStore } from "./state.ts";
import { Subcontainers } from "./subcontainers.ts";
import { headline, type InitOutcome, shownPath, tryNext } from "./try_next.ts";

/** Lines of an error's `data.debug` (a stack) shown with a failed init. */
const DEBUG_LINES = 6;

async function sendInit(
  socket: string,
  log: Logger,
  store: StateStore,
  retry: string,
): Promise<InitOutcome> {
  const kind = store.state.installed ? null : "install";
  const link = new RuntimeLink(socket, log);
  try {
    await link.request("init", { id: "dev-init", kind });
    log.info("init done", { kind: kind ?? "null" });
    store.state.installed = true;
    await store.save();
    return { kind: "done" };
  } catch (error) {
    const data = (error as { data?: { details?: string; debug?: string } | string }).data;
    const details = typeof data === "string" ? data : data?.details;
    const debug = typeof data === "object" ? data?.debug : undefined;
    const code = (error as { code?: number }).code;
    log.error("init failed", {
      code,
      reason: (error as Error).message,
      details,
      hint: `fix the package, then: ${retry}`,
    });
    if (debug) console.error(debug.split("\n").slice(0, DEBUG_LINES).join("\n"));
    return {
      kind: "failed",
      reason: `error ${code ?? "?"}: ${details ?? (error as Error).message}`,
    };
  } finally {
    link.close();
  }
}

/** Opens the dev host's state for `manifest`'s package, or says why it cannot be used. */
async function openState(path: string, manifest: PackageManifest): Promise<StateStore | string> {
  let store: StateStore;
  try {
    store = await StateStore.open(path, () => emptyState(manifest.id, manifest.raw));
  } catch (error) {
    if (!(error instanceof StateFileError)) throw error;
    return error.message;
  }
  if (store.state.packageId !== manifest.id) {
    return `${shownPath(path)} belongs to package ${store.state.packageId}, not ${manifest.id}; ` +
      "use another --root or delete it";
  }
  store.state.manifest = manifest.raw;
  return store;
}

async function run(options: DevOptions): Promise<number> {
  const log = createLogger({ format: options.logFormat, level: options.logLevel });
  const signalled = signals();
  const paths = devRootPaths(options.root);

  let manifest;
  try {
    manifest = await readManifest(options.package);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
  const images = await prepareRoot(paths, manifest, options.images);
  const isolation = options.namespace
    ? await probeIsolation()
    : { kind: "none" as const, reason: "--no-namespace" };
  const plan = planRuntime({ options, isolation, paths, images, path: Deno.env.get("PATH") ?? "" });
  if ("error" in plan) {
    console.error(`error: ${plan.error}`);
    return 1;
  }
  for (const note of plan.notes) log[note.level](note.message);
  const store = await openState(paths.state, manifest);
  if (typeof store === "string") {
    console.error(`error: ${store}`);
    return 1;
  }
  const env = (name: string) => Deno.env.get(name);
  await installStandins({ ...plan.standins, deno: Deno.execPath(), denoDir: resolveDenoDir(env) });
  const standinLog = log.with({ from: "stand-in" });
  const follower = followStandinLog(paths.standinLog, (event) => {
    const line = `stand-in ${event.program} ${event.what}: ${event.detail}`;
    if (event.what === "refused") standinLog.warn(line);
    else standinLog.info(line);
  });

  const subcontainers = new Subcontainers({
    root: paths.root,
    seenRoot: plan.seenRoot,
    images: new Set(plan.standins.images ? images.flatMap((i) => "rootfs" in i ? [i.id] : []) : []),
    log: log.with({ from: "dev-host" }),
  });
  const leftovers = await subcontainers.removeLeftovers();
  if (leftovers > 0) {
    for (const guid of Object.keys(store.state.subcontainers)) {
      delete store.state.subcontainers[guid];
    }
    await store.save();
    log.info("removed subcontainer filesystems a previous session left", { count: leftovers });
  }

  const socket = `${paths.root}/rpc/service.sock`;
  let host: DevHost;
  try {
    host = await DevHost.listen({
      socket: `${paths.root}/rpc/host.sock`,
      runtimeSocket: socket,
      root: paths.root,
      subcontainers,
      store,
      log: log.with({ from: "dev-host" }),
    });
  } catch (error) {
    await follower.close();
    if (!(error instanceof ListenError)) throw error;
    console.error(
      `error: ${error.message} (is another deno task dev using ${shownPath(paths.root)}?)`,
    );
    return 1;
  }
  log.info("dev host listening", { socket: shownPath(host.socket), package: manifest.id });

  let runtime: RuntimeProcess;
  try {
    runtime = await startRuntime({
      args: plan.args,
      env: plan.env,
      wrap: plan.wrap,
      onLine: (line) => console.error(line),
    });
  } catch (error) {
    await host.close();
    await follower.close();
    if (!(error instanceof RuntimeStartError)) throw error;
    console.error(`error: ${error.message}`);
    return 1;
  }
  if (plan.namespace) subcontainers.attach({ pid: runtime.child.pid, user: plan.namespace.user });

  const deno = denoCommand();
  const socketFlag = shownPath(socket) === DEFAULT_SOCKET ? "" : ` --socket ${shownPath(socket)}`;
  const work = (async () => {
    const init: InitOutcome = options.init
      ? await sendInit(socket, log, store, `${deno} task rpc${socketFlag} init`)
      : { kind: "not-sent" };
    const text = tryNext(store, { socket, deno, init });
    console.log(`\n${headline(manifest.id, paths.root, init)}\n${text}\n`);
  })();
  const ended = await Promise.race([
    signalled.first.then((signal) => ({ signal })),
    runtime.status.then((status) => ({ status })),
  ]);
  let code = 0;
  if ("signal" in ended) {
    log.info("stopping", { signal: ended.signal });
    await stopRuntime(runtime, socket, log, signalled.second);
  } else {
    code = ended.status.code;
    log.info("the runtime exited; stopping the dev host", { code });
  }
  subcontainers.attach(null);
  await work.catch(() => {});
  await host.close();
  await follower.close();
  return code;
}

async function main(): Promise<number> {
  const parsed = parseDevArgs(Deno.args, Deno.env.get("INIT_CWD") || Deno.cwd());
  if (parsed.kind === "help") {
    console.log(DEV_USAGE);
    return 0;
  }
  if (parsed.kind === "error") {
    console.error(`error: ${parsed.message}\n\n${DEV_USAGE}`);
    return 2;
  }
  return await run(parsed.options);
}

if (import.meta.main) Deno.exit(await main());
