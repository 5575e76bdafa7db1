/**
 * Writes the dev stand-ins (`start-container`, `mount`) into the dev root's `dev-host/bin`, each
 * the checked-in script beside this file with its settings (absolute paths) set in front: start-sdk
 * spawns them with whatever environment a command was given, sometimes without PATH, so nothing
 * may come from the environment.
 */

import { REPO_ROOT } from "../start_flags.ts";

const HERE = new URL("./", import.meta.url).pathname;

/** The settings baked into the stand-ins. */
export interface StandinSettings {
  /** Where the stand-ins are written. */
  bin: string;
  /** The log every stand-in appends one line to per call. */
  log: string;
  /** The dev host's state file (the ports the package bound). */
  state: string;
  /** Where subcontainer filesystems are, as the package sees it. */
  subcontainers: string;
  /** The directory of the machine's real `mount` and `unshare`, as the stand-ins see it. */
  hostBin: string;
  /** Whether an image folder was given (commands may then run inside image roots). */
  images: boolean;
  /** The deno binary and module cache the stand-in server runs with. */
  deno: string;
  denoDir: string;
}

/** Single-quotes `value` for sh. */
export function shQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The text of stand-in `name` (`start-container` or `mount`) with `settings` set in front. */
export async function standinText(
  name: "start-container" | "mount",
  settings: StandinSettings,
): Promise<string> {
  const body = await Deno.readTextFile(`${HERE}${name}.sh`);
  const values: Record<string, string> = {
    STANDIN_LOG: settings.log,
    STANDIN_DENO: settings.deno,
    STANDIN_DENO_DIR: settings.denoDir,
    STANDIN_CONFIG: `${REPO_ROOT}deno.json`,
    STANDIN_SERVER: `${HERE}port_server.ts`,
    STANDIN_STATE: settings.state,
    STANDIN_SUBS: settings.subcontainers,
    STANDIN_HOST_BIN: settings.hostBin,
    STANDIN_IMAGES: settings.images ? "1" : "",
  };
  const lines = Object.entries(values).map(([key, value]) => `${key}=${shQuote(value)}`);
  return `#!/bin/sh\n# Written by deno task dev (lib/dev/standins/install.ts).\n${
    lines.join("\n")
  }\n${body}`;
}

/** Writes both stand-ins (mode 0755) and empties their log. */
export async function installStandins(settings: StandinSettings): Promise<void> {
  await Deno.mkdir(settings.bin, { recursive: true });
  for (const name of ["start-container", "mount"] as const) {
    const path = `${settings.bin}/${name}`;
    await Deno.writeTextFile(path, await standinText(name, settings), { mode: 0o755 });
    await Deno.chmod(path, 0o755);
  }
  await Deno.writeTextFile(settings.log, "");
}
