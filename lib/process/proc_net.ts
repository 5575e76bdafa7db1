/**
 * Reads `/proc/net/<file>` for the compat layer (lib/worker/compat.ts). Deno 2.9 lets only
 * `--allow-all` read /proc, the runtime included, so a `cat` does it. The runtime and every child
 * share the container's network namespace: what it reads is what the child would have read.
 */

import type { ProcNetFile } from "../protocol/channel.ts";

/** The text of `/proc/net/<file>`; rejects when it cannot be read. */
export async function readProcNet(file: ProcNetFile): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("/bin/cat", {
    args: [`/proc/net/${file}`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`cannot read /proc/net/${file}: ${new TextDecoder().decode(stderr).trim()}`);
  }
  return new TextDecoder().decode(stdout);
}
