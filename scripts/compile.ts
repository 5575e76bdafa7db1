/**
 * `deno task compile`: builds the runtime's single-file entrypoint with
 * `deno compile`, baking in exactly the permission flags of `deno task
 * start` (read from deno.json). Children still need a real `deno` binary and
 * lib/worker/ on disk (see the Containerfile). Where `deno compile` cannot
 * run (it downloads `denort` unless DENORT_BIN names a local copy), this
 * fails with one sentence on stderr and a non-zero exit.
 *
 * Usage: deno task compile [--output PATH] [--dry-run]
 */

import { REPO_ROOT, startTaskFlags } from "../lib/dev/start_flags.ts";

/** Where the binary goes unless `--output` says otherwise. */
export const DEFAULT_OUTPUT = "dist/startos-deno-runtime";

/** The `deno compile` arguments for `output`: the start task's flags, then the output and entry. */
export async function compileArgs(output: string = DEFAULT_OUTPUT): Promise<string[]> {
  return ["compile", ...await startTaskFlags(), "--output", output, "main.ts"];
}

/** One sentence saying why `deno compile` failed, from what it printed. */
export function failureSentence(stderr: string, code: number): string {
  // deno colours its output unless NO_COLOR is set; strip escapes before matching.
  // deno-lint-ignore no-control-regex
  const text = stderr.replace(/\x1b\[[0-9;]*m/g, "");
  const missing = text.match(/Could not find denort at '([^']*)'/);
  if (missing) {
    return `deno compile found no denort at ${missing[1]} (DENORT_BIN): point DENORT_BIN at the ` +
      `denort binary of Deno ${Deno.version.deno}, or unset it to download one.`;
  }
  if (/denort|dl\.deno\.land|error sending request|dns error/i.test(text)) {
    return "deno compile could not download denort, the Deno runtime it embeds main.ts into " +
      "(no network here?): set DENORT_BIN to a local denort binary, or build the Containerfile " +
      "where the network is reachable.";
  }
  const first = text.split("\n").map((line) => line.trim()).find((line) => /^error\b/i.test(line));
  return `deno compile failed with exit code ${code}: ${first ?? "it printed no error line"}.`;
}

function usage(): string {
  return "usage: deno task compile [--output PATH] [--dry-run]";
}

async function main(argv: string[]): Promise<number> {
  let output = DEFAULT_OUTPUT;
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--dry-run") dryRun = true;
    else if (argv[i] === "--output" && argv[i + 1]) output = argv[++i];
    else if (argv[i].startsWith("--output=")) output = argv[i].slice("--output=".length);
    else if (argv[i] === "--help") {
      console.log(usage());
      return 0;
    } else {
      console.error(`error: unknown argument ${argv[i]}\n${usage()}`);
      return 2;
    }
  }
  const args = await compileArgs(output);
  if (dryRun) {
    console.log(["deno", ...args].join(" "));
    return 0;
  }
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    console.error(failureSentence(new TextDecoder().decode(result.stderr), result.code));
    return 1;
  }
  console.error(`compiled ${output}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
