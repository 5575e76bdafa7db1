/**
 * The deployed runtime as two JavaScript files: `runtime.js` (main.ts and everything it imports,
 * zod included) and `worker.js` (lib/worker/entry.ts, what every child runs), each made by
 * `deno bundle` (minified, names kept for stack traces and `constructor.name`).
 *
 * Why: a process that runs main.ts makes Deno build a graph of ~160 TypeScript modules and npm
 * packages (the lockfile, the npm resolution, the emit cache) and keeps each module's source in
 * its heap; one minified file needs none of that. Measured (`deno task bench --only sdk`, the
 * deployed tree on its own deno): PSS after init 110 → 100 MB, steady with main running 150 → 138
 * MB; the runtime process alone, idle, 19 → 14 MB anonymous (BENCHMARKS.md, session 5).
 *
 * Usage: deno run --allow-read --allow-write --allow-run --allow-env scripts/bundle.ts --out DIR
 */

const REPO = new URL("../", import.meta.url).pathname;

/** The two files of a bundled runtime. */
export interface RuntimeBundle {
  /** main.ts bundled: what the launcher runs. */
  runtime: string;
  /** lib/worker/entry.ts bundled: what each child runs (`STARTOS_WORKER_ENTRY`). */
  worker: string;
}

/** What is bundled into which file, under the output directory. */
const ENTRIES = [["main.ts", "runtime.js"], ["lib/worker/entry.ts", "worker.js"]] as const;

/**
 * Bundles main.ts and the worker entry into `outDir` with the `deno` running this script.
 * @example
 * ```ts
 * const { runtime, worker } = await bundleRuntime("/tmp/out");
 * // deno run <start flags> --no-config /tmp/out/runtime.js, with STARTOS_WORKER_ENTRY=worker
 * ```
 * @param outDir the directory the two files are written to (created when missing)
 * @returns their paths
 */
export async function bundleRuntime(outDir: string): Promise<RuntimeBundle> {
  await Deno.mkdir(outDir, { recursive: true });
  const paths: string[] = [];
  for (const [entry, file] of ENTRIES) {
    const output = `${outDir}/${file}`;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "deno",
        "--minify",
        "--keep-names",
        "--config",
        `${REPO}deno.json`,
        "--output",
        output,
        `${REPO}${entry}`,
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(`deno bundle ${entry} failed (${code}): ${new TextDecoder().decode(stderr)}`);
    }
    paths.push(output);
  }
  return { runtime: paths[0], worker: paths[1] };
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--out");
  const out = at === -1 ? undefined : Deno.args[at + 1];
  if (out === undefined || Deno.args.length !== 2) {
    console.error("usage: scripts/bundle.ts --out DIR");
    Deno.exit(2);
  }
  const { runtime, worker } = await bundleRuntime(out);
  console.error(`bundle.ts: wrote ${runtime} and ${worker}`);
}
