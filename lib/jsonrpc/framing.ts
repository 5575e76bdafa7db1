/**
 * NDJSON framing: turns a byte stream into text lines. Bytes are scanned once;
 * a line that spans reads is decoded piece by piece as it arrives, so the
 * read buffer can be reused and a long line is never held twice as bytes.
 */

const NEWLINE = 0x0a;
const CR = 0x0d;

/** What the splitter found: a complete line, an over-long line, or a line that is not UTF-8. */
export type Frame =
  | { kind: "line"; text: string }
  | { kind: "overflow"; bytes: number }
  | { kind: "invalid-utf8" };

/** The default maximum size of one line in bytes (16 MiB). */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Splits chunks of bytes into newline-terminated lines of text.
 *
 * A line may span any number of chunks and a chunk may hold any number of
 * lines; a multi-byte UTF-8 character split across chunks is decoded whole.
 * A trailing `\r` is dropped and blank lines are skipped. A line longer than
 * `maxLineBytes` is reported once as an overflow (as soon as it crosses the
 * limit) and the rest of it is discarded up to its newline without being
 * kept. Chunks are not retained: the caller may reuse its buffer.
 */
export class LineSplitter {
  /** The longest line accepted, in bytes (newline excluded). */
  readonly maxLineBytes: number;
  /** Decoder of the line in progress (streaming mode), or undefined when none is pending. */
  #partial: TextDecoder | undefined;
  #parts: string[] = [];
  #size = 0;
  #discarding = false;
  #badUtf8 = false;

  /** Creates a splitter that allows lines of at most `maxLineBytes` bytes. */
  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.maxLineBytes = maxLineBytes;
  }

  /** Bytes of an unfinished line currently held (as text). */
  get buffered(): number {
    return this.#size;
  }

  /** Feeds one chunk and returns the frames it completed. */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    while (start < chunk.length) {
      const end = chunk.indexOf(NEWLINE, start);
      const piece = chunk.subarray(start, end === -1 ? chunk.length : end);
      if (end === -1) {
        this.#append(piece, frames);
        break;
      }
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
      const frame = this.#finish(piece);
      if (frame) frames.push(frame);
    }
    return frames;
  }

  #append(piece: Uint8Array, frames: Frame[]): void {
    if (piece.length === 0 || this.#discarding) return;
    if (this.#size + piece.length > this.maxLineBytes) {
      frames.push({ kind: "overflow", bytes: this.#size + piece.length });
      this.#reset();
      this.#discarding = true;
      return;
    }
    this.#size += piece.length;
    if (this.#badUtf8) return;
    this.#partial ??= new TextDecoder("utf-8", { fatal: true });
    try {
      this.#parts.push(this.#partial.decode(piece, { stream: true }));
    } catch {
      this.#badUtf8 = true;
      this.#parts = [];
    }
  }

  #finish(last: Uint8Array): Frame | undefined {
    let text: string;
    if (this.#partial === undefined && !this.#badUtf8) {
      try {
        text = decoder.decode(last);
      } catch {
        return { kind: "invalid-utf8" };
      }
    } else {
      if (!this.#badUtf8) {
        try {
          this.#parts.push(this.#partial!.decode(last));
        } catch {
          this.#badUtf8 = true;
        }
      }
      const bad = this.#badUtf8;
      text = bad ? "" : this.#parts.join("");
      this.#reset();
      if (bad) return { kind: "invalid-utf8" };
    }
    if (text.charCodeAt(text.length - 1) === CR) text = text.slice(0, -1);
    return isBlank(text) ? undefined : { kind: "line", text };
  }

  #reset(): void {
    this.#partial = undefined;
    this.#parts = [];
    this.#size = 0;
    this.#badUtf8 = false;
  }
}

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== CR) return false;
  }
  return true;
}
