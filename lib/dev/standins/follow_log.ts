/**
 * Follows the stand-ins' log (one tab-separated line per call: program, what, detail) and hands
 * each new line to a callback, woken by file-system events rather than polling.
 */

/** One call a stand-in logged. */
export interface StandinEvent {
  /** `start-container` or `mount`. */
  program: string;
  /** What it did: `leader`, `exec`, `launch`, `daemon`, `server`, `bind-mount`, `refused`, ... */
  what: string;
  detail: string;
}

/** Parses one log line (null for a line that is not one). */
export function parseStandinLine(line: string): StandinEvent | null {
  const [program, what, ...rest] = line.split("\t");
  if (!program || !what) return null;
  return { program, what, detail: rest.join("\t") };
}

/** A running follower. */
export interface LogFollower {
  /** Reads what is left, stops watching. */
  close(): Promise<void>;
}

/** Starts following `path` (which exists) from its start. */
export function followStandinLog(
  path: string,
  onEvent: (event: StandinEvent) => void,
): LogFollower {
  const watcher = Deno.watchFs(path, { recursive: false });
  const decoder = new TextDecoder();
  let offset = 0;
  let rest = "";
  let reading: Promise<void> = Promise.resolve();
  const drain = async () => {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch {
      return;
    }
    try {
      await file.seek(offset, Deno.SeekMode.Start);
      const buffer = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await file.read(buffer);
        if (n === null || n === 0) break;
        offset += n;
        rest += decoder.decode(buffer.subarray(0, n), { stream: true });
      }
    } finally {
      file.close();
    }
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      const event = parseStandinLine(line);
      if (event) onEvent(event);
    }
  };
  const next = () => reading = reading.then(drain);
  next();
  const loop = (async () => {
    try {
      for await (const _event of watcher) next();
    } catch {
      // the watcher was closed
    }
  })();
  return {
    close: async () => {
      watcher.close();
      await loop;
      await next();
    },
  };
}
