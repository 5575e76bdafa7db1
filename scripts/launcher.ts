/**
 * The deployed entrypoint, `startos-deno-runtime`: a shell script that runs main.ts with the
 * `deno` the children run with, with exactly the flags of `deno task start`, from the module
 * cache warmed at build time (`--cached-only`: nothing is fetched in the container).
 *
 * Why not the `deno compile` binary: a compiled runtime maps denort, a file the children's deno
 * shares no pages with, so every page of code and snapshot the runtime touches counts in full
 * against the container. Measured (`deno task bench --only sdk --separate-runtime-binary`, the
 * runtime on a binary of its own): PSS after init 91 → 123 MB, steady with main running 133 →
 * 168 MB. Run from the same deno, those pages are shared among all the container's Deno
 * processes. `deno task compile` still builds the single-file binary
 * (`scripts/build_rootfs.sh --binary PATH` ships it instead) where that matters more than memory.
 *
 * Usage: deno run --allow-read scripts/launcher.ts  (prints the script)
 */

import { startTaskFlags } from "../lib/dev/start_flags.ts";
import { shQuote } from "../lib/dev/standins/install.ts";

/**
 * The launcher's text: it finds the runtime directory from its own path (the tree can be
 * relocated), and execs deno there, so the process systemd starts is the runtime itself.
 * @example
 * ```ts
 * const text = launcherScript(["--allow-read"]);
 * // #!/bin/sh … exec "$dir/deno" run '--allow-read' --cached-only --config "$dir/deno.json" "$dir/main.ts" "$@"
 * ```
 * @param flags the start task's flags
 * @returns the script
 */
export function launcherScript(flags: readonly string[]): string {
  return [
    "#!/bin/sh",
    "# startos-deno-runtime, written by scripts/build_rootfs.sh (scripts/launcher.ts): main.ts run by",
    "# the deno the children run with, so that one binary's pages serve every process.",
    'dir=$(dirname "$(readlink -f "$0")")',
    `exec "$dir/deno" run ${
      flags.map(shQuote).join(" ")
    } --cached-only --config "$dir/deno.json" "$dir/main.ts" "$@"`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  console.log(launcherScript(await startTaskFlags()).trimEnd());
}
