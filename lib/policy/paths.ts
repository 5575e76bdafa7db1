/**
 * Normalised absolute paths as the permission policy and the spawn broker compare them, and the
 * directory listing both read (lib/policy/permissions.ts, spawn_rules.ts, file_utilities.ts).
 * @module
 */

/**
 * Whether `path` is `base` or lies under it (both normalised absolute paths).
 * @example
 * ```ts
 * within("/media/startos/volumes/main", "/media/startos"); // true
 * ```
 */
export function within(path: string, base: string): boolean {
  return path === base || path.startsWith(base === "/" ? "/" : `${base}/`);
}

/** Whether `path` lies strictly under `base` (both normalised). */
export function below(path: string, base: string): boolean {
  return path !== base && within(path, base);
}

/** The directory a normalised absolute path is in (`/` for `/x`). */
export function parentOf(path: string): string {
  const at = path.lastIndexOf("/");
  return at <= 0 ? "/" : path.slice(0, at);
}

/** The names in a directory, or null when it cannot be listed (missing, not a directory). */
export type DirectoryLister = (dir: string) => string[] | null;

/** Lists `dir` on this machine (null when it cannot be listed). */
export const listDirectory: DirectoryLister = (dir) => {
  try {
    return Array.from(Deno.readDirSync(dir), (entry) => entry.name);
  } catch {
    return null;
  }
};
