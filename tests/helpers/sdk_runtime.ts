/**
 * Test helper: a runtime running an SDK package against a believable fake host, optionally inside
 * a private mount namespace where a temp dir is bind-mounted on /media/startos (the SDK's backup
 * code hardcodes that path). The machine's own /media/startos is never touched: the namespace
 * mounts a tmpfs on /media first, and everything mounted there disappears with the runtime.
 */

import { FakeHost } from "./fake_host.ts";
import { RpcClient } from "./rpc_client.ts";
import {
  type RuntimeProcess,
  spawnRuntime,
  startTaskFlags,
  watchRuntime,
} from "./runtime_process.ts";
import { installSdkHandlers, type SdkHostState } from "./sdk_host.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const MEDIA_STARTOS = "/media/startos";

/** Why the mount-namespace variant cannot run here, or null when it can. */
export function namespaceUnavailable(): string | null {
  if (Deno.uid() !== 0) return "not root: cannot unshare a mount namespace";
  for (const program of ["/usr/bin/unshare", "/usr/bin/mount"]) {
    try {
      Deno.statSync(program);
    } catch {
      return `${program} is not installed`;
    }
  }
  try {
    if (!Deno.statSync("/media").isDirectory) return "/media is not a directory";
  } catch {
    return "/media does not exist (it is mounted over, never created)";
  }
  return null;
}

/** Whether `program` is found on PATH. */
export function onPath(program: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${program}`).isFile) return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** A runtime with its believable host. */
export interface SdkRuntime {
  /** The temp dir that is the runtime's root (seen as /media/startos inside the namespace). */
  root: string;
  host: FakeHost;
  state: SdkHostState;
  runtime: RuntimeProcess;
  client: RpcClient;
  /** Stops everything and removes the root. */
  close(): Promise<void>;
}

/** Options of `startSdkRuntime`. */
export interface SdkRuntimeOptions {
  /** The bundled package module. */
  package: string;
  /** Run inside a mount namespace with the root bind-mounted on /media/startos. */
  mediaStartos?: boolean;
  /** Extra runtime arguments. */
  args?: string[];
  /** Extra environment for the runtime (children with env access inherit it). */
  env?: Record<string, string>;
  /** JSONC policy text written to the root and passed with --policy. */
  policy?: string;
  /** Initial host state (e.g. a stored data version). */
  hostState?: Partial<SdkHostState>;
}

/** Spawns main.ts inside `unshare --mount` with `root` bind-mounted on /media/startos. */
async function spawnInNamespace(
  root: string,
  args: string[],
  env: Record<string, string>,
): Promise<RuntimeProcess> {
  const flags = await startTaskFlags();
  const script = "mount -t tmpfs -o size=1m,mode=0755 tmpfs /media && mkdir /media/startos && " +
    'mount --bind "$0" /media/startos && exec "$@"';
  const child = new Deno.Command("/usr/bin/unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
      root,
      Deno.execPath(),
      "run",
      ...flags,
      `${REPO}main.ts`,
      "--root",
      MEDIA_STARTOS,
      ...args,
    ],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = await watchRuntime(child, root, { removeRoot: false, wait: true });
  if (proc.socket !== `${MEDIA_STARTOS}/rpc/service.sock`) {
    await proc.stop();
    throw new Error(`unexpected socket inside the namespace: ${proc.socket}`);
  }
  // Seen from outside the namespace, the socket is under the temp root.
  proc.socket = `${root}/rpc/service.sock`;
  return proc;
}

/** Builds a root (volumes/main with a file, assets, backup), a believable host, and the runtime. */
export async function startSdkRuntime(options: SdkRuntimeOptions): Promise<SdkRuntime> {
  const root = await Deno.makeTempDir({ prefix: "startos-sdk-" });
  for (const dir of ["rpc", "volumes/main", "assets", "backup"]) {
    await Deno.mkdir(`${root}/${dir}`, { recursive: true });
  }
  await Deno.writeTextFile(`${root}/volumes/main/greeting.txt`, "hello from the volume");
  const host = FakeHost.listen(`${root}/rpc/host.sock`);
  const state = installSdkHandlers(host, options.hostState);
  const args = ["--package", options.package, ...(options.args ?? [])];
  if (options.policy !== undefined) {
    await Deno.writeTextFile(`${root}/policy.jsonc`, options.policy);
    args.push("--policy", `${options.mediaStartos ? MEDIA_STARTOS : root}/policy.jsonc`);
  }
  const env = { ...Deno.env.toObject(), ...options.env };
  let runtime: RuntimeProcess;
  try {
    runtime = options.mediaStartos
      ? await spawnInNamespace(root, args, env)
      : await spawnRuntime({ root, args, env });
  } catch (error) {
    host.close();
    await Deno.remove(root, { recursive: true });
    throw error;
  }
  const client = await RpcClient.connect(runtime.socket);
  return {
    root,
    host,
    state,
    runtime,
    client,
    close: async () => {
      client.close();
      await runtime.stop();
      host.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}
