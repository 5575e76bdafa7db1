/**
 * Permission profiles → `deno run` flags, and the effect allowlists.
 *
 * Every piece of package code runs as `deno run --no-prompt <flags> <worker entry>`; the flags
 * come from the profile of the procedure it runs. The runtime's own channel socket is always
 * granted (by exact path: Deno 2.9 grants Unix sockets per path, see DENO-NOTES.md).
 *
 * Observed with Deno 2.9.6 (throwaway scripts, not part of the test suite):
 * - `--allow-run=start-container` when no such program is on PATH: Deno accepts the flag and the
 *   child starts normally; it only prints `Info Failed to resolve 'start-container' for
 *   allow-run: cannot find binary path` to stderr (hidden by `--quiet`), and spawning the name
 *   later fails with `NotFound`. So missing programs are harmless and names are kept as given.
 *   But a NAME is resolved once, against the child's own PATH, when the child starts: if the
 *   program appears on PATH later, running it is still refused (`NotCapable`), and a child with
 *   an empty environment (no PATH) can never use a name grant. An ABSOLUTE path is not resolved
 *   at start and works as soon as the file exists. Use absolute paths for such programs.
 * - A name grant covers the name and the path it resolved to (`mount` → `/usr/bin/mount`), not
 *   other spellings of the same file (`/bin/mount` via the `/bin → usr/bin` symlink is refused).
 * - Deno refuses to start on `--allow-run=` / `--allow-env=` with an empty value, on env names
 *   containing `=`, on bad hosts in `--allow-net=`; it cannot express paths containing commas.
 *   Such values are rejected here with an error instead.
 * - Deno refuses writes to any file an `--allow-run` entry resolves to, even inside a granted
 *   write directory (a granted program cannot be replaced).
 * - Path grants are lexical: granting `/a` where `/a` is a symlink does not grant its target and
 *   vice versa, and a symlink inside a granted directory is followed wherever it points. Children
 *   cannot create symlinks (that needs unscoped read+write), but programs they run can.
 * - Without any net grant, module loading still reaches the network: a dynamic `import()` of
 *   `npm:<anything>` queries the npm registry, and `https://` imports from Deno's default import
 *   hosts (esm.sh, jsr.io, deno.land, ...) are fetched; a bare `--deny-import` does not stop the
 *   latter. Package code could leak data in those URLs, so every child also gets `--cached-only`
 *   (no downloads at all; what is cached still loads).
 */

import type { ChildRole } from "../protocol/channel.ts";
import type { SpawnOperation } from "./spawn_rules.ts";
import { type DirectoryLister, listDirectory, parentOf, within } from "./paths.ts";

export type { DirectoryLister };
import { type EffectClass, EFFECTS, type EffectSpec, effectSpec } from "../protocol/effects.ts";

/** The permission profiles, one per kind of child (a child's role is its profile's name). */
export type ProfileName = ChildRole;

/**
 * Which effects a profile may call: all; `read-only`: those that change nothing (classes `read`,
 * `secret`, and `scratch`/`cleanup`: subcontainers of its own call); `read-only-no-secrets`: the
 * same without `secret`.
 */
export type EffectAccess = "all" | "read-only" | "read-only-no-secrets";

/** What a child may do: the grants its `deno run` flags express, and its effect access. */
export interface Profile {
  /** Absolute paths the child may read. */
  read: string[];
  /** Absolute paths the child may write. */
  write: string[];
  /** `false` = no network, `true` = any host, a list = those hosts (host, host:port, IPs). */
  net: boolean | string[];
  /** `false` = no subprocesses, `true` = any program, a list = program names or absolute paths. */
  run: boolean | string[];
  /** `false` = no env access and an empty environment, `true` = all, a list = those variables. */
  env: boolean | string[];
  /** `false` = no system information, `true` = all, a list = those kinds (`uid`, `gid`, ...). */
  sys: boolean | string[];
  /** The effects the child may call. */
  effects: EffectAccess;
  /**
   * The escape hatch: every Deno permission (`--allow-all`), the other grants ignored. Gives up
   * this profile's narrowing entirely; the runtime warns at startup when a policy sets it.
   */
  all: boolean;
  /** The child's JavaScript heap limit (MB): past it the child dies with "out of memory". */
  heapMb: number;
  /**
   * The program invocations the runtime runs for this profile's package code (the spawn
   * broker's operations, lib/policy/spawn_rules.ts); nothing is granted to Deno for them.
   */
  spawn: SpawnOperation[];
}

