/**
 * `deno task dev`: a dev host, the runtime (`main.ts --dev`) and a package,
 * on sockets under a local root (default `.dev/`). Sends `init`, prints what
 * to try next, and on Ctrl-C (SIGINT) or SIGTERM stops the runtime and the
 * dev host, leaving no process and no socket behind. When the runtime exits
 * by itself (after `exit`), the dev host stops too.
 */

import { createLogger, type Logger } from "../log.ts";
import { ListenError } from "../jsonrpc/unix_server.ts";
import { DEV_USAGE, type DevOptions, parseDevArgs } from "./dev_args.ts";
import { DevHost } from "./dev_host.ts";
import { type PackageManifest, readManifest } from "./package_manifest.ts";
import { RuntimeLink } from "./runtime_link.ts";
import { type RuntimeProcess, RuntimeStartError, startRuntime } from "./runtime_process.ts";
import { DEFAULT_SOCKET } from "./rpc_args.ts";
import { emptyState, StateFileError, StateStore } from "./state.ts";

/** How long the runtime gets to stop after SIGTERM before it is killed. */
const RUNTIME_STOP_MS = 15_000;

/** `path` relative to the working directory when it is inside it. */
function shown(path: string): string {
  const cwd = Deno.cwd().replace(/\/+$/, "") + "/";
  return path.startsWith(cwd) ? path.slice(cwd.length) : path;
}

/** How the user runs deno: `deno` when it is on PATH, else through npx as the README says. */
function denoCommand(): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (dir && Deno.statSync(`${dir}/deno`).isFile) return "deno";
    } catch {
      // not there
    }
  }
  return `npx -y deno@${Deno.version.deno}`;
}

/** The "try next" text: rpc commands for the actions init exported, then the lifecycle. */
export function tryNext(store: StateStore, socket: string): string {
  const socketFlag = shown(socket) === DEFAULT_SOCKET ? "" : ` --socket ${shown(socket)}`;
  const rows: [string, string][] = [];
  for (const [id, metadata] of Object.entries(store.state.actions)) {
    const { hasInput, name } = (metadata ?? {}) as { hasInput?: unknown; name?: unknown };
    const what = typeof name === "string" ? name : id;
    if (hasInput === true) {
      rows.push([`input ${id}`, `${what}: its input spec and current value`]);
      if (id === "set-greeting") rows.push([`action ${id} '{"greeting":"Hi there"}'`, "run it"]);
    } else {
      rows.push([`action ${id}`, what]);
    }
  }
  if (rows.length === 0) rows.push(["init install", "no actions were exported: run init"]);
  rows.push(
    ["start", "run main; its health checks show up in this log"],
    ["backup", "createBackup, with its progress in this log"],
    ["sandbox-action <id> [input-json]", "an action with no writes, no env, read-only effects"],
    ["stop", "stop main"],
    ["exit", "uninit, then the runtime and this dev session end"],
  );
  const deno = denoCommand();
  const commands = rows.map(([args]) => `${deno} task rpc${socketFlag} ${args}`);
  const width = Math.max(...commands.map((command) => command.length));
  return [
    `Try next, in another terminal (${deno} task rpc --help lists every command):`,
    ...commands.map((command, i) => `  ${command.padEnd(width)}  # ${rows[i][1]}`),
    `The dev host keeps its state in ${shown(store.path)}. Ctrl-C stops everything.`,
  ].join("\n");
}

async function prepareRoot(root: string): Promise<void> {
  for (const dir of ["rpc", "volumes/main", "assets", "backup", "dev-host"]) {
    await Deno.mkdir(`${root}/${dir}`, { recursive: true });
  }
}

async function sendInit(socket: string, log: Logger, kind: "install" | null): Promise<boolean> {
  const link = new RuntimeLink(socket, log);
  try {
    await link.request("init", { id: "dev-init", kind });
    log.info("init done", { kind: kind ?? "null" });
    return true;
  } catch (error) {
    const data = (error as { data?: { details?: string } }).data;
    log.error("init failed", {
      reason: (error as Error).message,
      details: data?.details,
      hint: "fix the package, then: deno task rpc init",
    });
    return false;
  } finally {
    link.close();
  }
}

/** Signals within this long of the first are the same Ctrl-C (deno task forwards it too). */
const SAME_SIGNAL_MS = 1000;

/** Resolves with the first SIGINT/SIGTERM this process gets, and with a later, second one. */
function signals(): { first: Promise<Deno.Signal>; second: Promise<Deno.Signal> } {
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
 * then SIGTERM (SIGKILL after a grace period). A second Ctrl-C skips waiting for `stop`.
 */
async function stopRuntime(
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
    return `${shown(path)} belongs to package ${store.state.packageId}, not ${manifest.id}; ` +
      "use another --root or delete it";
  }
  store.state.manifest = manifest.raw;
  return store;
}

async function run(options: DevOptions): Promise<number> {
  const log = createLogger({ format: options.logFormat, level: options.logLevel });
  const signalled = signals();
  const { root } = options;
  await prepareRoot(root);

  let manifest;
  try {
    manifest = await readManifest(options.package);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
  const store = await openState(`${root}/dev-host/state.json`, manifest);
  if (typeof store === "string") {
    console.error(`error: ${store}`);
    return 1;
  }

  const socket = `${root}/rpc/service.sock`;
  let host: DevHost;
  try {
    host = await DevHost.listen({
      socket: `${root}/rpc/host.sock`,
      runtimeSocket: socket,
      root,
      store,
      log: log.with({ from: "dev-host" }),
    });
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    console.error(`error: ${error.message} (is another deno task dev using ${shown(root)}?)`);
    return 1;
  }
  log.info("dev host listening", { socket: shown(host.socket), package: manifest.id });

  const args = ["--dev", "--root", root, "--socket", socket, "--host-socket", host.socket];
  args.push("--package", options.package, "--log-format", options.logFormat);
  args.push("--log-level", options.logLevel);
  if (options.policy) args.push("--policy", options.policy);
  let runtime: RuntimeProcess;
  try {
    runtime = await startRuntime({
      args,
      env: { STARTOS_ROOT: root },
      onLine: (line) => console.error(line),
    });
  } catch (error) {
    await host.close();
    if (!(error instanceof RuntimeStartError)) throw error;
    console.error(`error: ${error.message}`);
    return 1;
  }

  const work = (async () => {
    if (options.init) await sendInit(socket, log, store.created ? "install" : null);
    console.log(`\nReady: ${manifest.id} runs under ${shown(root)}/\n${tryNext(store, socket)}\n`);
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
  await work.catch(() => {});
  await host.close();
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
