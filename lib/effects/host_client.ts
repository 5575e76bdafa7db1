/** One persistent, pipelined JSON-RPC connection to the host's `host.sock`, reconnected on demand. */

import { ConnectionClosedError, RpcError } from "../jsonrpc/errors.ts";
import { cancelError, hostTimeout, hostUnavailable, methodNotFound } from "../protocol/errors.ts";
import { Peer } from "../jsonrpc/peer.ts";
import type { Logger } from "../log.ts";

/** Options of `HostClient`. */
export interface HostClientOptions {
  /** The host's effects socket (`host.sock`). */
  path: string;
  /** Where connection events are logged. */
  log: Logger;
  /** How long one effect may wait for the host's answer (ms). */
  timeoutMs: number;
}

/** Sends effects to the host; failures become `RpcError`s a packager can read. */
export class HostClient {
  readonly #options: HostClientOptions;
  #peer: Peer | undefined;
  #connecting: Promise<Peer> | undefined;
  #closed = false;

  /** Creates the client; it connects at the first call. */
  constructor(options: HostClientOptions) {
    this.#options = options;
  }

  #connect(): Promise<Peer> {
    if (this.#peer && !this.#peer.isClosed) return Promise.resolve(this.#peer);
    this.#connecting ??= (async () => {
      const { path, log } = this.#options;
      try {
        const conn = await Deno.connect({ transport: "unix", path });
        const peer = new Peer(conn, {
          onNote: (note) => log.debug(note, { peer: "host" }),
          onRequest: (method) => {
            throw methodNotFound(
              `the runtime serves no requests on the host connection (got ${method})`,
            );
          },
        });
        peer.closed.then(() => log.debug("host connection closed"));
        this.#peer = peer;
        return peer;
      } catch (error) {
        throw hostUnavailable(
          "The host is not reachable",
          `cannot connect to the host socket ${path}: ${(error as Error).message}`,
        );
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  /** Sends one effect and resolves with the host's result. */
  async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    if (this.#closed) throw cancelError({ kind: "shutdown" }, method);
    const peer = await this.#connect();
    const { timeoutMs } = this.#options;
    try {
      return await peer.request(method, params, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      if (error instanceof RpcError) throw error;
      if (error instanceof ConnectionClosedError) {
        throw hostUnavailable(
          "The host connection closed",
          `the host went away while ${method} was waiting for its answer`,
        );
      }
      if (error instanceof DOMException && error.name === "TimeoutError") {
        throw hostTimeout(method, timeoutMs);
      }
      throw error;
    }
  }

  /** Sends a notification-free best-effort call, logging instead of throwing. */
  callQuietly(method: string, params: Record<string, unknown>): void {
    this.call(method, params).catch((error) => {
      this.#options.log.debug(`${method} failed`, { reason: String(error?.message ?? error) });
    });
  }

  /** Closes the connection; later calls fail with 73. */
  close(): void {
    this.#closed = true;
    this.#peer?.close();
  }
}
