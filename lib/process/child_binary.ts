/** Where the children's `deno` binary, the worker entry and the module cache are. */

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * The `deno` children run with: `STARTOS_DENO`, else this process's binary
 * when it is `deno` (not a compiled runtime), else a `deno` next to it, else
 * `deno` from PATH.
 * @param env reads an environment variable
 * @returns the path (or, last, the bare name) of the `deno` binary
 */
export function resolveDeno(env: (name: string) => string | undefined): string {
  const explicit = env("STARTOS_DENO");
  if (explicit) return explicit;
  const self = Deno.execPath();
  if (basename(self) === "deno") return self;
  const sibling = `${self.slice(0, self.lastIndexOf("/"))}/deno`;
  return isFile(sibling) ? sibling : "deno";
}

/**
 * The worker entry: `STARTOS_WORKER_ENTRY`, else lib/worker/entry.ts beside this file, or, when
 * this module runs bundled into runtime.js (scripts/bundle.ts), worker.js beside that file.
 * @param env reads an environment variable
 * @param moduleUrl where this code runs from (this module's URL, or the bundle's)
 * @returns the entry's path
 */
export function resolveWorkerEntry(
  env: (name: string) => string | undefined,
  moduleUrl: string = import.meta.url,
): string {
  const explicit = env("STARTOS_WORKER_ENTRY");
  if (explicit) return explicit;
  const source = moduleUrl.endsWith("/lib/process/child_binary.ts");
  return new URL(source ? "../worker/entry.ts" : "./worker.js", moduleUrl).pathname;
}

/**
 * Deno's module cache directory, passed to children so they start from the warm cache.
 * @param env reads an environment variable
 * @returns `DENO_DIR`, else `deno` under `XDG_CACHE_HOME` (else `$HOME/.cache`, else `/root/.cache`)
 */
export function resolveDenoDir(env: (name: string) => string | undefined): string {
  const explicit = env("DENO_DIR");
  if (explicit) return explicit;
  const cache = env("XDG_CACHE_HOME") || `${env("HOME") || "/root"}/.cache`;
  return `${cache}/deno`;
}
