/**
 * Checks, after every mount the spawn broker made for a child, that no mount of the child's
 * namespace lies outside its subcontainers.
 *
 * The broker checks a mount's target before it runs `mount` or `start-container bind-mount`, but
 * a process inside the child's subcontainer could swap a component of that path for a symlink
 * between the check and the mount (the program resolves the path again). So once the program
 * ended, the runtime reads the child's mount table (`/proc/<pid>/mountinfo`, with its own `cat`,
 * in its own namespace) and compares it with its own: a mount point the runtime does not have
 * must be inside one of the child's subcontainers. Anything else (a volume bound over
 * `/usr/bin`, say) means the child is killed, and its mount namespace with it, before any other
 * program runs for it: the broker runs nothing else for a child while a mount is unchecked.
 * @module
 */

import { readProcFile } from "./system_programs.ts";

/**
 * The mount points of a `mountinfo` table (field 5, octal escapes undone).
 * @param mountinfo the text of `/proc/<pid>/mountinfo`
 * @returns every mount point, in table order
 */
export function mountPoints(mountinfo: string): string[] {
  return mountinfo.split("\n").filter((line) => line.trim() !== "").map((line) =>
    (line.split(" ")[4] ?? "").replace(
      /\\([0-7]{3})/g,
      (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
    )
  );
}

/**
 * The mount points of `child` that are neither the runtime's nor inside one of `rootfs`.
 * @param child the child namespace's mount points
 * @param runtime the runtime namespace's mount points
 * @param rootfs the subcontainer roots the child may mount inside
 * @returns the mounts that should not be there (empty when all is well)
 */
export function strayMounts(
  child: readonly string[],
  runtime: readonly string[],
  rootfs: readonly string[],
): string[] {
  const known = new Set(runtime);
  return child.filter((point) =>
    !known.has(point) && !rootfs.some((root) => point.startsWith(`${root}/`))
  );
}

/**
 * Reads a process's mount table with the runtime's `cat` (Deno reserves /proc).
 * @param pid the process, or `"self"` for the runtime's own namespace (cat's own table)
 * @returns the text of its `mountinfo`
 */
export function readMountinfo(pid: number | "self"): Promise<string> {
  return readProcFile(`/proc/${pid}/mountinfo`);
}

/**
 * The stray mounts of the child whose namespace leader is `pid`.
 * @param pid the child's namespace leader (its `unshare`)
 * @param rootfs the subcontainer roots the child may mount inside
 * @returns the mount points outside them that the runtime does not have
 */
export async function checkChildMounts(pid: number, rootfs: readonly string[]): Promise<string[]> {
  const [child, runtime] = await Promise.all([readMountinfo(pid), readMountinfo("self")]);
  return strayMounts(mountPoints(child), mountPoints(runtime), rootfs);
}
