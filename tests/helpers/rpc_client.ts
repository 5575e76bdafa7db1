/** Test helper: a JSON-RPC client on a Unix socket built on the project's own `Peer`. */

import { RpcError } from "../../lib/jsonrpc/errors.ts";
import { Peer } from "../../lib/jsonrpc/peer.ts";

/** What a call answered: a result, or an error object. */
export type Outcome =
  | { result: unknown; error?: undefined }
  | {
    result?: undefined;
    error: { code: number; message: string; data?: { details?: string; debug?: string } };
  };

/** A connected client. */
export class RpcClient {
  readonly peer: Peer;

  private constructor(peer: Peer) {
    this.peer = peer;
  }

  /** Connects to `path`. */
  static async connect(path: string): Promise<RpcClient> {
    return new RpcClient(new Peer(await Deno.connect({ transport: "unix", path })));
  }

  /** Sends a request and resolves with its outcome (never rejects for an error answer). */
  async call(method: string, params: unknown = {}): Promise<Outcome> {
    try {
      return { result: await this.peer.request(method, params) };
    } catch (error) {
      if (error instanceof RpcError) {
        return { error: error.toObject() as Outcome["error"] & object };
      }
      throw error;
    }
  }

  /** Sends a notification. */
  notify(method: string, params: unknown): void {
    this.peer.notify(method, params);
  }

  /** Closes the connection. */
  close(): void {
    this.peer.close();
  }
}
