/**
 * Subcontainer filesystems (`subcontainer.create-fs` / `destroy-fs`): a directory per guid under
 * `<root>/subcontainers/`, returned as the package sees it (`/media/startos/subcontainers/<guid>`
 * inside the dev namespace). With an image folder, the image's rootfs is mounted there with an
 * overlay in the runtime's namespace (its writable layer on that namespace's tmpfs), as StartOS
 * mounts an image for a subcontainer.
 *
 * Removal never crosses a mount point: mounts at or below the rootfs, in the dev host's own
 * namespace and in the runtime's, are unmounted first (`umount --recursive --lazy`); if any is
 * left the rootfs is not removed and the effect fails saying so; the removal itself refuses to
 * enter any mount point it still meets (`remove_tree.ts`).
 */

import { RpcError } from "../jsonrpc/errors.ts";
import { ErrorKind } from "../protocol/error_codes.ts";
import type { Logger } from "../log.ts";
import { mountsAtOrUnder, outermost, readMountPoints } from "./mounts.ts";
import { enterArgv, HOST_MOUNT, MEDIA_STARTOS, NAMESPACE_STASH } from "./namespace.ts";
import { MountPointError, removeTree } from "./remove_tree.ts";

/** The runtime's namespace, once it runs (null: no namespace, or the runtime is gone). */
export interface RuntimeNamespace {
  pid: number;
  /** Entered with `--user` too (an unprivileged user namespace). */
  user: boolean;
}

/** Options of `Subcontainers`. */
export interface SubcontainersOptions {
  /** The dev root, as the dev host sees it. */
  root: string;
  /** The dev root as the package sees it (`/media/startos` in the namespace, else `root`). */
  seenRoot: string;
  /** Image ids whose rootfs is mounted on `images/<id>` in the namespace (`--images`). */
  images: ReadonlySet<string>;
  log: Logger;
}

/** A subcontainer filesystem just made. */
export interface MadeFs {
  guid: string;
  /** The rootfs as the package sees it. */
  rootfs: string;
  /** Whether the image's rootfs is mounted on it. */
  image: boolean;
}

const LAYERS = `${NAMESPACE_STASH}/layers`;

