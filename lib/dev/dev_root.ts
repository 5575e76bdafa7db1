/**
 * The dev root: the directory `deno task dev --root` names, laid out as StartOS lays out
 * `/media/startos` for a service (volumes, assets, images, backup, rpc), plus `dev-host/` (the dev
 * host's state, the stand-in programs and their log) and `subcontainers/` (subcontainer
 * filesystems). Every volume and image the manifest declares gets its directory.
 */

import type { PackageManifest } from "./package_manifest.ts";

/** The `.env` an image gets when the packager gave none (what a Debian image's config says). */
export const DEFAULT_IMAGE_ENV =
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n";
/** The `.json` (image config) an image gets when the packager gave none. */
export const DEFAULT_IMAGE_CONFIG = { user: "root", workdir: "/" };

/**
 * The image config of an image that stands in (no root filesystem given): the default one, and an
 * entrypoint named after the image, so that a daemon started with `sdk.useEntrypoint()` (the
 * image's own command) has a command line, which the stand-in serves as a daemon.
 * @param id the image id
 */
export function standInImageConfig(id: string) {
  return { ...DEFAULT_IMAGE_CONFIG, entrypoint: [`${id}-entrypoint`], cmd: [] };
}

/** Paths under a dev root. */
export interface DevRoot {
  /** The root as this process sees it. */
  root: string;
  /** The dev host's directory (state, stand-ins, their log, overlay layers). */
  devHost: string;
  /** The stand-in programs' directory. */
  bin: string;
  /** The stand-ins' log. */
  standinLog: string;
  /** The dev host's state file. */
  state: string;
}

/** The paths of the dev root `root`. */
export function devRootPaths(root: string): DevRoot {
  const devHost = `${root}/dev-host`;
  return {
    root,
    devHost,
    bin: `${devHost}/bin`,
    standinLog: `${devHost}/standins.log`,
    state: `${devHost}/state.json`,
  };
}

/** An image's rootfs in the packager's `--images` folder, or why it is not used. */
export type ImageSource = { id: string; rootfs: string } | { id: string; missing: string };

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Writes `text` to `path` unless the file exists (the packager's own file wins). */
async function writeIfMissing(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text, { createNew: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
}

/**
 * Makes the root's directories: `rpc`, `assets`, `backup`, `subcontainers`, `dev-host/bin`,
 * `volumes/<id>` for every manifest volume, and for every image `images/<id>/` with
 * `images/<id>.json` and `.env`. With `imagesDir`, the image's `.json`/`.env` are copied from
 * `<imagesDir>/<id>.json`/`.env` when present; its rootfs `<imagesDir>/<id>/` is mounted on
 * `images/<id>/` inside the dev namespace (never copied). Returns each image's source.
 */
export async function prepareRoot(
  paths: DevRoot,
  manifest: PackageManifest,
  imagesDir: string | null,
): Promise<ImageSource[]> {
  const { root } = paths;
  const dirs = ["rpc", "assets", "backup", "subcontainers", "images", "dev-host/bin"];
  for (const dir of dirs) await Deno.mkdir(`${root}/${dir}`, { recursive: true });
  for (const volume of manifest.volumes) {
    await Deno.mkdir(`${root}/volumes/${volume}`, { recursive: true });
  }
  await Deno.mkdir(`${root}/volumes`, { recursive: true });
  const sources: ImageSource[] = [];
  for (const id of manifest.images) {
    await Deno.mkdir(`${root}/images/${id}`, { recursive: true });
    const given = imagesDir === null ? null : {
      config: await readIfExists(`${imagesDir}/${id}.json`),
      env: await readIfExists(`${imagesDir}/${id}.env`),
    };
    const source: ImageSource = imagesDir === null
      ? { id, missing: "no --images folder" }
      : await isDirectory(`${imagesDir}/${id}`)
      ? { id, rootfs: `${imagesDir}/${id}` }
      : { id, missing: `${imagesDir}/${id}/ does not exist` };
    if (given?.config != null) await Deno.writeTextFile(`${root}/images/${id}.json`, given.config);
    else {
      const config = "rootfs" in source ? DEFAULT_IMAGE_CONFIG : standInImageConfig(id);
      await writeIfMissing(`${root}/images/${id}.json`, JSON.stringify(config) + "\n");
    }
    if (given?.env != null) await Deno.writeTextFile(`${root}/images/${id}.env`, given.env);
    else await writeIfMissing(`${root}/images/${id}.env`, DEFAULT_IMAGE_ENV);
    sources.push(source);
  }
  return sources;
}
