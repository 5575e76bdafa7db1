/**
 * The system programs the runtime itself runs, each found once by absolute path in the
 * directories the container image installs it in (never through PATH, which a child could
 * influence): `setsid`, `unshare`, `nsenter` for the children's namespaces, `cat` for /proc.
 * @module
 */

/**
 * The first of `candidates` that is a file.
 * @param candidates absolute paths, in order of preference
 * @returns the path found, or undefined when none exists
 */
export function findProgram(candidates: readonly string[]): string | undefined {
  return candidates.find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}

/** `setsid(1)`: a child leads a session and process group of its own. */
export const SETSID: string | undefined = findProgram(["/usr/bin/setsid", "/bin/setsid"]);
/** `unshare(1)`: a child's PID and mount namespaces. */
export const UNSHARE: string | undefined = findProgram(["/usr/bin/unshare", "/bin/unshare"]);
/** `nsenter(1)`: the spawn broker runs programs inside a child's namespaces. */
export const NSENTER: string | undefined = findProgram(["/usr/bin/nsenter", "/bin/nsenter"]);
/** `cat(1)`: reads files under /proc, which Deno reserves for `--allow-all`. */
export const CAT: string = findProgram(["/bin/cat", "/usr/bin/cat"]) ?? "/bin/cat";

/**
 * The text of a file under /proc, read with the runtime's own `cat` (in its own mount namespace,
 * which no child changes): Deno lets only `--allow-all` read /proc.
 * @param path an absolute path under /proc
 * @returns the file's text; rejects naming the path when it cannot be read
 */
export async function readProcFile(path: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(CAT, {
    args: [path],
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`cannot read ${path}: ${new TextDecoder().decode(stderr).trim()}`);
  }
  return new TextDecoder().decode(stdout);
}
