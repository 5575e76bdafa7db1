/**
 * Reads a package's manifest without running package code in this process:
 * a child with read access to the package's directory only (no env, no net,
 * no writes, as the sandbox profile) loads the module and prints it.
 */

import { z } from "zod";
import { resolveDenoDir } from "../process/child_binary.ts";
import { json } from "./shapes.ts";

/** What the dev host needs from a manifest. */
export interface PackageManifest {
  id: string;
  version: string | null;
  /** The whole manifest as the package exports it. */
  raw: z.infer<typeof json>;
}

const PROBE = new URL("./manifest_probe.ts", import.meta.url).pathname;
const TIMEOUT_MS = 15_000;
const output = z.union([z.object({ manifest: json }), z.object({ error: z.string() })]);
const fields = z.looseObject({ id: z.string().min(1), version: z.string().optional() });

/** Loads `packagePath` in a confined child and returns its manifest; throws a readable Error. */
export async function readManifest(packagePath: string): Promise<PackageManifest> {
  const dir = packagePath.slice(0, packagePath.lastIndexOf("/")) || "/";
  const env = (name: string) => Deno.env.get(name);
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      "--no-lock",
      "--cached-only",
      "--quiet",
      `--allow-read=${dir}`,
      PROBE,
      packagePath,
    ],
    clearEnv: true,
    env: { NO_COLOR: "1", DENO_DIR: resolveDenoDir(env) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  }).output();
  const stdout = new TextDecoder().decode(result.stdout).trim().split("\n").at(-1) ?? "";
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr).trim().split("\n").slice(0, 3);
    throw new Error(`cannot load ${packagePath}: ${stderr.join(" / ") || `exit ${result.code}`}`);
  }
  let answer: z.infer<typeof output>;
  try {
    answer = output.parse(JSON.parse(stdout));
  } catch {
    throw new Error(`loading ${packagePath} printed no manifest`);
  }
  if ("error" in answer) throw new Error(answer.error);
  const manifest = answer.manifest;
  const parsed = fields.safeParse(manifest);
  if (!parsed.success) throw new Error(`${packagePath} exports no manifest with a string id`);
  return { id: parsed.data.id, version: parsed.data.version ?? null, raw: json.parse(manifest) };
}
