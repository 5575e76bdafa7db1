/**
 * The dev host: a real effects server on a Unix socket (the runtime's
 * `host.sock`), built on our `Peer`. It implements every effect with state
 * kept in a JSON file, fires registered callbacks at the runtime's
 * `service.sock` when their watched value changes, and logs one line per
 * effect call.
 */

import { ACTION_RAN, INIT_SUCCEEDED } from "./host_methods.ts";
import { z } from "zod";
import { ErrorKind } from "../protocol/error_codes.ts";
import { RpcError } from "../jsonrpc/errors.ts";
import { invalidParams, methodNotFound, unexpectedFailure } from "../protocol/errors.ts";
import type { Logger } from "../log.ts";
import { UnixServer } from "../jsonrpc/unix_server.ts";
import { CallbackTable } from "./callback_table.ts";
import type { EffectContext } from "./effects/define.ts";
import { DEV_EFFECTS } from "./effects/index.ts";
import { RuntimeLink } from "./runtime_link.ts";
import type { StateStore } from "./state.ts";
import { Subcontainers } from "./subcontainers.ts";

/** Options of `DevHost.listen`. */
export interface DevHostOptions {
  /** Where to listen (the runtime's `--host-socket`). */
  socket: string;
  /** The runtime's `service.sock`, where callbacks and host requests go. */
  runtimeSocket: string;
  /** The mount root (subcontainer filesystems are made under it). */
  root: string;
  /** Subcontainer filesystems (default: plain directories under `root`, no namespace). */
  subcontainers?: Subcontainers;
  store: StateStore;
  log: Logger;
}

/** What every effect call carries besides its own params. */
const envelope = z.looseObject({
  eventId: z.string().optional(),
  callback: z.number().int().nonnegative().nullable().optional(),
});

const SHORT_PARAMS_CHARS = 160;

/** Params as one short JSON text for the log, without `eventId` and `callback`. */
function shortParams(params: unknown): string {
  let shown = params;
  if (typeof params === "object" && params !== null && !Array.isArray(params)) {
    const { eventId: _eventId, callback: _callback, ...rest } = params as Record<string, unknown>;
    shown = rest;
  }
  const text = JSON.stringify(shown) ?? "undefined";
  return text.length > SHORT_PARAMS_CHARS ? `${text.slice(0, SHORT_PARAMS_CHARS - 1)}…` : text;
}

/** A running dev host. */
export class DevHost {
  readonly socket: string;
  readonly callbacks = new CallbackTable();
  readonly store: StateStore;
  readonly subcontainers: Subcontainers;
  readonly #options: DevHostOptions;
  readonly #server: UnixServer;
  readonly #runtime: RuntimeLink;
  #closing = false;

  private constructor(server: UnixServer, options: DevHostOptions) {
    this.socket = options.socket;
    this.store = options.store;
    this.subcontainers = options.subcontainers ?? new Subcontainers({
      root: options.root,
      seenRoot: options.root,
      images: new Set(),
      log: options.log,
    });
    this.#options = options;
    this.#server = server;
    this.#runtime = new RuntimeLink(options.runtimeSocket, options.log);
  }

  /** Clears a stale socket file, listens on `options.socket` and starts serving. */
  static async listen(options: DevHostOptions): Promise<DevHost> {
    // Requests arrive through I/O, so never before `ref.host` is set just below.
    const ref: { host?: DevHost } = {};
    const server = await UnixServer.listen({
      path: options.socket,
      log: options.log,
      peer: {
        onRequest: (method, params) => ref.host!.handle(method, params),
        onNote: (note) => options.log.debug(note),
        unexpectedErrorCode: ErrorKind.Unknown,
      },
    });
    ref.host = new DevHost(server, options);
    return ref.host;
  }

