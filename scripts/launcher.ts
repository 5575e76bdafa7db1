/**
 * The deployed entrypoint, `startos-deno-runtime`: a shell script that runs the bundled runtime
 * (`runtime.js`, scripts/bundle.ts) with the `deno` the children run with and exactly the flags of
 * `deno task start`; its children run the bundled worker (`worker.js`) beside it. Nothing is
 * fetched or resolved in the container: the bundles import no npm package and no other file.
 *
 * Why not the `deno compile` binary: a compiled runtime maps denort, a file the children's deno
 * shares no pages with, so every page of code and snapshot the runtime touches counts in full
 * against the container. Measured (`deno task bench --only sdk --separate-runtime-binary`, the
 * runtime on a binary of its own): PSS after init 97 → 132 MB, steady with main running 134 →
 * 169 MB. Run from the same deno, those pages are shared among all the container's Deno
 * processes. `deno task compile` still builds the single-file binary
 * (`scripts/build_rootfs.sh --binary PATH` ships it instead) where that matters more than memory.
 *
 * Usage: deno run --allow-read scripts/launcher.ts  (prints the script)
 */

import { startTaskFlags } from "../lib/dev/start_flags.ts";
import { shQuote } from "../lib/dev/standins/install.ts";

/**
 * The launcher's text: it finds the runtime directory from its own path (the tree can be
 * relocated) and execs deno there, so the process systemd starts is the runtime itself; the runtime
 * then gives its children the same deno and the worker.js beside runtime.js unless the environment
 * names others (child_binary.ts). `--no-config`: a deno.json in the working directory changes
 * nothing.
 * @example
 * ```ts
 * const text = launcherScript(["--allow-read"]);
 * // #!/bin/sh … exec "$dir/deno" run '--allow-read' --no-config --cached-only "$dir/runtime.js" "$@"
 * ```
 * @param flags the start task's flags
 * @returns the script
 */
export function launcherScript(flags: readonly string[]): string {
  return [
    "#!/bin/sh",
    "# startos-deno-runtime, written by scripts/build_rootfs.sh (scripts/launcher.ts): the bundled",
    "# runtime run by the deno the children run with, so that one binary's pages serve every process.",
    'dir=$(dirname "$(readlink -f "$0")")',
    `exec "$dir/deno" run ${
      flags.map(shQuote).join(" ")
    } --no-config --cached-only "$dir/runtime.js" "$@"`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  console.log(launcherScript(await startTaskFlags()).trimEnd());
}
