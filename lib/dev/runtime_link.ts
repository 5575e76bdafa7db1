/**
 * The dev host's connection to the runtime's `service.sock`, the way the real
 * host talks to it: `callback` notifications for fired callbacks, and
 * requests (`stop`, `start`, `execute`) for `restart`, `shutdown` and
 * `action.run`/`action.get-input`. Connects on first use and after the
 * runtime restarts.
 */

import { closing, runtimeUnavailable } from "../protocol/errors.ts";
import { RpcError } from "../jsonrpc/errors.ts";
import { Peer } from "../jsonrpc/peer.ts";
import type { Logger } from "../log.ts";

/** A lazily connected client of the runtime's socket. */
export class RuntimeLink {
  readonly path: string;
  readonly #log: Logger;
  #peer: Peer | undefined;
  #connecting: Promise<Peer> | undefined;
  #closed = false;

  /** Creates the link; nothing connects before the first call. */
  constructor(path: string, log: Logger) {
    this.path = path;
    this.#log = log;
  }

  #connect(): Promise<Peer> {
    if (this.#closed) {
      return Promise.reject(closing("The dev host is shutting down"));
    }
    if (this.#peer && !this.#peer.isClosed) return Promise.resolve(this.#peer);
    this.#connecting ??= (async () => {
      try {
        const conn = await Deno.connect({ transport: "unix", path: this.path });
        this.#peer = new Peer(conn, { onNote: (note) => this.#log.debug(note) });
        return this.#peer;
      } catch (error) {
        throw runtimeUnavailable(
          "The runtime is not reachable",
          `cannot connect to ${this.path}: ${(error as Error).message}`,
        );
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  /** Sends `callback {id, args}`; resolves false (and logs why) when the runtime is unreachable. */
  async fireCallback(id: number, args: unknown[] = []): Promise<boolean> {
    try {
      const peer = await this.#connect();
      peer.notify("callback", { id, args });
      await peer.flushed();
      return !peer.isClosed;
    } catch (error) {
      this.#log.warn("callback not delivered", { callback: id, reason: (error as Error).message });
      return false;
    }
  }

  /** Sends a request to the runtime and resolves with its result (rejects with its `RpcError`). */
  async request(method: string, params: unknown): Promise<unknown> {
    const peer = await this.#connect();
    try {
      return await peer.request(method, params);
    } catch (error) {
      if (error instanceof RpcError) throw error;
      throw runtimeUnavailable(
        "The runtime connection closed",
        `${method} was sent to ${this.path} but the runtime went away before answering`,
      );
    }
  }

  /** Closes the connection; later calls fail with 73. */
  close(): void {
    this.#closed = true;
    this.#peer?.close();
  }
}