/** The kinds `--allow-sys=` accepts in Deno 2.9. */
export const SYS_KINDS: readonly string[] = Object.freeze([
  "hostname",
  "osRelease",
  "osUptime",
  "loadavg",
  "networkInterfaces",
  "systemMemoryInfo",
  "uid",
  "gid",
  "cpus",
  "homedir",
  "getegid",
  "username",
  "statfs",
  "getPriority",
  "setPriority",
  "userInfo",
]);

/** Every profile name, in table order. */
export const PROFILE_NAMES: readonly ProfileName[] = Object.freeze([
  "init",
  "main",
  "run",
  "getInput",
  "backup",
  "sandbox",
]);

/** The effect access levels, from widest to narrowest. */
export const EFFECT_ACCESS_LEVELS: readonly EffectAccess[] = Object.freeze([
  "all",
  "read-only",
  "read-only-no-secrets",
]);

/** Flags every child gets besides its grants: no prompts, no module downloads (see above). */
export const BASE_CHILD_ARGS: readonly string[] = Object.freeze(["--no-prompt", "--cached-only"]);

/**
 * The entry of a `net` list that stands for the container's own addresses, found once at startup
 * (lib/process/container_addresses.ts) and put in its place by {@linkcode withContainerAddresses};
 * a list still holding it when flags are built loses it (no address is granted for it).
 */
export const CONTAINER_ADDRESSES = "${container}";

/**
 * The container's own daemons: loopback (`127.0.0.0/8`; `localhost` by name, since Deno matches
 * names as names; `[::1]`) and the container's own addresses. No Unix socket: a `unix:` path is
 * never granted, and bare `--allow-net` (which covers every one) never given.
 */
export const OWN_DAEMONS_NET: readonly string[] = Object.freeze([
  "127.0.0.0/8",
  "localhost",
  "[::1]",
  CONTAINER_ADDRESSES,
]);

/**
 * Main's network: TCP and UDP to and from any IPv4 address, IPv6's any and loopback addresses,
 * `localhost`, the names StartOS gives services (`*.startos`, `*.embassy`, `*.local`,
 * `*.onion`) and the container's own addresses — and no Unix socket. Bare `--allow-net` would
 * cover every `unix:` path, so a symlink planted in a volume would reach host.sock and
 * service.sock. Deno 2.9 cannot express an IPv6 range (`::/0` is refused) and matches names as
 * names, so other IPv6 addresses and public host names must be listed in the policy
 * (`"net": [...]`); `"net": true` gives back bare `--allow-net`, Unix sockets included.
 */
export const MAIN_NET: readonly string[] = Object.freeze([
  "0.0.0.0/0",
  "[::]",
  "[::1]",
  "localhost",
  "*.startos",
  "*.embassy",
  "*.local",
  "*.onion",
  CONTAINER_ADDRESSES,
]);

/**
 * The `--allow-sys` kinds every profile gets: what start-sdk and packages read through `node:os`
 * and `process` (Deno 2.9.6 asks for these kinds, checked function by function), all of it what
 * any process of the container reads without asking (`uname`, `/proc/meminfo`, `/proc/cpuinfo`):
 * - `uid`, `gid`, `getegid`: FileHelper's `fs.access()`, `process.getuid()`/`getegid()`;
 * - `systemMemoryInfo`: `os.totalmem()`, `os.freemem()`, `process.availableMemory()` (sizing
 *   caches and worker counts to the machine);
 * - `cpus`: `os.cpus()` (`os.cpus().length` threads); `loadavg`: `os.loadavg()`;
 * - `hostname`: `os.hostname()` (the container's own name); `networkInterfaces`:
 *   `os.networkInterfaces()` (the container's own addresses);
 * - `osUptime`: `os.uptime()`; `osRelease`: `os.release()`, `os.version()`;
 * - `homedir`: `os.homedir()`; `userInfo`: `os.userInfo()` (libraries locating config dirs).
 * Not granted: `setPriority` (changes the process), `getPriority`, `statfs` (the machine's disk
 * use), `username` — nothing seen to use them; a policy can add them.
 */
