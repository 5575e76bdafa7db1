/**
 * `Latin1Hints` against an in-memory file system: a CommonJS package file is scanned once per
 * size and modification time, anything else (an `.mjs`, a file that cannot be read) has no edits,
 * and `hint()` never rejects.
 */

import assert from "node:assert/strict";
import { latin1Edits, sha256Hex } from "../../lib/memory/latin1_source.ts";
import { Latin1Hints, type SourceFiles } from "../../lib/process/latin1_hints.ts";

const PAD = `\n// ${"-".repeat(500)}\n`;
const TEXT = 'module.exports = { dash: "—" };' + PAD;
const OTHER = 'module.exports = { arrow: "→", dash: "—" };' + PAD;

/** Files by path; counts every stat and read, and fails them on request. */
class FakeFiles implements SourceFiles {
  readonly files = new Map<string, { text: string; size: number; mtime: number | null }>();
  stats = 0;
  reads = 0;
  failStat = false;
  failRead = false;

  put(path: string, text: string, mtime: number | null = 1_000): void {
    this.files.set(path, { text, size: new TextEncoder().encode(text).length, mtime });
  }

  stat(path: string): Promise<{ size: number; mtime: number | null }> {
    this.stats++;
    const file = this.files.get(path);
    if (this.failStat || !file) return Promise.reject(new Deno.errors.NotFound(path));
    return Promise.resolve({ size: file.size, mtime: file.mtime });
  }

  read(path: string): Promise<Uint8Array<ArrayBuffer>> {
    this.reads++;
    const file = this.files.get(path);
    if (this.failRead || !file) {
      return Promise.reject(new Deno.errors.PermissionDenied(`read access to ${path}`));
    }
    return Promise.resolve(new TextEncoder().encode(file.text));
  }
}

/** The edits of a hint, or null. */
async function editsOf(hints: Latin1Hints) {
  return (await hints.hint())?.edits ?? null;
}

Deno.test("Latin1Hints gives the edits of a .js or .cjs package file, with the SHA-256 of its bytes", async () => {
  const files = new FakeFiles();
  files.put("/pkg/index.js", TEXT);
  files.put("/pkg/index.cjs", OTHER);
  assert.deepEqual(await editsOf(new Latin1Hints("/pkg/index.js", files)), latin1Edits(TEXT));
  assert.deepEqual(await editsOf(new Latin1Hints("/pkg/index.cjs", files)), latin1Edits(OTHER));
  assert.ok(latin1Edits(TEXT)?.length === 1 && latin1Edits(OTHER)?.length === 2);
  assert.equal(
    (await new Latin1Hints("/pkg/index.js", files).hint())?.sha256,
    await sha256Hex(new TextEncoder().encode(TEXT)),
  );
});

Deno.test("Latin1Hints gives null for an .mjs (or other) file without looking at it", async () => {
  const files = new FakeFiles();
  for (const path of ["/pkg/index.mjs", "/pkg/index.ts", "/pkg/index.js.map"]) {
    files.put(path, TEXT);
    assert.equal(await editsOf(new Latin1Hints(path, files)), null, path);
  }
  assert.equal(files.stats, 0);
  assert.equal(files.reads, 0);
});

Deno.test("Latin1Hints gives null for an all-Latin-1 file", async () => {
  const files = new FakeFiles();
  files.put("/pkg/index.js", 'module.exports = "café";');
  assert.equal(await editsOf(new Latin1Hints("/pkg/index.js", files)), null);
  assert.equal(files.reads, 1);
});

Deno.test("Latin1Hints reads an unchanged file once, however often it is asked", async () => {
  const files = new FakeFiles();
  files.put("/pkg/index.js", TEXT);
  const hints = new Latin1Hints("/pkg/index.js", files);
  const expected = latin1Edits(TEXT);
  assert.deepEqual(await editsOf(hints), expected);
  assert.deepEqual(await editsOf(hints), expected);
  assert.deepEqual(await editsOf(hints), expected);
  assert.equal(files.reads, 1);
  assert.equal(files.stats, 3, "each call checks the file is unchanged");
});

