/**
 * Removes a directory tree without ever leaving it: symlinks are removed, never followed, and an
 * entry that is a known mount point, or a directory on another device (a mount point nobody
 * listed), stops the removal with an error instead of being entered. The caller unmounts what it
 * knows about first; this is the second line of defence for a subcontainer rootfs, where a real
 * `mount --rbind /dev` or a volume's bind mount would otherwise let a recursive delete reach the
 * machine's `/dev` or the volume's data.
 */

/** Raised when the tree holds a mount point; nothing below it was touched. */
export class MountPointError extends Error {
  /** Creates the error naming the entry that is a mount point. */
  constructor(readonly path: string) {
    super(`${path} is a mount point: not removed`);
    this.name = "MountPointError";
  }
}

async function removeBelow(path: string, device: number, mounts: ReadonlySet<string>) {
  for await (const entry of Deno.readDir(path)) {
    const child = `${path}/${entry.name}`;
    if (mounts.has(child)) throw new MountPointError(child);
    const info = await Deno.lstat(child);
    if (info.isDirectory) {
      if (info.dev !== device) throw new MountPointError(child);
      await removeBelow(child, device, mounts);
    }
    await Deno.remove(child);
  }
}

/**
 * Removes `path` and everything below it; a missing `path` is fine. `mounts` are mount points (as
 * this process sees paths) that must not be removed or entered.
 */
export async function removeTree(
  path: string,
  mounts: ReadonlySet<string> = new Set(),
): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (mounts.has(path)) throw new MountPointError(path);
  if (info.isDirectory) await removeBelow(path, info.dev, mounts);
  await Deno.remove(path);
}
