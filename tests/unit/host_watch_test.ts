/**
 * `watchFiles` (the runtime watching a retired package host's files) on real files: a change
 * fires once, a change that fell before the runtime watched fires at once, and a watch outside
 * the init profile's reads, through a symlink out of them or of a path gone is not taken over.
 */

import assert from "node:assert/strict";
import { pollFiles, watchFiles } from "../../lib/process/host_watch.ts";
import { FakeClock } from "./fakes.ts";
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

/** A watcher whose events the test sends; `drained()` resolves once all were handled. */
class FakeWatcher {
  readonly #events: Deno.FsEvent[] = [];
  #wake: (() => void) | undefined;
  #drained: (() => void)[] = [];
  #closed = false;
  send(kind: Deno.FsEvent["kind"], path: string): void {
    this.#events.push({ kind, paths: [path] });
    this.#wake?.();
  }
  /** Resolves when the reader asks for an event with none left: it handled every one. */
  drained(): Promise<void> {
    return new Promise((resolve) => this.#drained.push(resolve));
  }
  close(): void {
    this.#closed = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Deno.FsEvent> {
    while (!this.#closed) {
      const event = this.#events.shift();
      if (event) {
        yield event;
        continue;
      }
      for (const resolve of this.#drained.splice(0)) resolve();
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }
}

Deno.test("watchFiles fires for new bytes in a file and new entries in a directory, not for rewrites", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/config.json`;
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(file, '{"port":1}');
    await Deno.writeTextFile(`${dir}/sub/settings.json`, "{}");
    const watchers = new Map<string, FakeWatcher>();
    const watchFs = (path: string) => {
      const watcher = new FakeWatcher();
      watchers.set(path, watcher);
      return watcher as unknown as Deno.FsWatcher;
    };
    let fired: string[] = [];
    const at = (
      path: string,
    ): WatchedPath[] => [{ path, recursive: false, state: fileState(path) }];
    const watching = [file, `${dir}/sub`].map((path) =>
      watchFiles(at(path), [dir], () => fired.push(path), watchFs)
    );
    /** Sends an event; answers whether it fired, once the watch handled it. */
    const firedFor = async (path: string, kind: Deno.FsEvent["kind"]) => {
      fired = [];
      const watcher = watchers.get(path)!;
      const handled = watcher.drained();
      watcher.send(kind, path);
      await handled;
      return fired.length > 0;
    };
    await Deno.writeTextFile(file, '{"port":1}');
    assert.equal(await firedFor(file, "modify"), false, "the same bytes again");
    await Deno.writeTextFile(file, '{"port":2}');
    assert.equal(await firedFor(file, "modify"), true, "new bytes");
    await Deno.writeTextFile(`${dir}/sub/settings.json`, '{"x":1}');
    assert.equal(await firedFor(`${dir}/sub`, "modify"), false, "a write into an entry");
    assert.equal(await firedFor(`${dir}/sub`, "create"), true, "a new entry");
    for (const w of watching) if (typeof w !== "string") w.release();
  });
});

Deno.test("pollFiles looks at the host's period and fires when a polled file appears or changes", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/volumes/main/settings.db`;
    await Deno.mkdir(`${dir}/volumes/main`, { recursive: true });
    const clock = new FakeClock();
    const seen = counter();
    const polling = pollFiles(
      [{ path, state: null, everyMs: 3000 }],
      [`${dir}/volumes`],
      seen.changed,
      clock,
    );
    assert.equal(typeof polling, "object", String(polling));
    await clock.advance(0);
    assert.equal(seen.count, 0, "absent, as the host saw it");
    await Deno.writeTextFile(path, "{}");
    await clock.advance(2999);
    assert.equal(seen.count, 0, "not looked at again before the period");
    await clock.advance(1);
    assert.equal(seen.count, 1, "appeared");
    await clock.advance(3000);
    assert.equal(seen.count, 1, "unchanged since");
    await Deno.writeTextFile(path, '{"apiPort": 1}');
    await clock.advance(3000);
    assert.equal(seen.count, 2, "written");
    (polling as { release(): void }).release();
    assert.equal(clock.pending, 0, "released: no look left");
  });
});

Deno.test("pollFiles fires at its first look when the state moved since the host's tick", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/store`;
    await Deno.writeTextFile(path, "a");
    const clock = new FakeClock();
    const seen = counter();
    const stale = { ...fileState(path)!, mtimeMs: 1 };
    const polling = pollFiles([{ path, state: stale, everyMs: 100 }], [dir], seen.changed, clock);
    await seen.first;
    assert.equal(seen.count, 1);
    (polling as { release(): void }).release();
  });
});

Deno.test("pollFiles refuses a path outside init's reads and looks through no symlink out", async () => {
  await withDir(async (dir) => {
    const clock = new FakeClock();
    assert.match(
      String(
        pollFiles([{ path: "/etc/passwd", state: null, everyMs: 100 }], [dir], () => {}, clock),
      ),
      /outside what the init profile may read/,
    );
    const link = `${dir}/link`;
    const seen = counter();
    const polling = pollFiles(
      [{ path: link, state: null, everyMs: 1000 }],
      [dir],
      seen.changed,
      clock,
    );
    await clock.advance(0);
    await Deno.symlink("/etc/passwd", link);
    await clock.advance(1000);
    assert.equal(seen.count, 0, "a symlink out reads as absent: nothing learnt of its target");
    (polling as { release(): void }).release();
  });
});
