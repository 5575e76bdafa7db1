/**
 * The private channel between the runtime and one child: method names and
 * param shapes. Imported by both sides; the runtime validates what a child
 * sends (a child runs untrusted code), the child trusts the runtime.
 */

/** The package functions a child can be asked to run. */
export type PackageFunction = "init" | "uninit" | "main" | "getInput" | "run" | "createBackup";

/** Roles of children; procedures map to profiles of the same name. */
export type ChildRole = "init" | "main" | "getInput" | "run" | "backup" | "sandbox";

/** Child → runtime, first message on the connection: proves who it is. */
export const HELLO = "hello";
/** Why a child could not load the package, as a wire error. */
export interface LoadError {
  code: number;
  message: string;
  data?: unknown;
}
/** Params of `hello`: the one-time token (read from stdin), and the package load outcome. */
export interface HelloParams {
  token: string;
  /** Present when the package could not be loaded. */
  loadError?: LoadError;
}

/** Child → runtime request: one effect call. */
export const EFFECT = "effect";
/** Params of `effect`. */
export interface EffectParams {
  method: string;
  params: Record<string, unknown>;
  /** Child-local id of the callback function passed, or null. */
  callback: number | null;
  /** The event id of the effects object the call was made through (the call it belongs to). */
  eventId?: string | null;
}

/** Child → runtime request during warm-up: answered null, reaches nobody. */
export const PING = "ping";

/** Child → runtime request (compat layer): the text of `/proc/net/<file>`, which Deno reserves. */
export const PROC_NET = "proc-net";
/** The `/proc/net` files the compat layer serves (what checkPortListening reads). */
export const PROC_NET_FILES = Object.freeze(["tcp", "tcp6", "udp", "udp6"] as const);
/** One of `PROC_NET_FILES`. */
export type ProcNetFile = (typeof PROC_NET_FILES)[number];
/** Params of `proc-net`. */
export interface ProcNetParams {
  file: ProcNetFile;
}

/** Child → runtime notification: these child-local callback ids are dead. */
export const DROP_CALLBACKS = "drop-callbacks";
/** Params of `drop-callbacks`. */
export interface DropCallbacksParams {
  ids: number[];
}

/** Runtime → child request, sent twice after hello: exercises the channel so the first real call runs warm. */
export const WARM = "warm";

/** Runtime → child request: run one package function; answered with its JSON result. */
export const RUN = "run";
/** Params of `run`. */
export interface RunParams {
  fn: PackageFunction;
  /** The host's procedure id, exposed as `effects.eventId`; null for main. */
  eventId: string | null;
  /** `{kind}` for init, `{target}` for uninit, `{actionId, prefill}`, `{actionId, input}`, `{}`. */
  args: Record<string, unknown>;
}

/** Runtime → child notification: stop on your own (main: leave its context, `term()` the daemons, exit). */
export const TERMINATE = "terminate";

/** Runtime → child notification: a callback fired at the host. */
export const CALLBACK = "callback";
/** Params of `callback` on the channel (child-local id). */
export interface CallbackParams {
  id: number;
  args: unknown[];
}
