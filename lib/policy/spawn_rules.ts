/**
 * The spawn broker's table: the program invocations start-sdk 2.0.9 performs, and the check
 * each request of a child must pass before the runtime runs it.
 *
 * No child is granted a program: the worker's compat layer turns `node:child_process` spawns of
 * `start-container`, `mount`, `rsync`, the file utilities and `sh -c` (lib/policy/
 * file_utilities.ts) into requests on the child's channel, and the runtime
 * decides each one here. A request is allowed only when its program, subcommand and options are
 * exactly one of the forms below, every path argument is absolute, has no `.`/`..` segment, goes
 * through no symlink, and lies where the form says (a volume, the backup, a rootfs this child
 * created with `subcontainer.create-fs`). No option that runs another program, reads a list of
 * files from elsewhere or reaches a remote host is accepted (`rsync -e`, `--files-from`,
 * `host:path`, ...). Anything else is refused, naming the argument that failed.
 *
 * Pure: the file system and the child's subcontainers come in through {@link SpawnContext}.
 * @module
 */

import { BROKERED_PROGRAMS, type BrokeredProgram, brokeredProgram } from "../protocol/channel.ts";
import { checkFileUtility, FILE_UTILITIES, SHELLS } from "./file_utilities.ts";
import { below, within } from "./paths.ts";
import { normalizePath, SpawnRefusal as Refusal } from "./spawn_refusal.ts";

export { normalizePath };

/** The operations a profile may be allowed, one per form start-sdk uses. */
export type SpawnOperation =
  | "subcontainer-launch"
  | "subcontainer-exec"
  | "bind-mount"
  | "bind-mount-read-only"
  | "rbind-shared"
  | "rbind-backup"
  | "rsync-backup"
  | "rsync-restore"
  | "file-utilities";

export { BROKERED_PROGRAMS, type BrokeredProgram, brokeredProgram };

/** One allowed form, as documented in the README's Security section. */
export interface SpawnRule {
  /** The operation that names this form in a profile's `spawn` list. */
  operation: SpawnOperation;
  /** The programs the form runs. */
  programs: readonly BrokeredProgram[];
  /** The accepted command line. */
  form: string;
  /** The start-sdk 2.0.9 code that runs it. */
  sdk: string;
  /** What the runtime checks before it runs it. */
  checked: string;
}

/** The whole table. */
export const SPAWN_RULES: readonly SpawnRule[] = Object.freeze([
  {
    operation: "subcontainer-launch",
    programs: ["start-container"],
    form: "start-container subcontainer launch [--env-file=F] [--user=U] [--workdir=W] " +
      "[--env=K=V]... ROOTFS [command...]",
    sdk: "SubContainer: the leader (no command) and `launch()` (daemons)",
    checked: "ROOTFS is a rootfs this child created (this call's, for a procedure); F is " +
      "`${root}/images/<name>.env`; no other option",
  },
  {
    operation: "subcontainer-exec",
    programs: ["start-container"],
    form: "start-container subcontainer exec [--env-file=F] [--user=U] [--workdir=W] " +
      "[--env=K=V]... ROOTFS command...",
    sdk: "SubContainer `exec`, `execFail`, `spawn` (actions, health checks, init)",
    checked: "as launch",
  },
  {
    operation: "bind-mount",
    programs: ["start-container"],
    form: "start-container bind-mount --source S --target T [--recursive] [--file] " +
      "[--idmap A:B:N]...",
    sdk: "SubContainer `mount()`: volume and asset mounts",
    checked: "S is under `${root}/volumes` or `${root}/assets`; T is inside a rootfs this " +
      "child created; both exist and go through no symlink",
  },
  {
    operation: "bind-mount-read-only",
    programs: ["start-container"],
    form: "as bind-mount, then `mount -o remount,bind,ro T` (run by the runtime)",
    sdk: "SubContainer `mount()` in a procedure that changes nothing (getInput, sandbox)",
    checked: "as bind-mount; the mount is made read-only before the request's exit is reported, " +
      "and unmounted again when that fails",
  },
  {
    operation: "rbind-shared",
    programs: ["mount"],
    form: "mount --rbind /dev|/sys|/run T",
    sdk: "SubContainer: the host's /dev, /sys (and /run with sharedRun) in every rootfs",
    checked: "T is inside a rootfs this child created, exists and goes through no symlink",
  },
  {
    operation: "rbind-backup",
    programs: ["mount"],
    form: "mount --rbind ${root}/backup T",
    sdk: "Backups: the backup target in a subcontainer (database dumps and restores)",
    checked: "as rbind-shared",
  },
  {
    operation: "rsync-backup",
    programs: ["rsync"],
    form: "rsync [--delete] [--exclude=P]... -rlptgoAXH --partial --inplace --timeout=N " +
      "--info=progress2 SRC DST",
    sdk: "Backups.ofVolumes / addSync: `createBackup`",
    checked: "SRC is under `${root}/volumes`, DST under `${root}/backup`; both exist and go " +
      "through no symlink; only these options",
  },
  {
    operation: "rsync-restore",
    programs: ["rsync"],
    form: "as rsync-backup",
    sdk: "Backups restore: `init` with kind `restore`",
    checked: "SRC is under `${root}/backup`, DST under `${root}/volumes`; otherwise as " +
      "rsync-backup",
  },
  {
    operation: "file-utilities",
    programs: [...SHELLS, ...FILE_UTILITIES],
    form: `${FILE_UTILITIES.join("|")} [options] PATH...; sh|bash -c SCRIPT of only such ` +
      "commands joined by &&, ||, ; or newlines",
    sdk: "not start-sdk: packages' own migrations and actions " +
      "(`execFile('sh', ['-c', 'mv ${root}/volumes/main/data/* ${root}/volumes/db'])`)",
    checked: "every path is below `${root}/volumes` (a cp source also `${root}/assets`), its " +
      "directories exist without a symlink, and it is a symlink only where the utility acts on " +
      "the link; only the options lib/policy/file_utilities.ts lists; a script is parsed " +
      "(no variable, substitution, redirection, pipe, background job or other program), its " +
      "globs expanded and checked, and rebuilt with every word quoted",
  },
]);

