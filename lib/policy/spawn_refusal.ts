/**
 * What the spawn broker's checks throw when a request fails, and the path check they share
 * (lib/policy/spawn_rules.ts, lib/policy/file_utilities.ts).
 * @module
 */

/** A refused request: the argument that failed (null: the whole form) and why. */
export class SpawnRefusal extends Error {
  /**
   * @param argument the argument as the request gave it, or null
   * @param reason why, as words that follow the argument in the error (`does not exist`)
   * @param malformed the command line is not one the program itself would run (no command after
   *   the rootfs): answered as the program's own failure would be, not as a permission denial
   */
  constructor(
    readonly argument: string | null,
    reason: string,
    readonly malformed = false,
  ) {
    super(reason);
  }
}

/**
 * `path` with duplicate and trailing slashes collapsed; throws {@linkcode SpawnRefusal} unless it
 * is absolute and free of `.`/`..` and NUL.
 * @example
 * ```ts
 * normalizePath("/media/startos//volumes/main/"); // "/media/startos/volumes/main"
 * ```
 * @param path the path as a request gave it
 * @returns the normalised path (`/` for the root)
 */
export function normalizePath(path: string): string {
  if (!path.startsWith("/")) throw new SpawnRefusal(path, "not an absolute path");
  if (path.includes("\0")) throw new SpawnRefusal(path, "contains a NUL character");
  const parts = path.split("/").filter((part) => part !== "");
  if (parts.some((part) => part === "." || part === "..")) {
    throw new SpawnRefusal(path, "contains a '.' or '..' segment");
  }
  return "/" + parts.join("/");
}
