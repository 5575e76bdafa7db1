/** Test helper: a fake StartOS host listening on a real `host.sock`, recording every effect. */

import { RpcError } from "../../lib/jsonrpc/errors.ts";
import { Peer } from "../../lib/jsonrpc/peer.ts";

/** One effect call as the host saw it. */
export interface HostCall {
  method: string;
  params: Record<string, unknown>;
}

/** Answers an effect; throw `RpcError` to answer an error, return a never-settling promise to hang. */
export type HostHandler = (params: Record<string, unknown>) => unknown;

/** A fake host on a Unix socket. */
export class FakeHost {
  readonly path: string;
  readonly calls: HostCall[] = [];
  readonly handlers = new Map<string, HostHandler>();
  readonly peers = new Set<Peer>();
  #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  #waiters: { test: (call: HostCall) => boolean; resolve: (call: HostCall) => void }[] = [];

  private constructor(path: string) {
    this.path = path;
    this.#listener = Deno.listen({ transport: "unix", path });
    this.#accept();
  }

  /** Listens on `path`. */
  static listen(path: string): FakeHost {
    return new FakeHost(path);
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) {
      const peer = new Peer(conn, {
        onRequest: (method, params) => {
          const call = { method, params: params as Record<string, unknown> };
          this.calls.push(call);
          this.#waiters = this.#waiters.filter((waiter) => {
            if (!waiter.test(call)) return true;
            waiter.resolve(call);
            return false;
          });
          const handler = this.handlers.get(method);
          return handler ? handler(call.params) : null;
        },
      });
      this.peers.add(peer);
      peer.closed.then(() => this.peers.delete(peer));
    }
  }

  /** Resolves with the first call (past or future) of `method` that satisfies `test`. */
  waitFor(
    method: string,
    test: (params: Record<string, unknown>) => boolean = () => true,
  ): Promise<HostCall> {
    const match = (call: HostCall) => call.method === method && test(call.params);
    const found = this.calls.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ test: match, resolve }));
  }

  /** Calls of `method` so far. */
  callsOf(method: string): HostCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /** Stops listening and drops every connection (the host "dies"). */
  close(): void {
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const peer of this.peers) peer.close();
  }
}

export { RpcError };