/** Every operation name, in table order. */
export const SPAWN_OPERATIONS: readonly SpawnOperation[] = Object.freeze([
  ...new Set(SPAWN_RULES.map((rule) => rule.operation)),
]);

/** What a decision needs to know about the child and the file system. */
export interface SpawnContext {
  /** The mount root (`/media/startos`). */
  root: string;
  /** The profile's name, for messages. */
  profile: string;
  /** The operations the profile allows. */
  allowed: readonly SpawnOperation[];
  /** The rootfs this child may use (created by it; this call's for a procedure), normalised. */
  rootfs: readonly string[];
  /** Earlier brokered mounts of this child (target → source), which the runtime cannot see. */
  mounts: readonly { target: string; source: string }[];
  /**
   * The canonical path (symlinks resolved) of an existing path, or null when it is missing.
   * @param path an absolute, normalised path in the runtime's view of the file system
   * @returns the canonical path, or null when nothing is there
   */
  realPath(path: string): string | null;
  /**
   * The names in a directory (for the globs of a `sh -c` script), or null when it cannot be listed.
   * @param path an absolute, normalised path
   */
  listDir(path: string): string[] | null;
}

/** An allowed request: what to run (program by name; the runner finds it) and the mount it makes. */
export interface SpawnAllowed {
  /** Always true: the request is allowed. */
  ok: true;
  /** The form the request matched. */
  operation: SpawnOperation;
  /** The program to run, by name. */
  program: BrokeredProgram;
  /** The arguments to run it with: the request's own, as checked. */
  args: string[];
  /** A mount this request makes, for later checks of paths below it. */
  mount?: { target: string; source: string };
  /**
   * Set by `bind-mount-read-only`: the runtime makes `mount.target` read-only
   * (`mount -o remount,bind,ro`) once the program succeeded, before its exit is reported.
   */
  readOnly?: true;
}

/** A refused request: the argument that failed (null when it is the whole form) and why. */
export interface SpawnRefused {
  /** Always false: the request is refused. */
  ok: false;
  /** The argument that failed, as the request gave it; null when the whole form is refused. */
  argument: string | null;
  /** Why, as words that follow the argument in the error (`does not exist`). */
  reason: string;
  /**
   * The command line is malformed (start-container itself would refuse it with a usage error):
   * the request fails as that program would, not as a permission denial.
   */
  malformed?: true;
}

/** The broker's answer to one request. */
export type SpawnDecision = SpawnAllowed | SpawnRefused;

/**
 * Where `path` really is: inside an earlier brokered mount it is the mount's source (the runtime
 * does not see the child's mounts), then symlinks must not move it. Throws when it is missing or
 * a symlink moves it.
 */
function locate(path: string, context: SpawnContext): string {
  const normalized = normalizePath(path);
  let located = normalized;
  const mount = [...context.mounts]
    .sort((a, b) => b.target.length - a.target.length)
    .find((m) => within(normalized, m.target));
  if (mount) located = mount.source + normalized.slice(mount.target.length);
  const real = context.realPath(located);
  if (real === null) throw new Refusal(path, "does not exist");
  if (real !== located) throw new Refusal(path, `goes through a symlink (it resolves to ${real})`);
  return normalized;
}