export const SYS_INFO: readonly string[] = Object.freeze([
  "uid",
  "gid",
  "getegid",
  "systemMemoryInfo",
  "cpus",
  "loadavg",
  "hostname",
  "networkInterfaces",
  "osUptime",
  "osRelease",
  "homedir",
  "userInfo",
]);

/** SubContainer copies the container's resolver configuration into each rootfs. */
const RESOLV_CONF = "/etc/resolv.conf";

/** What SubContainer runs: the container launcher (launch, exec, bind-mount) and the rbinds. */
const CONTAINER_OPERATIONS: readonly SpawnOperation[] = Object.freeze([
  "subcontainer-launch",
  "subcontainer-exec",
  "bind-mount",
  "rbind-shared",
]);

/** The same for a profile that changes nothing: volume and asset mounts made read-only. */
const READ_ONLY_CONTAINER_OPERATIONS: readonly SpawnOperation[] = Object.freeze([
  "subcontainer-launch",
  "subcontainer-exec",
  "bind-mount-read-only",
  "rbind-shared",
]);

/** Joins an absolute base path and a relative part, collapsing duplicate slashes. */
function join(base: string, part: string): string {
  return `${base.replace(/\/+$/, "")}/${part}`.replace(/\/{2,}/g, "/");
}

/**
 * Default profiles given the package dir and root (`package` is the module's DIRECTORY).
 *
 * Each grant beyond DESIGN.md's table is there because start-sdk 2.0.9 or a published package
 * needs it (README, "Permission profiles", lists each with the package pattern):
 * - `sys`: {@linkcode SYS_INFO} everywhere (FileHelper's `fs.access()` needs `uid`; packages size
 *   themselves with `os.totalmem()`, `os.cpus()`...). Every profile gets the same kinds: a
 *   sandbox getInput must see what an executed one sees.
 * - `${root}` and `/etc/resolv.conf` readable and `${root}/subcontainers` writable for every
 *   profile that may use `SubContainer` — all of them: getInput execs read commands in a
 *   subcontainer to prefill its form, and the sandbox must answer as getInput does. SubContainer
 *   reads `images/<id>.json`, writes mount points under the rootfs the host made there and
 *   copies resolv.conf into it.
 * - Every profile reaches the service's own daemons ({@linkcode OWN_DAEMONS_NET}), main also
 *   the network ({@linkcode MAIN_NET}): init bootstraps with a temporary daemon and waits on
 *   `checkWebUrl("http://127.0.0.1:…")`, actions call the service's API on `localhost`, a getInput
 *   may ask the running service for current values (its commands in a subcontainer reach the
 *   daemons anyway, and a denial would fail it where the Node runtime answers), a backup may ask
 *   the service to dump.
 * - No program is granted to Deno. What SubContainer and Backups run (`start-container
 *   bind-mount`, `subcontainer launch|exec`, `mount --rbind`, `rsync`) is asked of the runtime's
 *   spawn broker, which checks each request against the profile's `spawn` operations
 *   (lib/policy/spawn_rules.ts). init may restore (`rsync-restore`), backup may back up; getInput
 *   and sandbox get volumes and assets mounted read-only (`bind-mount-read-only`). Every profile
 *   that writes volumes may run the file utilities on them (`file-utilities`: `mv`, `cp`, ...,
 *   also as `sh -c`), which packages' migrations use (lib/policy/file_utilities.ts).
 * - getInput and sandbox change nothing: no write but subcontainer mount points, effects
 *   `read-only` (reads, secrets, their own subcontainers). The sandbox has exactly getInput's
 *   grants, so that a sandbox getInput answers what an executed one answers.
 * The reserved paths SubContainer and health checks touch (`mkdir /dev|/sys|/run`, reads of
 * `/proc/net/*`) are served by the compat layer (lib/worker/compat.ts), not granted.
 */
