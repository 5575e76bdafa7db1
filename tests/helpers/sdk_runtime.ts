/**
 * Test helper: a runtime running an SDK package against a believable fake host, optionally inside
 * a private mount namespace where a temp dir is bind-mounted on /media/startos (the SDK's backup
 * code hardcodes that path). The machine's own /media/startos is never touched: the namespace
 * mounts a tmpfs on /media first, and everything mounted there disappears with the runtime.
 */

import { isolationPolicy } from "./isolation.ts";
import { FakeHost } from "./fake_host.ts";
import { RpcClient } from "./rpc_client.ts";
import {
  runtimeCommand,
  type RuntimeProcess,
  spawnRuntime,
  watchRuntime,
} from "./runtime_process.ts";
import { installSdkHandlers, type SdkHostState } from "./sdk_host.ts";

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

/**
 * Why an overlay cannot be mounted inside a private mount namespace here, or null when it can
 * (tried once in a throwaway namespace on a throwaway tmpfs).
 */
export function overlayUnavailable(): string | null {
  const missing = namespaceUnavailable();
  if (missing) return missing;
  const dir = Deno.makeTempDirSync({ prefix: "startos-overlay-probe-" });
  try {
    const script = 'set -e; mount -t tmpfs tmpfs "$0"; mkdir "$0/l" "$0/u" "$0/w" "$0/m"; ' +
      'mount -t overlay overlay -o lowerdir="$0/l",upperdir="$0/u",workdir="$0/w" "$0/m"';
    const { success, stderr } = new Deno.Command("/usr/bin/unshare", {
      args: ["--mount", "--propagation", "private", "sh", "-c", script, dir],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (success) return null;
    return `cannot mount an overlay in a mount namespace: ${
      new TextDecoder().decode(stderr).trim()
    }`;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
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
  /**
   * A directory whose files are overlaid onto /usr/bin inside the namespace (e.g. the fakes of
   * `fake_container.ts`); needs `mediaStartos`.
   */
  fakeBin?: string;
  /** Runs once the root is built, before the runtime starts (e.g. to add images/). */
  prepareRoot?: (root: string) => Promise<void>;
  /**
   * The command that starts the runtime, to which `--root` and the rest are appended (default:
   * `runtimeCommand()`; e.g. a deployed tree's launcher, scripts/build_rootfs.sh); needs
   * `mediaStartos`.
   */
  command?: string[];
}

/**
 * Spawns main.ts inside `unshare --mount` with `root` bind-mounted on /media/startos and, with
 * `fakeBin`, that directory's files overlaid onto /usr/bin (for the runtime and its children only).
 */
async function spawnInNamespace(
  root: string,
  args: string[],
  env: Record<string, string>,
  fakeBin?: string,
  command?: string[],
): Promise<RuntimeProcess> {
  const runtime = command ?? await runtimeCommand();
  // With `fakeBin`, its files are laid over /usr/bin with an overlay whose upper layer lives on
  // the namespace's tmpfs (after the tmpfs and bind are made: this script uses the real mount).
  const script = [
    "set -e",
    "root=$0 fakes=$1; shift",
    "mount -t tmpfs -o size=1m,mode=0755 tmpfs /media",
    "mkdir /media/startos",
    'mount --bind "$root" /media/startos',
    'if [ -n "$fakes" ]; then',
    "  mkdir /media/.usr-bin /media/.usr-bin/upper /media/.usr-bin/work",
    '  cp "$fakes"/* /media/.usr-bin/upper/',
    "  mount -t overlay overlay -o lowerdir=/usr/bin,upperdir=/media/.usr-bin/upper," +
    "workdir=/media/.usr-bin/work /usr/bin",
    "fi",
    'exec "$@"',
  ].join("\n");
  const child = new Deno.Command("/usr/bin/unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
      root,
      fakeBin ?? "",
      ...runtime,
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
  if (options.fakeBin !== undefined && !options.mediaStartos) {
    throw new Error("fakeBin needs mediaStartos (the overlay is made inside the namespace)");
  }
  if (options.command !== undefined && !options.mediaStartos) {
    throw new Error("command needs mediaStartos");
  }
  const root = await Deno.makeTempDir({ prefix: "startos-sdk-" });
  for (const dir of ["rpc", "volumes/main", "assets", "backup"]) {
    await Deno.mkdir(`${root}/${dir}`, { recursive: true });
  }
  await Deno.writeTextFile(`${root}/volumes/main/greeting.txt`, "hello from the volume");
  const rootSeenByRuntime = options.mediaStartos ? MEDIA_STARTOS : root;
  const host = FakeHost.listen(`${root}/rpc/host.sock`);
  const state = installSdkHandlers(host, options.hostState, { root, rootSeenByRuntime });
  const args = ["--package", options.package, ...(options.args ?? [])];
  const env = { ...Deno.env.toObject(), ...options.env };
  let runtime: RuntimeProcess;
  try {
    const policy = isolationPolicy(options.policy);
    if (policy !== undefined) {
      await Deno.writeTextFile(`${root}/policy.jsonc`, policy);
      args.push("--policy", `${rootSeenByRuntime}/policy.jsonc`);
    }
    await options.prepareRoot?.(root);
    runtime = options.mediaStartos
      ? await spawnInNamespace(root, args, env, options.fakeBin, options.command)
      : await spawnRuntime({ root, args, env });
  } catch (error) {
    host.close();
    await Deno.remove(root, { recursive: true });
    throw error;
  }
  let client: RpcClient;
  try {
    client = await RpcClient.connect(runtime.socket);
  } catch (error) {
    await runtime.stop();
    host.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
    throw error;
  }
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