/** `path`, which must be inside one of this child's rootfs (strictly). */
function inRootfs(path: string, context: SpawnContext): string {
  const normalized = locate(path, context);
  if (!context.rootfs.some((rootfs) => below(normalized, rootfs))) {
    throw new Refusal(path, "is not inside a subcontainer this child created");
  }
  return normalized;
}

/** `path`, which must be at or below one of `bases` (joined to the root). */
function under(path: string, bases: readonly string[], context: SpawnContext): string {
  const normalized = locate(path, context);
  const roots = bases.map((base) => join(context.root, base));
  if (!roots.some((base) => within(normalized, base))) {
    throw new Refusal(path, `is not under ${roots.join(" or ")}`);
  }
  return normalized;
}

function join(base: string, part: string): string {
  return normalizePath(`${base}/${part}`);
}

/** `--name=value` or `--name value` options of start-container's `subcontainer` commands. */
const SUBCONTAINER_OPTION = /^--(env-file|user|workdir|env)=(.*)$/s;
const IMAGE_ENV_FILE = /^[A-Za-z0-9_.-]+\.env$/;

function subcontainer(args: string[], context: SpawnContext): SpawnAllowed {
  const [, verb, ...rest] = args;
  if (verb !== "launch" && verb !== "exec") {
    throw new Refusal(verb ?? null, "only `subcontainer launch` and `subcontainer exec` are run");
  }
  let index = 0;
  for (; index < rest.length && rest[index].startsWith("-"); index++) {
    const option = SUBCONTAINER_OPTION.exec(rest[index]);
    if (!option) throw new Refusal(rest[index], "is not an option start-sdk passes");
    if (option[1] === "env-file") {
      const file = normalizePath(option[2]);
      const dir = join(context.root, "images");
      const name = file.slice(dir.length + 1);
      if (!below(file, dir) || name.includes("/") || !IMAGE_ENV_FILE.test(name)) {
        throw new Refusal(rest[index], `the env file must be ${dir}/<image>.env`);
      }
    }
  }
  const rootfs = rest[index];
  if (rootfs === undefined) throw new Refusal(null, "no rootfs given", true);
  const normalized = normalizePath(rootfs);
  if (!context.rootfs.includes(normalized)) {
    throw new Refusal(rootfs, "is not a subcontainer this child created");
  }
  locate(rootfs, context);
  // An image without entrypoint or cmd gives `sdk.useEntrypoint()` no command: a usage error.
  if (verb === "exec" && index + 1 >= rest.length) {
    throw new Refusal(null, "no command given", true);
  }
  const operation = verb === "launch" ? "subcontainer-launch" : "subcontainer-exec";
  return { ok: true, operation, program: "start-container", args };
}

const IDMAP = /^\d+:\d+:\d+$/;

function bindMount(args: string[], context: SpawnContext): SpawnAllowed {
  let source: string | undefined;
  let target: string | undefined;
  for (let i = 1; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--recursive" || arg === "--file") continue;
    const value = args[i + 1];
    if (value === undefined) throw new Refusal(arg, "has no value");
    if (arg === "--source" && source === undefined) source = value;
    else if (arg === "--target" && target === undefined) target = value;
    else if (arg === "--idmap" && IDMAP.test(value)) {
      // a uid/gid mapping: numbers only
    } else throw new Refusal(arg, "is not an option start-sdk passes to bind-mount");
    i++;
  }
  if (source === undefined || target === undefined) {
    throw new Refusal(null, "bind-mount needs --source and --target");
  }
  const from = under(source, ["volumes", "assets"], context);
  const to = inRootfs(target, context);
  return {
    ok: true,
    operation: "bind-mount",
    program: "start-container",
    args,
    mount: { target: to, source: from },
  };
}

const SHARED_DIRS: readonly string[] = Object.freeze(["/dev", "/sys", "/run"]);

function mount(args: string[], context: SpawnContext): SpawnAllowed {
  if (args.length !== 3 || args[0] !== "--rbind") {
    throw new Refusal(args[0] ?? null, "only `mount --rbind SOURCE TARGET` is run");
  }
  const source = normalizePath(args[1]);
  const backup = join(context.root, "backup");
  const operation: SpawnOperation | null = SHARED_DIRS.includes(source)
    ? "rbind-shared"
    : source === backup
    ? "rbind-backup"
    : null;
  if (operation === null) {
    throw new Refusal(args[1], `only ${[...SHARED_DIRS, backup].join(", ")} are rbound`);
  }
  if (operation === "rbind-backup") locate(args[1], context);
  const target = inRootfs(args[2], context);
  return { ok: true, operation, program: "mount", args, mount: { target, source } };
}

