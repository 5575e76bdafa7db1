/**
 * The dev namespace: start-sdk hardcodes `/media/startos`, so the runtime (and with it every child
 * and every program they run) is started inside a private mount namespace where the dev root is
 * bind-mounted on `/media/startos`. The machine's own `/media/startos` is never touched: the
 * namespace first mounts a small tmpfs on `/media` and makes `startos` in it, and everything
 * mounted there disappears with the runtime. Inside the same namespace the stand-in programs are
 * laid over `/usr/bin` with a read-only overlay (start-sdk spawns `start-container` and `mount`
 * by name, sometimes with an environment without PATH, where only `/usr/bin` and `/bin` are
 * searched), and the real `/usr/bin` stays reachable at `/media/.startos-dev/host-bin` for the
 * dev host's own mounts.
 *
 * As root this is `unshare --mount --propagation private`; otherwise an unprivileged user
 * namespace (`unshare --user --map-root-user --mount`) where the kernel allows it; where neither
 * works the runtime runs without one and the root is used as given (SDK packages then fail on
 * `/media/startos`, and the dev session says so at startup).
 */

import { SYSTEM_PROGRAM_DIRS } from "../protocol/channel.ts";

/** Where the package sees the dev root inside the namespace. */
export const MEDIA_STARTOS = "/media/startos";
/** The namespace's own directory (on its tmpfs): `host-bin` is the machine's real `/usr/bin`. */
export const NAMESPACE_STASH = "/media/.startos-dev";
/** The real `mount` inside the namespace (`/usr/bin/mount` there is the stand-in). */
export const HOST_MOUNT = `${NAMESPACE_STASH}/host-bin/mount`;
/** Where programs are searched by default (the runtime's `STARTOS_PROGRAM_DIRS` contract). */
export const DEFAULT_PROGRAM_DIRS: string = SYSTEM_PROGRAM_DIRS.join(":");

const UNSHARE = "/usr/bin/unshare";

/** How the runtime is isolated. */
export type Isolation =
  | {
    kind: "namespace";
    /** An unprivileged user namespace (not root): `--user --map-root-user`. */
    user: boolean;
    /** Whether the stand-ins can be laid over `/usr/bin` (else: PATH and program dirs only). */
    overlay: boolean;
    /** Why the overlay is not available, when it is not. */
    overlayProblem: string | null;
  }
  | { kind: "none"; reason: string };

/** The `unshare` arguments before the command for `isolation`. */
function unshareArgs(user: boolean): string[] {
  return [...(user ? ["--user", "--map-root-user"] : []), "--mount", "--propagation", "private"];
}

/** Whether `path` is `/media` or below it (hidden inside the namespace). */
export function underMedia(path: string): boolean {
  return path === "/media" || path.startsWith("/media/");
}

/** A path that cannot go into an overlay option or PATH list (`:` and `,` separate entries). */
export function unusableInLists(path: string): boolean {
  return /[:,\n]/.test(path);
}

const PROBE_SCRIPT = [
  "mount -t tmpfs -o mode=0755,size=64k startos-dev-probe /media || exit 3",
  'mount -t overlay startos-dev-probe -o "lowerdir=$0:/usr/bin" /usr/bin 2>&1 && echo overlay-ok',
  "exit 0",
].join("\n");

/**
 * Finds out how the runtime can be isolated here, by trying it once in a throwaway namespace (a
 * tmpfs on /media and the overlay onto /usr/bin, both gone when the probe exits).
 */
export async function probeIsolation(): Promise<Isolation> {
  try {
    if (!(await Deno.stat("/media")).isDirectory) {
      return { kind: "none", reason: "/media is not a directory" };
    }
  } catch {
    return {
      kind: "none",
      reason: "/media does not exist (the namespace mounts over it, never creates it)",
    };
  }
  try {
    await Deno.stat(UNSHARE);
  } catch {
    return { kind: "none", reason: `${UNSHARE} is not installed (util-linux)` };
  }
  const empty = await Deno.makeTempDir({ prefix: "startos-dev-probe-" });
  try {
    // As root a plain mount namespace; otherwise (the first fails) a user namespace.
    const attempts = [false, true];
    const problems: string[] = [];
    for (const user of attempts) {
      const result = await new Deno.Command(UNSHARE, {
        args: [...unshareArgs(user), "/bin/sh", "-c", PROBE_SCRIPT, empty],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(result.stdout).trim();
      if (result.success) {
        const overlay = out.endsWith("overlay-ok");
        return {
          kind: "namespace",
          user,
          overlay,
          overlayProblem: overlay ? null : out.split("\n").at(-1) || "the overlay mount failed",
        };
      }
      const stderr = new TextDecoder().decode(result.stderr).trim().split("\n").at(-1);
      problems.push(
        `${UNSHARE} ${unshareArgs(user).join(" ")}: ${stderr || `exit ${result.code}`}`,
      );
    }
    return { kind: "none", reason: problems.join("; ") };
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
}

/** What the namespace is built from. */
export interface NamespacePlan {
  /** The dev root (mounted on /media/startos). */
  root: string;
  /** The stand-ins' directory, laid over /usr/bin (null: no overlay). */
  overlayBin: string | null;
  /** Image root filesystems mounted read-only on /media/startos/images/<id>. */
  images: { id: string; rootfs: string }[];
}

/** The namespace's setup script: argv is `root bin count (id rootfs)... -- command...`. */
const SETUP_SCRIPT = [
  "set -e",
  "root=$1 bin=$2 count=$3; shift 3",
  "mount -t tmpfs -o mode=0755,size=1m startos-dev /media",
  `mkdir -p ${MEDIA_STARTOS} ${NAMESPACE_STASH}/host-bin ${NAMESPACE_STASH}/layers`,
  // The writable layers of image overlays (subcontainers.ts): memory that ends with the runtime.
  `mount -t tmpfs -o mode=0700 startos-dev-layers ${NAMESPACE_STASH}/layers`,
  `mount --bind "$root" ${MEDIA_STARTOS}`,
  'while [ "$count" -gt 0 ]; do',
  `  mount -o bind,ro "$2" "${MEDIA_STARTOS}/images/$1"`,
  "  shift 2; count=$((count - 1))",
  "done",
  `mount --bind /usr/bin ${NAMESPACE_STASH}/host-bin`,
  // Shared within this namespace only (its mounts were made private first): children that get
  // a mount namespace of their own as a slave then see the image overlays mounted later.
  "mount --make-rshared /",
  'if [ -n "$bin" ]; then mount -t overlay startos-dev-bin -o "lowerdir=$bin:/usr/bin" /usr/bin; fi',
  'exec "$@"',
].join("\n");

/** The argv that runs `command` inside the dev namespace. */
export function namespaceArgv(user: boolean, plan: NamespacePlan, command: string[]): string[] {
  const images = plan.images.flatMap(({ id, rootfs }) => [id, rootfs]);
  return [
    UNSHARE,
    ...unshareArgs(user),
    "/bin/sh",
    "-c",
    SETUP_SCRIPT,
    "startos-dev-namespace",
    plan.root,
    plan.overlayBin ?? "",
    String(plan.images.length),
    ...images,
    ...command,
  ];
}

/** The argv prefix that runs a program inside the runtime's namespace (for the dev host). */
export function enterArgv(pid: number, user: boolean): string[] {
  // In a user namespace made with --map-root-user, setgroups is denied: keep the credentials
  // (the outer uid is root there) instead of switching to uid 0.
  const userArgs = user ? ["--user", "--preserve-credentials"] : [];
  return ["/usr/bin/nsenter", `--target=${pid}`, ...userArgs, "--mount", "--"];
}
