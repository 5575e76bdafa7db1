/**
 * The package's Latin-1 edits (memory/latin1_source.ts), found once by the runtime and handed to
 * every child with its token, so that no child pays the scan (~65 ms for a 2.5 MB bundle in a
 * fresh process) to store the bundle's source in half the memory.
 */

import { latin1Edits, type Latin1Hint, sha256Hex } from "../memory/latin1_source.ts";

/** Reads a file's size and modification time, and its bytes. */
export interface SourceFiles {
  /** The file's identity now: a change of either means the text must be scanned again. */
  stat(path: string): Promise<{ size: number; mtime: number | null }>;
  /** The file's bytes. */
  read(path: string): Promise<Uint8Array<ArrayBuffer>>;
}

/** The real file system. */
export const realSourceFiles: SourceFiles = Object.freeze({
  stat: async (path: string) => {
    const info = await Deno.stat(path);
    return { size: info.size, mtime: info.mtime?.getTime() ?? null };
  },
  read: (path: string) => Deno.readFile(path),
});

/** The hint for `bytes`: their digest and edits, or null when there is nothing to rewrite. */
async function hintFor(bytes: Uint8Array<ArrayBuffer>): Promise<Latin1Hint | null> {
  const edits = latin1Edits(new TextDecoder().decode(bytes));
  return edits === null ? null : { sha256: await sha256Hex(bytes), edits };
}

/**
 * Past this size the scan (synchronous, ~25 ms per MB in a fresh runtime) is not run: it would
 * hold the runtime's event loop too long. A start-sdk bundle is ~2.5 MB.
 */
const MAX_SCANNED_BYTES = 16 * 1024 * 1024;

/** Which package files are loaded with `require` (an `.mjs` is imported: its text is Deno's). */
function isRequired(path: string): boolean {
  return path.endsWith(".js") || path.endsWith(".cjs");
}

/**
 * The edits for one package file, scanned again only when its size or modification time changed
 * (the dev loop rebuilds bundles in place); a child checks the digest against the bytes it reads,
 * so stale edits are refused there, not misapplied.
 * @example
 * ```ts
 * const hints = new Latin1Hints("/usr/lib/startos/package/index.js", realSourceFiles);
 * const hint = await hints.hint(); // null: nothing to rewrite (or not a CommonJS file)
 * ```
 */
export class Latin1Hints {
  readonly #path: string;
  readonly #files: SourceFiles;
  #cached: { key: string; hint: Promise<Latin1Hint | null> } | null = null;

  /**
   * @param path the package module (absolute)
   * @param files where it is read from
   */
  constructor(path: string, files: SourceFiles) {
    this.#path = path;
    this.#files = files;
  }

  /**
   * The hint for the file as it is now; never rejects (a file that cannot be read has none: the
   * child reports that itself when it loads it).
   * @returns the digest and edits, or null
   */
  async hint(): Promise<Latin1Hint | null> {
    if (!isRequired(this.#path)) return null;
    let key: string;
    try {
      const { size, mtime } = await this.#files.stat(this.#path);
      if (size > MAX_SCANNED_BYTES) return null;
      key = `${size}:${mtime}`;
    } catch {
      return null;
    }
    if (this.#cached?.key !== key) {
      const hint = this.#files.read(this.#path).then(hintFor).catch(() => null);
      this.#cached = { key, hint };
    }
    return await this.#cached.hint;
  }
}
