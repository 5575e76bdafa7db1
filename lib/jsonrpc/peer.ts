/**
 * A JSON-RPC peer over one byte-stream connection: it answers the other
 * side's requests and sends its own, pipelined, with out-of-order completion.
 */

import { encodeError, encodeNotification, encodeRequest, encodeResult } from "./codec.ts";
import { ConnectionClosedError, type ErrorObject, JsonRpcCode, RpcError } from "./errors.ts";
import { DEFAULT_MAX_LINE_BYTES, LineSplitter } from "./framing.ts";
import { classify, type Id, type Message } from "./messages.ts";

/** A byte-stream connection, e.g. a `Deno.UnixConn` (read/write directly: no Web Streams per message). */
export interface Transport {
  /** Reads into `buffer`; resolves with the byte count, or null at the end of the stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`; resolves with how many were written. */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
}

// Per connection: small enough that many idle connections cost little, large enough for bulk.
const READ_BUFFER_BYTES = 16 * 1024;

/** What a request handler is told about the request besides its params. */
export interface RequestContext {
  /** The request's id, as sent. */
  id: Id;
  /** Aborted when the connection closes before the answer is written. */
  signal: AbortSignal;
}

/** Handles a request; throws `RpcError` to answer an error. */
export type RequestHandler = (
  method: string,
  params: unknown,
  context: RequestContext,
) => unknown | Promise<unknown>;

/** Handles a notification; its outcome is never answered. */
export type NotificationHandler = (method: string, params: unknown) => void;

/** Options of a `Peer`. */
export interface PeerOptions {
  /** Answers the other side's requests (default: every request answers -32601). */
  onRequest?: RequestHandler;
  /** Receives the other side's notifications (default: ignored). */
  onNotification?: NotificationHandler;
  /** Told about things worth a debug log line: stray answers, dropped connections. */
  onNote?: (note: string) => void;
  /** Largest accepted line in bytes (default 16 MiB). */
  maxLineBytes?: number;
  /** Requests handled at once before reading pauses (default 1024). */
  maxInFlight?: number;
  /** Unwritten output in bytes before a peer that does not read is dropped (default 64 MiB). */
  maxQueuedBytes?: number;
  /** Code for a handler that throws something other than an `RpcError` (default -32603). */
  unexpectedErrorCode?: number;
}

/** Options of one outgoing request. */
export interface RequestOptions {
  /** Rejects the request (the answer, if it comes, is ignored). */
  signal?: AbortSignal;
  /**
   * Called synchronously when the answer line is read, before any later line of the same chunk
   * is handled (a promise would settle only after them).
   */
  onAnswer?: () => void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

const encoder = new TextEncoder();

/**
 * One end of a JSON-RPC conversation. Reading starts at construction; requests both ways are
 * pipelined and answered out of order; a batch is answered as one array line.
 *
 * @example Call the other side and answer its requests
 * ```ts
 * import { Peer } from "./peer.ts";
 * import { JsonRpcCode, RpcError } from "./errors.ts";
 *
 * const [mine, theirs] = await socketPair();
 * new Peer(theirs, {
 *   onRequest: (method, params) => {
 *     if (method === "echo") return params;
 *     throw new RpcError(JsonRpcCode.MethodNotFound, "Method not found");
 *   },
 * });
 * const peer = new Peer(mine, { onNote: (note) => console.debug(note) });
 * console.log(await peer.request("echo", { hello: 1 })); // { hello: 1 }
 * await peer.request("nope", {}).catch((e: RpcError) => console.log(e.code)); // -32601
 * peer.notify("log", { message: "no answer expected" });
 * await peer.flushed();
 * peer.close();
 *
 * // Both ends of one Unix socket connection, for the example.
 * async function socketPair(): Promise<[Deno.UnixConn, Deno.UnixConn]> {
 *   const path = `${await Deno.makeTempDir()}/pair.sock`;
 *   const listener = Deno.listen({ transport: "unix", path });
 *   const [a, b] = await Promise.all([
 *     Deno.connect({ transport: "unix", path }),
 *     listener.accept(),
 *   ]);
 *   listener.close();
 *   return [a, b];
 * }
 * ```
 */
export class Peer {
  readonly #transport: Transport;
  readonly #options: PeerOptions;
  readonly #maxInFlight: number;
  readonly #maxQueuedBytes: number;
  readonly #abort = new AbortController();
  readonly #pending = new Map<Id, Pending>();
  readonly #closed: Promise<void>;
  #markClosed!: () => void;
  #nextId = 0;
  #queue: string[] = [];
  #queuedBytes = 0;
  #flushing = false;
  #flushWaiters: (() => void)[] = [];
  #inFlight = 0;
  #slotWaiter: (() => void) | undefined;
  #isClosed = false;