  /** Handles one effect call; resolves with its result or rejects with an `RpcError`. */
  async handle(method: string, raw: unknown): Promise<unknown> {
    if (method === INIT_SUCCEEDED) return await this.#initSucceeded();
    if (method === ACTION_RAN) return await this.#actionRan(raw);
    const started = performance.now();
    const params = envelope.safeParse(raw ?? {});
    const event = params.success ? params.data.eventId ?? null : null;
    const fields = (extra: Record<string, string | number>) => ({
      event: event ?? "main",
      ...(params.success && typeof params.data.callback === "number"
        ? { callback: params.data.callback }
        : {}),
      ms: Math.round(performance.now() - started),
      ...extra,
    });
    const line = `effect ${method} ${shortParams(raw)}`;
    try {
      const result = await this.#run(method, params);
      this.#options.log.info(line, fields({}));
      return result;
    } catch (error) {
      const rpc = error instanceof RpcError
        ? error
        : unexpectedFailure((error as Error).message ?? String(error));
      const details = typeof rpc.data === "object" ? rpc.data?.details : rpc.data;
      this.#options.log.warn(line, fields({ error: `${rpc.code} ${details ?? rpc.message}` }));
      throw rpc;
    }
  }

  async #run(
    method: string,
    params: z.ZodSafeParseResult<z.infer<typeof envelope>>,
  ): Promise<unknown> {
    const effect = DEV_EFFECTS.get(method);
    if (!effect) {
      throw methodNotFound(`the dev host implements no effect ${JSON.stringify(method)}`);
    }
    if (!params.success) {
      throw invalidParams(`${method}: params must be an object with an optional string eventId`);
    }
    const topics = new Set<string>();
    let changed = false;
    const context: EffectContext = {
      state: this.store.state,
      eventId: params.data.eventId ?? null,
      subcontainers: this.subcontainers,
      callbacks: this.callbacks,
      runtime: this.#runtime,
      log: this.#options.log,
      update: (...names) => {
        changed = true;
        for (const name of names) topics.add(name);
      },
    };
    const outcome = await effect.handle(method, params.data, context);
    const callback = params.data.callback;
    if (typeof callback === "number" && outcome.topic !== undefined) {
      this.callbacks.register(callback, outcome.topic);
    }
    if (changed) await this.store.save();
    for (const topic of topics) this.#fire(topic);
    return outcome.result;
  }

  /**
   * An `init` the runtime answered without error, sent by `deno task rpc` (the session records its
   * own): the service is installed, and later sessions send init with kind null, as StartOS does.
   */
  async #initSucceeded(): Promise<null> {
    if (!this.store.state.installed) {
      this.store.state.installed = true;
      await this.store.save();
      this.#options.log.info("init succeeded (sent by deno task rpc): the service is installed");
    }
    return null;
  }

  /**
   * An action `deno task rpc` ran and the runtime answered without error: as StartOS does when an
   * action runs, this service's tasks for it that have no `when` are done and removed.
   */
  async #actionRan(raw: unknown): Promise<null> {
    const parsed = z.object({ actionId: z.string() }).safeParse(raw);
    if (!parsed.success) throw invalidParams(`${ACTION_RAN}: params must be {actionId: string}`);
    const { tasks, packageId } = this.store.state;
    let done = 0;
    for (const [replayId, task] of Object.entries(tasks)) {
      if (task.packageId !== packageId || task.actionId !== parsed.data.actionId) continue;
      if (task.when !== undefined && task.when !== null) continue;
      delete tasks[replayId];
      done++;
    }
    if (done > 0) {
      await this.store.save();
      this.#options.log.info("task done (its action ran)", {
        action: parsed.data.actionId,
        tasks: done,
      });
    }
    return null;
  }

  /** Fires (once) every callback watching `topic`. */
  #fire(topic: string): void {
    for (const id of this.callbacks.take(topic)) {
      this.#runtime.fireCallback(id).then((delivered) => {
        if (delivered) this.#options.log.info(`callback ${id} fired`, { watched: topic });
      });
    }
  }

  /** Stops listening, closes every connection, waits for the last state write, unlinks the socket. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#server.close();
    this.#runtime.close();
    await this.store.save();
  }
}
