/**
 * NDJSON framing: splits a byte stream into lines without ever re-scanning
 * buffered bytes, with a hard limit on the size of one line.
 */

const NEWLINE = 0x0a;
const CR = 0x0d;

/** What the splitter found in a chunk: a complete line, or a line that grew past the limit. */
export type Frame =
  | { kind: "line"; bytes: Uint8Array }
  | { kind: "overflow"; bytes: number };

/** The default maximum size of one line in bytes (16 MiB). */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * Splits chunks of bytes into newline-terminated lines.
 *
 * A line may span any number of chunks and a chunk may hold any number of
 * lines; a multi-byte UTF-8 character split across chunks is kept whole
 * because lines are cut at the `\n` byte, which never occurs inside one.
 * A trailing `\r` is dropped and blank lines are skipped. A line longer than
 * `maxLineBytes` is reported once as an overflow (as soon as it crosses the
 * limit) and the rest of it is discarded up to its newline without being
 * buffered.
 */
export class LineSplitter {
  #parts: Uint8Array[] = [];
  #size = 0;
  #discarding = false;
  readonly maxLineBytes: number;

  /** Creates a splitter that allows lines of at most `maxLineBytes` bytes. */
  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.maxLineBytes = maxLineBytes;
  }

  /** Bytes of an unfinished line currently held. */
  get buffered(): number {
    return this.#size;
  }

  /** Feeds one chunk (not copied: the caller must not reuse it) and returns the frames it completed. */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    while (start <= chunk.length) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) {
        this.#append(chunk.subarray(start), frames);
        break;
      }
      const piece = chunk.subarray(start, end);
      start = end + 1;
      if (this.#discarding) {
        this.#discarding = false;
        continue;
      }
      if (this.#size + piece.length > this.maxLineBytes) {
        frames.push({ kind: "overflow", bytes: this.#size + piece.length });
        this.#reset();
        continue;
      }
      const line = this.#take(piece);
      if (!isBlank(line)) frames.push({ kind: "line", bytes: line });
    }
    return frames;
  }

  #append(rest: Uint8Array, frames: Frame[]): void {
    if (rest.length === 0 || this.#discarding) return;
    if (this.#size + rest.length > this.maxLineBytes) {
      frames.push({ kind: "overflow", bytes: this.#size + rest.length });
      this.#reset();
      this.#discarding = true;
      return;
    }
    this.#parts.push(rest);
    this.#size += rest.length;
  }

  #take(last: Uint8Array): Uint8Array {
    let line: Uint8Array;
    if (this.#parts.length === 0) {
      line = last;
    } else {
      line = new Uint8Array(this.#size + last.length);
      let offset = 0;
      for (const part of this.#parts) {
        line.set(part, offset);
        offset += part.length;
      }
      line.set(last, offset);
      this.#reset();
    }
    return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, -1) : line;
  }

  #reset(): void {
    this.#parts = [];
    this.#size = 0;
  }
}

function isBlank(line: Uint8Array): boolean {
  for (let i = 0; i < line.length; i++) {
    const b = line[i];
    if (b !== 0x20 && b !== 0x09 && b !== CR) return false;
  }
  return true;
}