export function defaultProfiles(
  vars: { package: string; root: string },
): Record<ProfileName, Profile> {
  const pkg = vars.package;
  const root = vars.root;
  const volumes = join(root, "volumes");
  const backup = join(root, "backup");
  const subcontainers = join(root, "subcontainers");
  /** A profile with no grants but `sys`, then `grants`; arrays are never shared. */
  const profile = (grants: Partial<Profile>): Profile =>
    structuredClone({
      read: [],
      write: [],
      net: false,
      run: false,
      spawn: [],
      env: true,
      sys: [...SYS_INFO],
      effects: "all",
      all: false,
      // A start-sdk bundle's heap is ~50 MB; main and the package host hold the most state.
      heapMb: 256,
      ...grants,
    });
  /** Where a profile that may run package code in a SubContainer reads and writes. */
  const container = { read: [pkg, root, RESOLV_CONF], write: [volumes, subcontainers] };
  /** getInput's grants, which the sandbox shares: reads, and read-only subcontainers. */
  const readOnly: Partial<Profile> = {
    read: container.read,
    write: [subcontainers],
    net: [...OWN_DAEMONS_NET],
    spawn: [...READ_ONLY_CONTAINER_OPERATIONS],
    effects: "read-only",
  };
  return {
    init: profile({
      ...container,
      net: [...OWN_DAEMONS_NET],
      // A restore runs from init: rsync back from the backup, dump restores in a subcontainer.
      // Migrations move data between volumes with the file utilities.
      spawn: [...CONTAINER_OPERATIONS, "rbind-backup", "rsync-restore", "file-utilities"],
      heapMb: 512,
    }),
    main: profile({
      ...container,
      net: [...MAIN_NET],
      spawn: [...CONTAINER_OPERATIONS, "file-utilities"],
      heapMb: 512,
    }),
    run: profile({
      ...container,
      net: [...OWN_DAEMONS_NET],
      spawn: [...CONTAINER_OPERATIONS, "file-utilities"],
    }),
    getInput: profile(readOnly),
    backup: profile({
      read: container.read,
      write: [volumes, backup, subcontainers],
      net: [...OWN_DAEMONS_NET],
      spawn: [...CONTAINER_OPERATIONS, "rbind-backup", "rsync-backup", "file-utilities"],
    }),
    sandbox: profile(readOnly),
  };
}

/**
 * The profiles with {@linkcode CONTAINER_ADDRESSES} in each `net` list replaced by the
 * container's own addresses (none: the entry is dropped). Other entries and profiles are kept.
 * @param profiles the profiles of a policy
 * @param addresses the container's addresses as net entries (`10.0.3.2`, `[fd00::2]`)
 * @returns new profiles; `profiles` is not changed
 */
export function withContainerAddresses(
  profiles: Readonly<Record<ProfileName, Profile>>,
  addresses: readonly string[],
): Record<ProfileName, Profile> {
  const out = {} as Record<ProfileName, Profile>;
  for (const name of PROFILE_NAMES) {
    const profile = structuredClone(profiles[name]);
    if (Array.isArray(profile.net)) {
      profile.net = unique(
        profile.net.flatMap((entry) => entry === CONTAINER_ADDRESSES ? [...addresses] : [entry]),
      );
    }
    out[name] = profile;
  }
  return out;
}

/** Throws unless `path` can go into a `--allow-read/write=` list. */
function checkPath(kind: string, path: string): void {
  if (!path.startsWith("/")) {
    throw new Error(`${kind} path ${JSON.stringify(path)} is not absolute`);
  }
  if (path.includes(",")) {
    throw new Error(
      `${kind} path ${JSON.stringify(path)} contains a comma, which Deno's flags cannot express`,
    );
  }
  if (path.includes("\0")) throw new Error(`${kind} path ${JSON.stringify(path)} contains NUL`);
}

