/**
 * Enough of a path's `stat` to tell that it changed between two looks: the package host takes one
 * when it answers `idle`, the runtime another once it watches the path for the retired host
 * (process/host_watch.ts); a difference means a change fell between the two. Shared by the child
 * and the runtime, so it imports nothing.
 * @module
 */

/** A path's state: what changes when the file is written, replaced or its directory's entries change. */
export interface FileState {
  /** Modification time (ms since the epoch). */
  mtimeMs: number;
  /** Status change time (ms since the epoch). */
  ctimeMs: number;
  /** Size in bytes. */
  size: number;
  /** Inode number (a file replaced by a rename has another). */
  ino: number;
}

/**
 * The state of `path` now.
 * @example
 * ```ts
 * const before = fileState("/media/startos/volumes/main/store.json");
 * // …
 * const changed = !sameState(before, fileState("/media/startos/volumes/main/store.json"));
 * ```
 * @param path an absolute path
 * @returns its state, or null when it does not exist (or cannot be read)
 */
export function fileState(path: string): FileState | null {
  try {
    const info = Deno.statSync(path);
    return {
      mtimeMs: info.mtime?.getTime() ?? 0,
      ctimeMs: info.ctime?.getTime() ?? 0,
      size: info.size,
      ino: info.ino ?? 0,
    };
  } catch {
    return null;
  }
}

/** Whether two looks saw the same state (both absent counts as the same). */
export function sameState(a: FileState | null, b: FileState | null): boolean {
  if (a === null || b === null) return a === b;
  return a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.size === b.size &&
    a.ino === b.ino;
}
