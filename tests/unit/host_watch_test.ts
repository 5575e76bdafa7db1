/**
 * `watchFiles` (the runtime watching a retired package host's files) on real files: a change
 * fires once, a change that fell before the runtime watched fires at once, and a watch outside
 * the init profile's reads, through a symlink out of them or of a path gone is not taken over.
 */

import assert from "node:assert/strict";
import { watchFiles } from "../../lib/process/host_watch.ts";
import { fileState } from "../../lib/protocol/file_state.ts";
import type { WatchedPath } from "../../lib/protocol/channel.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "startos-host-watch-" }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A promise of `changed`'s calls, and the callback. */
function counter() {
  let count = 0;
  let resolve!: () => void;
  const first = new Promise<void>((r) => resolve = r);
  return {
    changed: () => {
      count++;
      resolve();
    },
    first,
    get count() {
      return count;
    },
  };
}

Deno.test("watchFiles fires at each change of a watched file until released", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/volumes/main/store.json`;
    await Deno.mkdir(`${dir}/volumes/main`, { recursive: true });
    await Deno.writeTextFile(path, "{}");
    const watch: WatchedPath = { path, recursive: false, state: fileState(path) };
    const fired = counter();
    const watching = watchFiles([watch], [`${dir}/volumes`], fired.changed);
    assert.notEqual(typeof watching, "string");
    await new Promise((r) => setTimeout(r, 20)); // nothing changed: nothing fires
    assert.equal(fired.count, 0);
    await Deno.writeTextFile(path, '{"port":1}');
    await fired.first;
    if (typeof watching !== "string") watching.release();
    const seen = fired.count;
    await Deno.writeTextFile(path, '{"port":2}');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fired.count, seen, "released: no more");
  });
});

Deno.test("watchFiles fires at once for a change between the host's answer and the watch", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/store.json`;
    await Deno.writeTextFile(path, "{}");
    const seen = fileState(path);
    await Deno.writeTextFile(path, '{"changed":true}');
    const fired = counter();
    const watching = watchFiles([{ path, recursive: false, state: seen }], [dir], fired.changed);
    await fired.first;
    if (typeof watching !== "string") watching.release();
    // Released before anything changed: nothing fires.
    const quiet = counter();
    const released = watchFiles(
      [{ path, recursive: false, state: fileState(path) }],
      [dir],
      quiet.changed,
    );
    if (typeof released !== "string") released.release();
    await Deno.writeTextFile(path, "{}");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(quiet.count, 0);
  });
});

Deno.test("watchFiles takes over no watch outside the init profile's reads, through a symlink or of a path gone", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/volumes`);
    await Deno.mkdir(`${dir}/secret`);
    await Deno.symlink(`${dir}/secret`, `${dir}/volumes/link`);
    const none = () => {};
    const at = (path: string): WatchedPath[] => [{ path, recursive: false, state: null }];
    const reads = [`${dir}/volumes`];
    assert.match(String(watchFiles(at(`${dir}/secret`), reads, none)), /outside what the init/);
    assert.match(String(watchFiles(at(`${dir}/volumes/link`), reads, none)), /outside what the/);
    assert.match(String(watchFiles(at(`${dir}/volumes/gone`), reads, none)), /does not exist/);
  });
});
