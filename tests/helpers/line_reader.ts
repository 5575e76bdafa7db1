/** Test helper: collects the lines of a byte stream and lets tests await them. */

/** Reads a stream to its end, keeping every line. */
export class LineReader {
  readonly lines: string[] = [];
  readonly done: Promise<void>;
  #ended = false;
  #wakers: (() => void)[] = [];

  /** Starts reading `stream`. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#read(stream);
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        rest += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = rest.indexOf("\n")) !== -1) {
          this.lines.push(rest.slice(0, nl));
          rest = rest.slice(nl + 1);
        }
        this.#wake();
      }
    } catch {
      // the connection was reset: treat as the end
    }
    if (rest) this.lines.push(rest);
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#wakers.splice(0)) wake();
  }

  /** Resolves with line `index` once it exists, or null if the stream ends first. */
  async lineAt(index: number): Promise<string | null> {
    while (this.lines.length <= index && !this.#ended) {
      await new Promise<void>((resolve) => this.#wakers.push(resolve));
    }
    return this.lines[index] ?? null;
  }

  /** Resolves with the first line (already read or future) matching `pattern`, or null at the end. */
  async waitFor(pattern: RegExp): Promise<string | null> {
    for (let i = 0;; i++) {
      const line = await this.lineAt(i);
      if (line === null || pattern.test(line)) return line;
    }
  }
}