/** Throws unless `value` can be one entry of a comma-separated flag list. */
function checkEntry(kind: string, value: string): void {
  if (value === "") throw new Error(`empty ${kind} entry`);
  if (value.includes(",") || value.includes("\0")) {
    throw new Error(`${kind} entry ${JSON.stringify(value)} contains a comma or NUL`);
  }
}

/** The list without repeats, first occurrence kept. */
function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** More entries than this that lead to no grant, and a directory above the writes is not granted. */
export const MAX_HIDDEN_ENTRIES = 32;

/** What {@linkcode ancestorReadGrants} adds: directories to read, and entries in them hidden. */
export interface AncestorGrants {
  /** The directories, each for itself (`--allow-read`). */
  read: string[];
  /** Their entries that lead to no grant (`--deny-read`). */
  deny: string[];
}

/**
 * The directories above a profile's write paths that it may read although no read grant covers
 * them, each for itself: every entry in it that leads to no granted path is denied (`/media` in a
 * container, which holds only the root `/media/startos`: nothing to deny; in the dev namespace
 * `/media/.startos-dev` is denied). Node's `fs.cp` (and Deno's port of it) stats every directory
 * above its destination up to `/` to refuse a copy into itself, so without them a copy from the
 * assets or another volume into a volume fails on `stat /media` where Node copies. The walk stops
 * at `/`, and at a directory that cannot be listed, holds more than
 * {@linkcode MAX_HIDDEN_ENTRIES} other entries (a shared directory such as `/tmp`) or one whose
 * name has a comma (Deno's flag lists cannot express it). Entries made
 * after the child started are not denied (nothing is made in a container's `/media`).
 * @example
 * ```ts
 * const list = (dir: string) => dir === "/media" ? ["startos", ".stash"] : null;
 * ancestorReadGrants({ read: ["/media/startos"], write: ["/media/startos/volumes"] }, [], list);
 * // { read: ["/media"], deny: ["/media/.stash"] }
 * ```
 * @param profile its read and write paths
 * @param granted further paths the child is granted (its channel socket)
 * @param list lists a directory (default: this machine's)
 * @returns what to add to `--allow-read` and `--deny-read`
 */
export function ancestorReadGrants(
  profile: Pick<Profile, "read" | "write">,
  granted: readonly string[] = [],
  list: DirectoryLister = listDirectory,
): AncestorGrants {
  const paths = [...profile.read, ...profile.write, ...granted];
  const out: AncestorGrants = { read: [], deny: [] };
  for (const path of profile.write) {
    for (let dir = parentOf(path); dir !== "/"; dir = parentOf(dir)) {
      if (out.read.includes(dir) || profile.read.some((read) => within(dir, read))) continue;
      const names = list(dir);
      if (names === null) break;
      const hidden = names.map((name) => join(dir, name))
        .filter((entry) => !paths.some((path) => within(path, entry)));
      // A name with a comma cannot be denied in Deno's flag list: such a directory is not granted.
      if (hidden.length > MAX_HIDDEN_ENTRIES || hidden.some((entry) => /[,\0]/.test(entry))) break;
      out.read.push(dir);
      out.deny.push(...hidden);
    }
  }
  return out;
}

/**
 * The --allow-* flags (plus --no-prompt) for a child with this profile that talks over the Unix
 * socket `channel` (absolute path).
 * @param profile the child's profile
 * @param channel its channel socket
 * @param list lists a directory, for {@linkcode ancestorReadGrants} (default: this machine's)
 * @returns the flags, in a fixed order
 */