  /** Starts reading `transport`; the peer closes when the other side does. */
  constructor(transport: Transport, options: PeerOptions = {}) {
    this.#transport = transport;
    this.#options = options;
    this.#maxInFlight = options.maxInFlight ?? 1024;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 64 * 1024 * 1024;
    this.#closed = new Promise((resolve) => this.#markClosed = resolve);
    this.#readLoop();
  }

  /** Resolves once the connection is closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** True once the connection is closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Aborted when the connection closes. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * Sends a request.
   * @param method The method to call.
   * @param params Its params (any JSON value).
   * @param options `signal` gives up on the answer.
   * @returns The result; rejects with an `RpcError` for an error answer, with
   *   `ConnectionClosedError` when the connection closes first, or with the signal's reason.
   */
  request(method: string, params: unknown, options: RequestOptions = {}): Promise<unknown> {
    if (this.#isClosed) return Promise.reject(new ConnectionClosedError());
    const id = this.#nextId++;
    const line = encodeRequest(id, method, params);
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        this.#pending.delete(id);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (value) => {
          signal?.removeEventListener("abort", onAbort);
          options.onAnswer?.();
          resolve(value);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          if (!(error instanceof ConnectionClosedError)) options.onAnswer?.();
          reject(error);
        },
      });
      this.#send(line);
    });
  }

  /**
   * Sends a notification (no answer expected). Dropped silently once closed.
   * @param method The method to call.
   * @param params Its params (any JSON value).
   */
  notify(method: string, params: unknown): void {
    this.#send(encodeNotification(method, params));
  }

  /** Resolves when everything queued so far has been handed to the connection. */
  flushed(): Promise<void> {
    if (!this.#flushing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  /** Closes the connection now; pending requests reject with `ConnectionClosedError`. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#abort.abort(new ConnectionClosedError());
    for (const pending of this.#pending.values()) pending.reject(new ConnectionClosedError());
    this.#pending.clear();
    this.#queue = [];
    for (const waiter of this.#flushWaiters.splice(0)) waiter();
    this.#slotWaiter?.();
    try {
      this.#transport.close();
    } catch {
      // already closed by the other side
    }
    this.#markClosed();
  }

  async #readLoop(): Promise<void> {
    const splitter = new LineSplitter(this.#options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    try {
      const buffer = new Uint8Array(READ_BUFFER_BYTES);
      while (!this.#isClosed) {
        const n = await this.#transport.read(buffer);
        if (n === null) break;
        for (const frame of splitter.push(buffer.subarray(0, n))) {
          if (frame.kind === "invalid-utf8") {
            this.#sendError(null, {
              code: JsonRpcCode.ParseError,
              message: "Parse error",
              data: { details: "the line is not valid UTF-8" },
            });
          } else if (frame.kind === "overflow") {
            this.#sendError(null, {
              code: JsonRpcCode.InvalidRequest,
              message: "Invalid Request",
              data: {
                details: `line exceeds the limit of ${splitter.maxLineBytes} bytes; it was skipped`,
              },
            });
          } else {
            this.#receiveLine(frame.text);
          }
          while (this.#inFlight >= this.#maxInFlight && !this.#isClosed) {
            await new Promise<void>((resolve) => this.#slotWaiter = resolve);
          }
        }
      }
      // End of input: answer what is still being handled, then close.
      while (this.#inFlight > 0 && !this.#isClosed) {
        await new Promise<void>((resolve) => this.#slotWaiter = resolve);
      }
      await this.flushed();
    } catch (error) {
      if (!this.#isClosed) this.#options.onNote?.(`connection read failed: ${error}`);
    }
    this.close();
  }

  #receiveLine(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const details = `the line is not valid JSON: ${(error as Error).message}`;
      this.#sendError(null, {
        code: JsonRpcCode.ParseError,
        message: "Parse error",
        data: { details },
      });
      return;
    }
    if (Array.isArray(value)) {
      this.#receiveBatch(value);
      return;
    }
    const answer = this.#receiveMessage(classify(value));
    if (answer === undefined) return;
    if (typeof answer === "string") this.#send(answer);
    else this.#track(answer.then((line) => line !== undefined && this.#send(line)));
  }

  #receiveBatch(values: unknown[]): void {
    if (values.length === 0) {
      this.#sendError(null, {
        code: JsonRpcCode.InvalidRequest,
        message: "Invalid Request",
        data: { details: "an empty batch is not a valid request" },
      });
      return;
    }
    const answers = values.map((value) => this.#receiveMessage(classify(value)));
    this.#track(
      Promise.all(answers).then((lines) => {
        const present = lines.filter((line) => line !== undefined);
        if (present.length > 0) this.#send(`[${present.join(",")}]`);
      }),
    );
  }

  /** Handles one message; returns its answer line, a promise of one, or nothing to answer. */
  #receiveMessage(message: Message): string | Promise<string | undefined> | undefined {
    switch (message.kind) {
      case "invalid":
        return encodeError(message.id, {
          code: JsonRpcCode.InvalidRequest,
          message: "Invalid Request",
          data: { details: message.reason },
        });
      case "response":
        this.#settle(message.id, message.result, message.error);
        return undefined;
      case "notification":
        try {
          this.#options.onNotification?.(message.method, message.params);
        } catch (error) {
          this.#options.onNote?.(`notification ${message.method} handler threw: ${error}`);
        }
        return undefined;
      case "request":
        return this.#answer(message.id, message.method, message.params);
    }
  }

  async #answer(id: Id, method: string, params: unknown): Promise<string | undefined> {
    const handler = this.#options.onRequest;
    if (!handler) {
      return encodeError(id, {
        code: JsonRpcCode.MethodNotFound,
        message: "Method not found",
        data: { details: `this peer does not serve method ${JSON.stringify(method)}` },
      });
    }
    try {
      const result = await handler(method, params, { id, signal: this.#abort.signal });
      return encodeResult(id, result);
    } catch (error) {
      return encodeError(id, this.#errorObject(error));
    }
  }

  #errorObject(error: unknown): ErrorObject {
    if (error instanceof RpcError) return error.toObject();
    const message = error instanceof Error ? error.message : String(error);
    return {
      code: this.#options.unexpectedErrorCode ?? JsonRpcCode.InternalError,
      message: "Internal error",
      data: { details: message, debug: error instanceof Error ? error.stack : undefined },
    };
  }

  #track(work: Promise<unknown>): void {
    this.#inFlight++;
    work.catch((error) => this.#options.onNote?.(`answer failed: ${error}`)).finally(() => {
      this.#inFlight--;
      const waiter = this.#slotWaiter;
      this.#slotWaiter = undefined;
      waiter?.();
    });
  }

  #settle(id: Id, result: unknown, error: ErrorObject | undefined): void {
    const pending = this.#pending.get(id);
    if (!pending) {
      this.#options.onNote?.(`answer for unknown request id ${JSON.stringify(id)} ignored`);
      return;
    }
    this.#pending.delete(id);
    if (error) pending.reject(RpcError.fromObject(error));
    else pending.resolve(result);
  }

  #sendError(id: Id, error: ErrorObject): void {
    this.#send(encodeError(id, error));
  }

  #send(line: string): void {
    if (this.#isClosed) return;
    this.#queue.push(line);
    this.#queuedBytes += line.length + 1;
    if (this.#queuedBytes > this.#maxQueuedBytes) {
      this.#options.onNote?.("peer is not reading its answers; connection dropped");
      this.close();
      return;
    }
    if (!this.#flushing) {
      this.#flushing = true;
      queueMicrotask(() => this.#flush());
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#isClosed) {
        const text = this.#queue.length === 1
          ? this.#queue[0] + "\n"
          : this.#queue.join("\n") + "\n";
        this.#queue = [];
        const bytes = encoder.encode(text);
        for (let written = 0; written < bytes.length;) {
          written += await this.#transport.write(bytes.subarray(written));
        }
        this.#queuedBytes -= text.length;
      }
    } catch (error) {
      if (!this.#isClosed) this.#options.onNote?.(`connection write failed: ${error}`);
      this.close();
    } finally {
      this.#flushing = false;
      for (const waiter of this.#flushWaiters.splice(0)) waiter();
    }
  }
}
