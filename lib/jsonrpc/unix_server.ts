/** The Unix-socket JSON-RPC server: one `Peer` per connection. */

import { Peer, type PeerOptions } from "./peer.ts";
import type { Logger } from "../log.ts";

/** Raised when the socket path cannot be used; the message is meant for the operator. */
export class ListenError extends Error {
  /** Creates the error with an operator-facing message. */
  constructor(message: string) {
    super(message);
    this.name = "ListenError";
  }
}

/** Options of `UnixServer.listen`. */
export interface ServerOptions {
  /** The socket path to listen on (its parent directory is created). */
  path: string;
  /** Where connection and listening events are logged. */
  log: Logger;
  /** Options for each connection's peer (handlers, limits). */
  peer: PeerOptions;
  /** Socket file mode (default 0o660). */
  mode?: number;
}

function parentOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

async function answers(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Makes `path` free to listen on: removes a stale socket, refuses a live one or a non-socket. */
export async function clearSocketPath(path: string): Promise<"free" | "stale-removed"> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "free";
    throw error;
  }
  if (!info.isSocket) {
    throw new ListenError(`${path} exists and is not a socket; refusing to replace it`);
  }
  if (await answers(path)) {
    throw new ListenError(`another process is already listening on ${path}`);
  }
  await Deno.remove(path);
  return "stale-removed";
}

/**
 * A listening Unix socket serving JSON-RPC: every connection gets its own `Peer` with the same
 * options.
 *
 * @example Serve one method
 * ```ts
 * import { UnixServer } from "./unix_server.ts";
 * import { JsonRpcCode, RpcError } from "./errors.ts";
 * import { createLogger } from "../log.ts";
 *
 * const server = await UnixServer.listen({
 *   path: "/tmp/example/service.sock",
 *   log: createLogger({ level: "warn" }),
 *   peer: {
 *     onRequest: (method, params) => {
 *       if (method === "echo") return params;
 *       throw new RpcError(JsonRpcCode.MethodNotFound, "Method not found");
 *     },
 *   },
 * });
 * // ... later: stop accepting, let open connections flush, unlink the socket.
 * await server.close();
 * ```
 */
export class UnixServer {
  /** The socket path listened on. */
  readonly path: string;
  readonly #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  readonly #options: ServerOptions;
  readonly #peers = new Set<Peer>();
  readonly #accepting: Promise<void>;
  #closing = false;

  private constructor(
    listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>,
    options: ServerOptions,
  ) {
    this.path = options.path;
    this.#listener = listener;
    this.#options = options;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Creates the parent directory, clears a stale socket, listens and sets the socket's mode.
   * @param options Where to listen, the log and each connection's peer options.
   * @returns The listening server.
   * @throws {ListenError} When the path is taken by a live server or by something not a socket.
   */
  static async listen(options: ServerOptions): Promise<UnixServer> {
    const { path, log } = options;
    await Deno.mkdir(parentOf(path), { recursive: true });
    if (await clearSocketPath(path) === "stale-removed") {
      log.info("removed a stale socket file", { path });
    }
    let listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
    try {
      listener = Deno.listen({ transport: "unix", path });
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) {
        throw new ListenError(`another process is already listening on ${path}`);
      }
      throw error;
    }
    await Deno.chmod(path, options.mode ?? 0o660);
    return new UnixServer(listener, options);
  }

  async #acceptLoop(): Promise<void> {
    const log = this.#options.log;
    while (!this.#closing) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return;
        log.warn("accept failed", { error: String(error) });
        continue;
      }
      const peer = new Peer(conn, this.#options.peer);
      this.#peers.add(peer);
      peer.closed.then(() => this.#peers.delete(peer));
    }
  }

  /**
   * Stops accepting, gives open connections up to `graceMs` to write what is
   * queued, closes them and unlinks the socket file.
   * @param graceMs How long open connections may take to flush (ms).
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    await this.#accepting;
    const peers = [...this.#peers];
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(peers.map((peer) => peer.flushed())),
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
    for (const peer of peers) peer.close();
    try {
      await Deno.remove(this.path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}
