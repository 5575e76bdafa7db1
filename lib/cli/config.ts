/** Command-line flags and environment variables → the runtime's configuration. */

import { DEFAULT_MAX_LINE_BYTES } from "../jsonrpc/framing.ts";
import type { LogFormat, LogLevel } from "../log.ts";

/** Everything the runtime needs to know at startup. */
export interface Config {
  /** The mount root (`--root`, absolute). */
  root: string;
  /** The socket the runtime serves the host on (`--socket`, absolute). */
  socket: string;
  /** The host's effects socket (`--host-socket`, absolute). */
  hostSocket: string;
  /** The package module (`--package`, absolute). */
  package: string;
  /** The JSONC policy file (`--policy`, absolute), or null for the default profiles. */
  policy: string | null;
  /** Grace between asking main to stop and killing it (ms). */
  stopTimeoutMs: number;
  /** How long an effect waits for the host's answer (ms). */
  effectTimeoutMs: number;
  /** How long a child may take to load the package and say hello (ms). */
  loadTimeoutMs: number;
  /** Development mode (`--dev`): the `eval` method is served. */
  dev: boolean;
  /** How log lines are written. */
  logFormat: LogFormat;
  /** The lowest level logged. */
  logLevel: LogLevel;
  /** The largest accepted request line (bytes). */
  maxLineBytes: number;
}

/** The result of parsing: a configuration, a request for help, or a usage error. */
export type ParsedArgs =
  | { kind: "config"; config: Config }
  | { kind: "help" }
  | { kind: "error"; message: string };

/** The usage text printed by `--help` and after a usage error. */
export const USAGE = `Usage: main.ts [options]

Serves the StartOS host over JSON-RPC on a Unix socket and runs the service
package's code in permission-scoped Deno subprocesses.

Options (environment fallback in brackets):
  --root DIR           mount root [STARTOS_ROOT] (default /media/startos)
  --socket PATH        socket to listen on [STARTOS_SOCKET] (default <root>/rpc/service.sock)
  --host-socket PATH   host's effects socket [STARTOS_HOST_SOCKET] (default <root>/rpc/host.sock)
  --package PATH       package module [STARTOS_PACKAGE] (default /usr/lib/startos/package/index.js)
  --policy FILE        JSONC permission policy overriding the defaults [STARTOS_POLICY]
  --stop-timeout MS    grace between asking main to stop and killing it (default 30000)
  --effect-timeout MS  how long an effect waits for the host's answer (default 60000)
  --load-timeout MS    how long a child may take to load the package and say hello (default 60000)
  --max-line-bytes N   largest accepted request line in bytes (default 16777216)
  --log-format FORMAT  text or json (default text)
  --log-level LEVEL    debug, info, warn or error (default info)
  --dev                development mode: enables the eval method
  --help               print this text and exit
`;

const VALUE_FLAGS = [
  "root",
  "socket",
  "host-socket",
  "package",
  "policy",
  "stop-timeout",
  "effect-timeout",
  "load-timeout",
  "max-line-bytes",
  "log-format",
  "log-level",
] as const;
type ValueFlag = typeof VALUE_FLAGS[number];

function isValueFlag(name: string): name is ValueFlag {
  return (VALUE_FLAGS as readonly string[]).includes(name);
}

function absolute(path: string, cwd: string): string {
  if (path.startsWith("/")) return normalize(path);
  return normalize(`${cwd}/${path}`);
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

function positiveInteger(flag: string, text: string): number | string {
  if (!/^\d+$/.test(text)) return `--${flag} expects a whole number, got ${JSON.stringify(text)}`;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) {
    return `--${flag} expects a positive whole number, got ${text}`;
  }
  return value;
}

/**
 * Parses `args` (flags as `--name value` or `--name=value`) with fallbacks from `env`.
 * Relative paths are resolved against `cwd`.
 */
export function parseArgs(
  args: readonly string[],
  env: (name: string) => string | undefined,
  cwd: string,
): ParsedArgs {
  const values: Partial<Record<ValueFlag, string>> = {};
  let dev = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) {
      return { kind: "error", message: `unexpected argument ${JSON.stringify(arg)}` };
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (name === "help") return { kind: "help" };
    if (name === "dev") {
      if (eq !== -1) return { kind: "error", message: "--dev takes no value" };
      dev = true;
      continue;
    }
    if (!isValueFlag(name)) return { kind: "error", message: `unknown option --${name}` };
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < args.length && !args[i + 1].startsWith("--")) value = args[++i];
    if (value === undefined || value === "") {
      return { kind: "error", message: `--${name} needs a value` };
    }
    if (name in values) return { kind: "error", message: `--${name} given twice` };
    values[name] = value;
  }

  const pick = (flag: ValueFlag, envName: string) => values[flag] ?? (env(envName) || undefined);
  const root = absolute(pick("root", "STARTOS_ROOT") ?? "/media/startos", cwd);
  const socket = absolute(pick("socket", "STARTOS_SOCKET") ?? `${root}/rpc/service.sock`, cwd);
  const hostSocket = absolute(
    pick("host-socket", "STARTOS_HOST_SOCKET") ?? `${root}/rpc/host.sock`,
    cwd,
  );
  if (hostSocket === socket) {
    return { kind: "error", message: "--socket and --host-socket must be different paths" };
  }
  const pkg = absolute(
    pick("package", "STARTOS_PACKAGE") ?? "/usr/lib/startos/package/index.js",
    cwd,
  );
  const policyText = pick("policy", "STARTOS_POLICY");
  const policy = policyText === undefined ? null : absolute(policyText, cwd);

  const stopTimeout = positiveInteger("stop-timeout", values["stop-timeout"] ?? "30000");
  if (typeof stopTimeout === "string") return { kind: "error", message: stopTimeout };
  const effectTimeout = positiveInteger("effect-timeout", values["effect-timeout"] ?? "60000");
  if (typeof effectTimeout === "string") return { kind: "error", message: effectTimeout };
  const loadTimeout = positiveInteger("load-timeout", values["load-timeout"] ?? "60000");
  if (typeof loadTimeout === "string") return { kind: "error", message: loadTimeout };
  const maxLine = positiveInteger(
    "max-line-bytes",
    values["max-line-bytes"] ?? String(DEFAULT_MAX_LINE_BYTES),
  );
  if (typeof maxLine === "string") return { kind: "error", message: maxLine };

  const logFormat = values["log-format"] ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    return {
      kind: "error",
      message: `--log-format expects text or json, got ${JSON.stringify(logFormat)}`,
    };
  }
  const logLevel = values["log-level"] ?? "info";
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    return {
      kind: "error",
      message: `--log-level expects debug, info, warn or error, got ${JSON.stringify(logLevel)}`,
    };
  }
  return {
    kind: "config",
    config: {
      root,
      socket,
      hostSocket,
      package: pkg,
      policy,
      stopTimeoutMs: stopTimeout,
      effectTimeoutMs: effectTimeout,
      loadTimeoutMs: loadTimeout,
      dev,
      logFormat,
      logLevel: logLevel as LogLevel,
      maxLineBytes: maxLine,
    },
  };
}
