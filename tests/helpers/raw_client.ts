/** Test helper: a raw line client on a Unix socket, for asserting exact wire bytes. */

import { LineReader } from "./line_reader.ts";

/** A connection that writes bytes and reads answer lines. */
export class RawClient {
  readonly conn: Deno.UnixConn;
  readonly #reader: LineReader;
  #next = 0;

  private constructor(conn: Deno.UnixConn) {
    this.conn = conn;
    this.#reader = new LineReader(conn.readable);
  }

  /** Connects to `path`. */
  static async connect(path: string): Promise<RawClient> {
    return new RawClient(await Deno.connect({ transport: "unix", path }));
  }

  /** Writes a string or bytes as they are. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }

  /** Resolves with the next unread line, or null once the connection has ended. */
  async line(): Promise<string | null> {
    const line = await this.#reader.lineAt(this.#next);
    if (line !== null) this.#next++;
    return line;
  }

  /** Resolves with the next line parsed as JSON. */
  async json(): Promise<unknown> {
    const line = await this.line();
    if (line === null) throw new Error("connection ended before an answer arrived");
    return JSON.parse(line);
  }

  /** Resolves with the next `n` lines parsed as JSON. */
  async jsonLines(n: number): Promise<unknown[]> {
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(await this.json());
    return out;
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}