export function denoPermissionArgs(
  profile: Profile,
  channel: string,
  list: DirectoryLister = listDirectory,
): string[] {
  checkPath("channel", channel);
  // The escape hatch: nothing narrowed, so the channel needs no grant of its own either.
  if (profile.all) return [...BASE_CHILD_ARGS, "--allow-all"];
  for (const path of profile.read) checkPath("read", path);
  for (const path of profile.write) checkPath("write", path);
  const args = [...BASE_CHILD_ARGS];
  const above = ancestorReadGrants(profile, [channel], list);
  args.push(`--allow-read=${unique([...profile.read, ...above.read, channel]).join(",")}`);
  if (above.deny.length > 0) args.push(`--deny-read=${unique(above.deny).join(",")}`);
  args.push(`--allow-write=${unique([...profile.write, channel]).join(",")}`);

  if (profile.net === true) {
    args.push("--allow-net");
  } else {
    // An unreplaced CONTAINER_ADDRESSES stands for no address (see withContainerAddresses).
    const hosts = profile.net === false
      ? []
      : profile.net.filter((host) => host !== CONTAINER_ADDRESSES);
    for (const host of hosts) checkEntry("net", host);
    args.push(`--allow-net=${unique([`unix:${channel}`, ...hosts]).join(",")}`);
  }

  if (profile.run === true) {
    args.push("--allow-run");
  } else if (profile.run !== false) {
    for (const program of profile.run) checkEntry("run", program);
    // An empty `--allow-run=` makes Deno refuse to start: an empty list means "none".
    if (profile.run.length > 0) args.push(`--allow-run=${unique(profile.run).join(",")}`);
  }

  if (profile.env === true) {
    args.push("--allow-env");
  } else if (profile.env !== false) {
    for (const name of profile.env) {
      checkEntry("env", name);
      if (name.includes("=")) throw new Error(`env entry ${JSON.stringify(name)} contains '='`);
    }
    if (profile.env.length > 0) args.push(`--allow-env=${unique(profile.env).join(",")}`);
  }

  if (profile.sys === true) {
    args.push("--allow-sys");
  } else if (profile.sys !== false) {
    for (const kind of profile.sys) {
      if (!SYS_KINDS.includes(kind)) {
        throw new Error(`sys entry ${JSON.stringify(kind)} is unknown`);
      }
    }
    if (profile.sys.length > 0) args.push(`--allow-sys=${unique(profile.sys).join(",")}`);
  }
  return args;
}

/**
 * The effect classes each profile access admits (the classes are declared per effect in the
 * effect table, lib/protocol/effects.ts; nothing is inferred from a name).
 */
const ADMITTED: Readonly<Record<EffectAccess, ReadonlySet<EffectClass>>> = Object.freeze({
  "all": new Set<EffectClass>(["read", "secret", "write", "scratch", "cleanup"]),
  // Changes nothing: reads, and subcontainers of its own call (created and torn down by it).
  "read-only": new Set<EffectClass>(["read", "secret", "scratch", "cleanup"]),
  "read-only-no-secrets": new Set<EffectClass>(["read", "scratch", "cleanup"]),
});

/** Effects that are read-only but hand out secrets (table class `secret`). */
export const SECRET_EFFECTS: readonly string[] = Object.freeze(
  EFFECTS.filter((e: EffectSpec) => e.access === "secret").map((e) => e.method),
);

/** Effects every child may call whatever its access (table flag `everyProfile`). */
export const ALWAYS_ALLOWED_EFFECTS: readonly string[] = Object.freeze(
  EFFECTS.filter((e: EffectSpec) => e.everyProfile === true).map((e) => e.method),
);

/**
 * Whether an effect only reads, as the effect table declares it (class `read` or `secret`).
 * @param method A wire method name.
 * @returns False for writes, cleanups and methods the table does not have.
 */
export function isReadOnlyEffect(method: string): boolean {
  const access = effectSpec(method)?.access;
  return access === "read" || access === "secret";
}

/**
 * Whether a profile may call an effect, by the access class the effect table declares for it.
 * @param access The profile's effect access.
 * @param method A wire method name (kebab-case, groups dotted: "get-status", "action.get-input").
 * @returns True when the profile's access admits the effect's class (`all` admits any method).
 */
export function effectAllowed(access: EffectAccess, method: string): boolean {
  if (access === "all") return true;
  const spec = effectSpec(method);
  if (spec === undefined) return false;
  return spec.everyProfile === true || ADMITTED[access].has(spec.access);
}