Deno.test("Latin1Hints reads the file once for calls that overlap", async () => {
  const files = new FakeFiles();
  files.put("/pkg/index.js", TEXT);
  const hints = new Latin1Hints("/pkg/index.js", files);
  const all = await Promise.all([editsOf(hints), editsOf(hints), editsOf(hints)]);
  assert.deepEqual(all, [latin1Edits(TEXT), latin1Edits(TEXT), latin1Edits(TEXT)]);
  assert.equal(files.reads, 1);
});

Deno.test("Latin1Hints reads the file again when its size changed", async () => {
  const files = new FakeFiles();
  files.put("/pkg/index.js", TEXT, 1_000);
  const hints = new Latin1Hints("/pkg/index.js", files);
  assert.deepEqual(await editsOf(hints), latin1Edits(TEXT));
  files.put("/pkg/index.js", OTHER, 1_000); // rebuilt within the same mtime tick
  assert.deepEqual(await editsOf(hints), latin1Edits(OTHER));
  assert.equal(files.reads, 2);
  assert.deepEqual(await editsOf(hints), latin1Edits(OTHER));
  assert.equal(files.reads, 2);
});

Deno.test("Latin1Hints reads the file again when its modification time changed", async () => {
  const files = new FakeFiles();
  files.put("/pkg/index.js", TEXT, 1_000);
  const hints = new Latin1Hints("/pkg/index.js", files);
  assert.deepEqual(await editsOf(hints), latin1Edits(TEXT));
  const sameSize = TEXT.replace('dash: "—"', 'dash:"—" '); // the dash moved, the size did not
  files.put("/pkg/index.js", sameSize, 2_000);
  assert.equal(files.files.get("/pkg/index.js")?.size, new TextEncoder().encode(TEXT).length);
  assert.notDeepEqual(latin1Edits(sameSize), latin1Edits(TEXT));
  assert.deepEqual(await editsOf(hints), latin1Edits(sameSize));
  assert.equal(files.reads, 2);
});

Deno.test("Latin1Hints gives null when the file cannot be stat'ed, without reading it", async () => {
  const files = new FakeFiles();
  const hints = new Latin1Hints("/pkg/index.js", files);
  assert.equal(await editsOf(hints), null, "no such file");
  assert.equal(files.reads, 0);

  files.put("/pkg/index.js", TEXT);
  assert.deepEqual(await editsOf(hints), latin1Edits(TEXT));
  files.failStat = true;
  assert.equal(await editsOf(hints), null, "a stat failure, even with edits remembered");
  assert.equal(files.reads, 1);
  files.failStat = false;
  assert.deepEqual(await editsOf(hints), latin1Edits(TEXT));
  assert.equal(files.reads, 1, "unchanged since: not read again");
});

Deno.test("Latin1Hints gives null when the file cannot be read, and reads it again once it changed", async () => {
  const files = new FakeFiles();
  files.put("/pkg/index.js", TEXT, 1_000);
  files.failRead = true;
  const hints = new Latin1Hints("/pkg/index.js", files);
  assert.equal(await editsOf(hints), null);
  files.failRead = false;
  assert.equal(await editsOf(hints), null, "the same file: its failure is remembered");
  assert.equal(files.reads, 1);
  files.put("/pkg/index.js", TEXT, 2_000);
  assert.deepEqual(await editsOf(hints), latin1Edits(TEXT));
  assert.equal(files.reads, 2);
});

Deno.test("Latin1Hints does not read a file past 16 MiB (the scan would hold the runtime too long)", async () => {
  const files = new FakeFiles();
  files.put("/pkg/index.js", TEXT);
  files.files.get("/pkg/index.js")!.size = 16 * 1024 * 1024 + 1;
  assert.equal(await editsOf(new Latin1Hints("/pkg/index.js", files)), null);
  assert.equal(files.reads, 0);
});
