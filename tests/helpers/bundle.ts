/**
 * Test helper: bundles a TypeScript package written against `@start9labs/start-sdk` into ONE
 * CommonJS file, the way service packages ship (`/usr/lib/startos/package/index.js`).
 *
 * esbuild (from npm, via the import map) runs fine under Deno, but it resolves bare specifiers
 * through `node_modules` directories, and Deno keeps npm packages in a global cache without one.
 * So the SDK is first installed into a scratch `node_modules` (`deno install`, hard links out
 * of the cache, pinned by the repository's deno.lock, no download when cached), esbuild is
 * pointed at it with `nodePaths`, and the scratch directory is removed afterwards: the output
 * directory holds the bundle alone.
 */

import * as esbuild from "esbuild";

const REPO = new URL("../../", import.meta.url).pathname;

/** The `npm:` specifier the import map gives for `name` (e.g. `npm:@start9labs/start-sdk@2.0.9`). */
async function importMapEntry(name: string): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`));
  const target = config.imports?.[name];
  if (typeof target !== "string" || !target.startsWith("npm:")) {
    throw new Error(`deno.json maps no npm package for ${name}`);
  }
  return target;
}

/** `npm:@scope/name@1.2.3` → `["@scope/name", "1.2.3"]`. */
function splitSpecifier(specifier: string): [string, string] {
  const bare = specifier.slice("npm:".length);
  const at = bare.lastIndexOf("@");
  if (at <= 0) throw new Error(`${specifier} has no version`);
  return [bare.slice(0, at), bare.slice(at + 1)];
}

/** Installs `packages` (import-map names) into `dir/node_modules` with `deno install`. */
async function installInto(dir: string, packages: string[]): Promise<void> {
  const dependencies: Record<string, string> = {};
  for (const name of packages) {
    const [pkg, version] = splitSpecifier(await importMapEntry(name));
    dependencies[pkg] = version;
  }
  await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify({ dependencies }));
  await Deno.copyFile(`${REPO}deno.lock`, `${dir}/deno.lock`);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["install", "--node-modules-dir=auto", "--quiet"],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno install failed (${code}): ${new TextDecoder().decode(stderr)}`);
  }
}

/** Options of `bundlePackage`. */
export interface BundleOptions {
  /** Import-map names of the npm packages the entry imports (default: the SDK). */
  packages?: string[];
  /** Output file name inside `outDir` (default `index.js`). */
  fileName?: string;
}

/** Bundles `entry` (absolute path) into `outDir/index.js` (CommonJS, node platform); returns its path. */
export async function bundlePackage(
  entry: string,
  outDir: string,
  options: BundleOptions = {},
): Promise<string> {
  const scratch = await Deno.makeTempDir({ prefix: "startos-bundle-" });
  const outfile = `${outDir}/${options.fileName ?? "index.js"}`;
  try {
    await installInto(scratch, options.packages ?? ["@start9labs/start-sdk"]);
    const result = await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: "cjs",
      platform: "node",
      target: "es2022",
      nodePaths: [`${scratch}/node_modules`],
      logLevel: "silent",
    });
    if (result.errors.length > 0) {
      throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join("; ")}`);
    }
  } finally {
    await esbuild.stop();
    await Deno.remove(scratch, { recursive: true });
  }
  return outfile;
}