/** The options Backups passes to rsync; values after `=` are checked where they matter. */
const RSYNC_FLAGS: readonly string[] = Object.freeze([
  "--delete",
  "-rlptgoAXH",
  "--partial",
  "--inplace",
  "--info=progress2",
]);
const RSYNC_TIMEOUT = /^--timeout=\d{1,6}$/;
const RSYNC_EXCLUDE = /^--exclude=[^\n]*$/;

function rsync(args: string[], context: SpawnContext): SpawnAllowed {
  const paths: string[] = [];
  for (const arg of args) {
    if (arg.startsWith("-")) {
      if (RSYNC_FLAGS.includes(arg) || RSYNC_TIMEOUT.test(arg) || RSYNC_EXCLUDE.test(arg)) {
        continue;
      }
      throw new Refusal(arg, "is not an option start-sdk's Backups passes to rsync");
    }
    paths.push(arg);
  }
  if (paths.length !== 2) throw new Refusal(null, "rsync takes exactly a source and a destination");
  const [source, destination] = paths;
  const volumes = join(context.root, "volumes");
  const backup = join(context.root, "backup");
  const from = locate(source, context);
  const to = locate(destination, context);
  if (within(from, volumes) && within(to, backup)) {
    return { ok: true, operation: "rsync-backup", program: "rsync", args };
  }
  if (within(from, backup) && within(to, volumes)) {
    return { ok: true, operation: "rsync-restore", program: "rsync", args };
  }
  throw new Refusal(
    within(from, volumes) || within(from, backup) ? destination : source,
    `rsync copies only between ${volumes} and ${backup}`,
  );
}

/** A file utility or `sh -c` script (lib/policy/file_utilities.ts): what to run, as checked. */
function fileUtility(command: string, args: string[], context: SpawnContext): SpawnAllowed {
  const run = checkFileUtility(command, args, context);
  return { ok: true, operation: "file-utilities", program: run.program, args: run.args };
}

/**
 * Decides one spawn request of a child: allowed (with the operation it is) or refused (with the
 * argument that failed and why).
 *
 * @param command the program as the package named it (`start-container` or an absolute path)
 * @param args its arguments
 * @param context the child's profile, subcontainers and a view of the file system
 * @returns the decision
 * @example
 * ```ts
 * const decision = checkSpawn("mount", ["--rbind", "/dev", "/media/startos/subcontainers/g/dev"], context);
 * if (!decision.ok) console.log(decision.argument, decision.reason);
 * ```
 */
export function checkSpawn(command: string, args: string[], context: SpawnContext): SpawnDecision {
  const program = brokeredProgram(command);
  try {
    if (program === null) {
      throw new Refusal(command, "is not a program the runtime runs for package code");
    }
    const forms = SPAWN_RULES.filter((rule) => rule.programs.includes(program));
    if (!forms.some((rule) => context.allowed.includes(rule.operation))) {
      throw new Refusal(
        null,
        `the ${context.profile} profile may not run ${program} at all (allowed: ${
          context.allowed.join(", ") || "none"
        })`,
      );
    }
    let decision: SpawnAllowed;
    if (forms.some((rule) => rule.operation === "file-utilities")) {
      decision = fileUtility(command, args, context);
    } else if (program === "rsync") decision = rsync(args, context);
    else if (program === "mount") decision = mount(args, context);
    else if (args[0] === "subcontainer") decision = subcontainer(args, context);
    else if (args[0] === "bind-mount") decision = bindMount(args, context);
    else {
      throw new Refusal(
        args[0] ?? null,
        "only `start-container subcontainer launch|exec` and `bind-mount` are run",
      );
    }
    // A profile that may only mount read-only gets the same mount, made read-only afterwards.
    if (
      decision.operation === "bind-mount" && !context.allowed.includes("bind-mount") &&
      context.allowed.includes("bind-mount-read-only")
    ) {
      decision = { ...decision, operation: "bind-mount-read-only", readOnly: true };
    }
    if (!context.allowed.includes(decision.operation)) {
      throw new Refusal(
        null,
        `the ${context.profile} profile may not ${decision.operation} (allowed: ${
          context.allowed.join(", ") || "none"
        })`,
      );
    }
    return decision;
  } catch (error) {
    if (error instanceof Refusal) {
      const refused: SpawnRefused = { ok: false, argument: error.argument, reason: error.message };
      return error.malformed ? { ...refused, malformed: true } : refused;
    }
    throw error;
  }
}
