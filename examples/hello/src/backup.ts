/**
 * createBackup: copies the `main` volume into `${root}/backup/volumes/main`,
 * reporting progress in bytes with `set-backup-progress` after every file.
 * Runs with the `backup` profile: read the root, write volumes and backup.
 */

import { copyFile, mkdir, readdir, stat } from "node:fs/promises";
import type { T } from "@start9labs/start-sdk";
import { mountRoot, volume } from "./paths.ts";

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => `${entry.parentPath}/${entry.name}`.slice(dir.length + 1))
    .sort();
}

/** Copies the volume file by file and reports progress as it goes. */
export async function createBackup({ effects }: { effects: T.Effects }): Promise<null> {
  const source = volume();
  const target = `${mountRoot()}/backup/volumes/main`;
  const files = await filesUnder(source);
  const sizes = await Promise.all(
    files.map(async (file) => (await stat(`${source}/${file}`)).size),
  );
  const total = sizes.reduce((sum, size) => sum + size, 0);
  let done = 0;
  const report = () => effects.setBackupProgress({ progress: { done, total, units: "bytes" } });
  await report();
  for (const [index, file] of files.entries()) {
    const to = `${target}/${file}`;
    await mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    await copyFile(`${source}/${file}`, to);
    done += sizes[index];
    await report();
  }
  console.log(`backup: copied ${files.length} files (${total} bytes) to ${target}`);
  return null;
}