async function run(argv: string[]): Promise<{ ok: boolean; message: string }> {
  try {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr).trim() ||
      new TextDecoder().decode(out.stdout).trim();
    return { ok: out.success, message: text || `exit ${out.code}` };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

/** Makes and removes subcontainer filesystems. */
export class Subcontainers {
  readonly #options: SubcontainersOptions;
  #runtime: RuntimeNamespace | null = null;

  /** Creates the manager; nothing is touched before the first call. */
  constructor(options: SubcontainersOptions) {
    this.#options = options;
  }

  /** Tells the manager where the runtime's namespace is (null when it ended or there is none). */
  attach(runtime: RuntimeNamespace | null): void {
    this.#runtime = runtime;
  }

  /** The rootfs of `guid` as the dev host sees it. */
  realPath(guid: string): string {
    return `${this.#options.root}/subcontainers/${guid}`;
  }

  /** The rootfs of `guid` as the package sees it. */
  seenPath(guid: string): string {
    return `${this.#options.seenRoot}/subcontainers/${guid}`;
  }

  /** Makes a rootfs for `imageId`: the image's own root with an image folder, else empty. */
  async create(imageId: string): Promise<MadeFs> {
    const guid = crypto.randomUUID();
    await Deno.mkdir(this.realPath(guid), { recursive: true });
    const rootfs = this.seenPath(guid);
    const runtime = this.#runtime;
    if (!this.#options.images.has(imageId) || runtime === null) {
      return { guid, rootfs, image: false };
    }
    const script = 'set -e; mkdir -p "$1/upper" "$1/work"; ' +
      '"$2" -t overlay startos-dev-image -o "lowerdir=$3,upperdir=$1/upper,workdir=$1/work" "$4"';
    const mounted = await run([
      ...enterArgv(runtime.pid, runtime.user),
      "/bin/sh",
      "-c",
      script,
      "sh",
      `${LAYERS}/${guid}`,
      HOST_MOUNT,
      `${MEDIA_STARTOS}/images/${imageId}`,
      rootfs,
    ]);
    if (!mounted.ok) {
      this.#options.log.warn("image not mounted; its commands stand in", {
        image: imageId,
        guid,
        reason: mounted.message,
      });
      return { guid, rootfs, image: false };
    }
    return { guid, rootfs, image: true };
  }

  /** Mount points at or below `guid`'s rootfs, as the dev host sees paths, in both namespaces. */
  async #mountsOf(guid: string): Promise<{ own: string[]; runtime: string[] }> {
    const own = mountsAtOrUnder(await readMountPoints("self"), this.realPath(guid));
    const runtime = this.#runtime === null
      ? []
      : mountsAtOrUnder(await readMountPoints(this.#runtime.pid), this.seenPath(guid));
    return { own, runtime };
  }

  /** Unmounts what is mounted at or below `guid`'s rootfs; returns what could not be unmounted. */
  async #unmount(guid: string): Promise<string[]> {
    const found = await this.#mountsOf(guid);
    const failures: string[] = [];
    for (const point of outermost(found.own)) {
      const result = await run(["umount", "--recursive", "--lazy", point]);
      if (!result.ok) failures.push(`${point}: ${result.message}`);
    }
    const runtime = this.#runtime;
    if (runtime !== null && found.runtime.length > 0) {
      for (const point of outermost(found.runtime)) {
        const result = await run([
          ...enterArgv(runtime.pid, runtime.user),
          `${NAMESPACE_STASH}/host-bin/umount`,
          "--recursive",
          "--lazy",
          point,
        ]);
        if (!result.ok) failures.push(`${point} (in the dev namespace): ${result.message}`);
      }
    }
    const left = await this.#mountsOf(guid);
    const remaining = [...left.own, ...left.runtime.map((p) => `${p} (in the dev namespace)`)];
    return remaining.length === 0 ? [] : [...remaining, ...failures];
  }

  /** Removes `guid`'s rootfs after unmounting everything in it; refuses (error 1) otherwise. */
  async destroy(guid: string): Promise<void> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(guid)) {
      throw refusal(`${this.#options.root}/subcontainers/…`, `${JSON.stringify(guid)} is no guid`);
    }
    const left = await this.#unmount(guid);
    if (left.length > 0) {
      throw refusal(
        this.realPath(guid),
        `mount points are still in it (${left.join("; ")}); unmount them ` +
          "(umount --recursive), then delete it",
      );
    }
    const real = this.realPath(guid);
    try {
      await removeTree(real, new Set(await this.#knownMounts()));
    } catch (error) {
      if (error instanceof MountPointError) {
        throw refusal(real, `${error.message}; unmount it, then delete the rest`);
      }
      throw error;
    }
    const runtime = this.#runtime;
    if (runtime !== null && this.#options.images.size > 0) {
      await run([
        ...enterArgv(runtime.pid, runtime.user),
        "/bin/rm",
        "-rf",
        "--one-file-system",
        `${LAYERS}/${guid}`,
      ]);
    }
  }

  /** Every mount point below the dev root in either namespace, as the dev host sees paths. */
  async #knownMounts(): Promise<string[]> {
    const { root, seenRoot } = this.#options;
    const own = mountsAtOrUnder(await readMountPoints("self"), root);
    if (this.#runtime === null) return own;
    const theirs = mountsAtOrUnder(await readMountPoints(this.#runtime.pid), seenRoot)
      .map((p) => root + p.slice(seenRoot.length));
    return [...own, ...theirs];
  }

  /** Removes every rootfs left under `<root>/subcontainers` (a previous session's); returns how many. */
  async removeLeftovers(): Promise<number> {
    let count = 0;
    for await (const entry of Deno.readDir(`${this.#options.root}/subcontainers`)) {
      try {
        await this.destroy(entry.name);
        count++;
      } catch (error) {
        if (!(error instanceof RpcError)) throw error;
        const data = error.data;
        this.#options.log.warn("a leftover subcontainer filesystem is kept", {
          reason: typeof data === "object" ? data?.details : error.message,
        });
      }
    }
    return count;
  }
}

/** Error 1: `path` was not removed, and why. */
function refusal(path: string, why: string): RpcError {
  return new RpcError(ErrorKind.Unknown, "subcontainer filesystem not removed", {
    details: `${path} was not removed: ${why}`,
  });
}
