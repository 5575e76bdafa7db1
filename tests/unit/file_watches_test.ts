/**
 * `FileWatches` (the worker's `fs/promises.watch`) on real files: Node's events, Node's abort and
 * missing-path errors, the list the idle answer carries, and that Deno's watcher really lets the
 * event loop end once unref'd (what the idle look relies on; Deno does not declare the method).
 */

import assert from "node:assert/strict";
import { FileWatches, type WatchEvent } from "../../lib/worker/file_watches.ts";

/** The next `count` events of `events`. */
async function take(events: AsyncIterator<WatchEvent>, count: number): Promise<WatchEvent[]> {
  const got: WatchEvent[] = [];
  while (got.length < count) {
    const next = await events.next();
    if (next.done) break;
    got.push(next.value);
  }
  return got;
}

Deno.test("FileWatches gives Node's events for a file and a directory, and lists its watches", async () => {
  const dir = await Deno.makeTempDir({ prefix: "startos-watch-" });
  try {
    await Deno.writeTextFile(`${dir}/store.json`, "{}");
    const watches = new FileWatches();
    const file = watches.watch(`${dir}/store.json`);
    const tree = watches.watch(dir, { encoding: "buffer" });
    assert.equal(watches.size, 2);
    const listed = watches.list();
    assert.deepEqual(listed.map((w) => [w.path, w.recursive]), [
      [`${dir}/store.json`, false],
      [dir, false],
    ]);
    assert.equal(listed[0].state?.size, 2);
    await Deno.writeTextFile(`${dir}/store.json`, '{"port":8080}');
    const [changed] = await take(file, 1);
    assert.deepEqual(changed, { eventType: "change", filename: "store.json" });
    const [first] = await take(tree, 1);
    assert.equal(first.eventType, "change");
    assert.ok(first.filename instanceof Uint8Array, "encoding: buffer gives a Buffer");
    await Deno.writeTextFile(`${dir}/new.txt`, "x");
    const created = (await take(tree, 8)).find((e) => e.eventType === "rename");
    assert.equal(String(created?.filename), "new.txt");
    await file.return?.();
    await tree.return?.();
    assert.equal(watches.size, 0, "an ended iteration ends its watch");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileWatches ends with Node's AbortError, and fails a missing path with ENOENT", async () => {
  const dir = await Deno.makeTempDir({ prefix: "startos-watch-" });
  try {
    const watches = new FileWatches();
    const controller = new AbortController();
    const events = watches.watch(dir, { signal: controller.signal, persistent: false });
    const next = events.next();
    controller.abort();
    await assert.rejects(next, (error: Error & { code?: string }) => {
      assert.equal(error.name, "AbortError");
      assert.equal(error.code, "ABORT_ERR");
      return true;
    });
    assert.equal(watches.size, 0);
    const aborted = watches.watch(dir, { signal: AbortSignal.abort() });
    await assert.rejects(aborted.next(), { name: "AbortError" });
    await assert.rejects(watches.watch(`${dir}/missing`).next(), { code: "ENOENT" });
    assert.equal(watches.size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileWatches unref'd: the event loop ends while a watch waits (Deno's undeclared unref)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "startos-watch-" });
  try {
    const script = `
      import { FileWatches } from ${
      JSON.stringify(new URL("../../lib/worker/file_watches.ts", import.meta.url).href)
    };
      const watches = new FileWatches();
      (async () => { for await (const _ of watches.watch(${JSON.stringify(dir)})) {} })();
      watches.unref();
      addEventListener("beforeunload", () => console.log("drained"));
    `;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", script],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "drained");
    assert.equal(output.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileWatches unref'd before a watch waits: nothing throws, and the wait is unref'd", async () => {
  const dir = await Deno.makeTempDir({ prefix: "startos-watch-" });
  try {
    // start-sdk's FileHelper: fs.watch(file), then a read, then the iteration; the idle look may
    // unref in between (Deno's unref throws while no next() is pending).
    const script = `
      import { FileWatches } from ${
      JSON.stringify(new URL("../../lib/worker/file_watches.ts", import.meta.url).href)
    };
      const watches = new FileWatches();
      watches.unref();
      const events = watches.watch(${JSON.stringify(dir)});
      watches.ref();
      watches.unref();
      await Deno.readDir(${JSON.stringify(dir)})[Symbol.asyncIterator]().next();
      (async () => { for await (const _ of events) {} })();
      addEventListener("beforeunload", () => console.log("drained"));
    `;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", script],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "drained", stderr);
    assert.equal(output.code, 0, stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
