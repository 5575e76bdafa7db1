/**
 * Reads a package's manifest without running package code in this process: a child loads the
 * module and prints it. The child may read the package's directory only; no net, no writes. Its
 * environment is emptied but for `LANG`, and reading the environment is allowed: start-sdk's
 * `setupI18n` reads `LANG` while the bundle loads (every published package does), and package code
 * that reads other variables at load sees them unset instead of failing.
 */

import { z } from "zod";
import { resolveDenoDir } from "../process/child_binary.ts";
import { json } from "./shapes.ts";

/** What the dev host needs from a manifest. */
export interface PackageManifest {
  id: string;
  version: string | null;
  /** Volume ids (`volumes/<id>` is made for each). */
  volumes: string[];
  /** Image ids (`images/<id>.json` and `.env` are made for each). */
  images: string[];
  /** The whole manifest as the package exports it. */
  raw: z.infer<typeof json>;
}

const PROBE = new URL("./manifest_probe.ts", import.meta.url).pathname;
const TIMEOUT_MS = 30_000;
const output = z.union([z.object({ manifest: json }), z.object({ error: z.string() })]);
const fields = z.looseObject({
  id: z.string().min(1),
  version: z.string().optional(),
  volumes: z.array(z.string().min(1)).optional(),
  images: z.record(z.string().min(1), json).optional(),
});

/** Ids usable as one path segment (volume and image ids are lowercase words in practice). */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The manifest's fields the dev host uses; throws naming a volume or image id it cannot use. */
export function manifestOf(raw: unknown, source: string): PackageManifest {
  const parsed = fields.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${source} exports no usable manifest (${
        issue.path.join(".") || "manifest"
      }: ${issue.message})`,
    );
  }
  const volumes = parsed.data.volumes ?? [];
  const images = Object.keys(parsed.data.images ?? {});
  for (const id of [...volumes, ...images]) {
    if (!SAFE_ID.test(id)) {
      throw new Error(`${source}: manifest id ${JSON.stringify(id)} is not a plain name`);
    }
  }
  return {
    id: parsed.data.id,
    version: parsed.data.version ?? null,
    volumes,
    images,
    raw: json.parse(raw),
  };
}

/** Loads `packagePath` in a confined child and returns its manifest; throws a readable Error. */
export async function readManifest(packagePath: string): Promise<PackageManifest> {
  const dir = packagePath.slice(0, packagePath.lastIndexOf("/")) || "/";
  const env = (name: string) => Deno.env.get(name);
  const lang = Deno.env.get("LANG");
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      "--no-lock",
      "--cached-only",
      "--quiet",
      `--allow-read=${dir}`,
      "--allow-env",
      PROBE,
      packagePath,
    ],
    clearEnv: true,
    env: { NO_COLOR: "1", DENO_DIR: resolveDenoDir(env), ...(lang ? { LANG: lang } : {}) },
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
  if ("error" in answer) throw new Error(`cannot load ${packagePath}: ${answer.error}`);
  return manifestOf(answer.manifest, packagePath);
}
