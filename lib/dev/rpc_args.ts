/**
 * The command line of `deno task rpc`: shortcuts for the runtime's methods
 * turned into one JSON-RPC request. Pure: argv in, a request or a usage
 * error out.
 */

/** The default socket, relative to the working directory (where `deno task dev` puts it). */
export const DEFAULT_SOCKET = ".dev/rpc/service.sock";

/** One request to send. */
export interface RpcRequest {
  method: string;
  params: unknown;
}

/** What the command line asks for. */
export type RpcArgs =
  | {
    kind: "request";
    socket: string;
    raw: boolean;
    debug: boolean;
    request: RpcRequest;
  }
  | { kind: "help"; text: string }
  | { kind: "usage-error"; message: string; usage: string };

interface Command {
  usage: string;
  summary: string;
  /** Positional arguments: min and max count. */
  args: [number, number];
  /** Builds the request from the positional arguments and the options. */
  build(args: string[], options: { id: string; timeout: number | null | undefined }): RpcRequest;
}

/** Thrown by a command's `build` for a bad argument. */
class ArgumentError extends Error {}

function parseJson(what: string, text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ArgumentError(
      `${what} is not valid JSON (${(error as Error).message}): ${text}\n` +
        `  quote it for the shell, e.g. '{"greeting":"Hi"}'`,
    );
  }
}

function procedure(
  method: "execute" | "sandbox",
  path: string,
  input: unknown,
  options: { id: string; timeout: number | null | undefined },
  defaultTimeout: number | null,
): RpcRequest {
  const timeout = options.timeout === undefined ? defaultTimeout : options.timeout;
  return { method, params: { id: options.id, procedure: path, input, timeout } };
}

/** The host's timeouts (PROTOCOL.md): getInput 30 s, run 120 s, backup none. */
const RUN_TIMEOUT = 120_000;
const INPUT_TIMEOUT = 30_000;

const COMMANDS: Record<string, Command> = {
  init: {
    usage: "init [install|update|restore]",
    summary: "load the package and run its init (kind defaults to null: a restart)",
    args: [0, 1],
    build: ([kind], { id }) => {
      if (kind !== undefined && !["install", "update", "restore"].includes(kind)) {
        throw new ArgumentError(`init kind must be install, update or restore, got ${kind}`);
      }
      return { method: "init", params: { id, kind: kind ?? null } };
    },
  },
  start: {
    usage: "start",
    summary: "start main (the package's daemons)",
    args: [0, 0],
    build: () => ({ method: "start", params: {} }),
  },
  stop: {
    usage: "stop",
    summary: "stop main; answers when all of it is gone",
    args: [0, 0],
    build: () => ({ method: "stop", params: {} }),
  },
  action: {
    usage: "action <action-id> [input-json]",
    summary: "run an action (/actions/<id>/run) with the given input",
    args: [1, 2],
    build: ([actionId, input], options) =>
      procedure(
        "execute",
        `/actions/${actionId}/run`,
        { input: parseJson("input-json", input) },
        options,
        RUN_TIMEOUT,
      ),
  },
  input: {
    usage: "input <action-id> [prefill-json]",
    summary: "an action's input spec and current value (/actions/<id>/getInput)",
    args: [1, 2],
    build: ([actionId, prefill], options) => {
      const value = parseJson("prefill-json", prefill);
      if (value !== null && (typeof value !== "object" || Array.isArray(value))) {
        throw new ArgumentError("prefill-json must be a JSON object (or null)");
      }
      return procedure(
        "execute",
        `/actions/${actionId}/getInput`,
        { prefill: value },
        options,
        INPUT_TIMEOUT,
      );
    },
  },
  backup: {
    usage: "backup",
    summary: "run createBackup (/backup/create)",
    args: [0, 0],
    build: (_args, options) => procedure("execute", "/backup/create", null, options, null),
  },
  "sandbox-action": {
    usage: "sandbox-action <action-id> [input-json]",
    summary: "run an action in the sandbox profile (getInput's reads, no writes, no callbacks)",
    args: [1, 2],
    build: ([actionId, input], options) =>
      procedure(
        "sandbox",
        `/actions/${actionId}/run`,
        { input: parseJson("input-json", input) },
        options,
        RUN_TIMEOUT,
      ),
  },
  exit: {
    usage: "exit [target]",
    summary: "stop main, run uninit (target: an ExVer version or range; none = uninstall), exit",
    args: [0, 1],
    build: ([target], { id }) => ({ method: "exit", params: { id, target: target ?? null } }),
  },
  call: {
    usage: "call <method> [params-json]",
    summary: "any method with the given params (default {})",
    args: [1, 2],
    build: ([method, params]) => ({
      method,
      params: params === undefined ? {} : parseJson("params-json", params),
    }),
  },
};

const OPTIONS = `Options (anywhere on the line):
  --socket PATH    the runtime's socket (default ${DEFAULT_SOCKET})
  --timeout MS     procedure timeout in ms, or "none" (default: the host's, run 120000,
                   input 30000, backup none)
  --id ID          the procedure id (effects carry it as eventId; default <command>-<random>)
  --raw            print the answer line as received
  --debug          also print an error's data.debug (stack, last output lines)
  --help           this text, or a command's: deno task rpc <command> --help`;

/** The top-level help text. */
export const RPC_USAGE = `Usage: deno task rpc [options] <command> [arguments]

Sends one request to the runtime and prints the result as JSON, or the error's
code, message and details. Exits 0 on a result, 1 on an error answer or when the
socket cannot be reached, 2 on a usage error.

Commands:
${Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(40)} ${c.summary}`).join("\n")}

${OPTIONS}

Examples:
  deno task rpc init install
  deno task rpc input set-greeting
  deno task rpc action set-greeting '{"greeting":"Hi"}'
  deno task rpc call eval '{"script":"Deno.pid"}'`;

function commandUsage(name: string): string {
  const command = COMMANDS[name];
  return `Usage: deno task rpc [options] ${command.usage}\n\n${command.summary}\n\n${OPTIONS}`;
}

function shortId(command: string): string {
  return `${command}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Parses the command line of `deno task rpc`. */
export function parseRpcArgs(argv: readonly string[]): RpcArgs {
  const positional: string[] = [];
  let socket = DEFAULT_SOCKET;
  let timeout: number | null | undefined;
  let id: string | undefined;
  let raw = false;
  let debug = false;
  let help = false;
  const usageError = (message: string) => {
    const name = positional[0];
    const usage = name !== undefined && name in COMMANDS ? commandUsage(name) : RPC_USAGE;
    return { kind: "usage-error" as const, message, usage };
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--") || arg === "--") {
      if (arg !== "--") positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const value = () => eq !== -1 ? arg.slice(eq + 1) : argv[++i];
    switch (name) {
      case "help":
        help = true;
        break;
      case "raw":
        raw = true;
        break;
      case "debug":
        debug = true;
        break;
      case "socket": {
        const path = value();
        if (!path) return usageError("--socket needs a path");
        socket = path;
        break;
      }
      case "id": {
        const text = value();
        if (!text) return usageError("--id needs a value");
        id = text;
        break;
      }
      case "timeout": {
        const text = value();
        if (text === "none") timeout = null;
        else if (text !== undefined && /^[1-9]\d*$/.test(text)) timeout = Number(text);
        else {return usageError(
            `--timeout expects milliseconds or "none", got ${text ?? "nothing"}`,
          );}
        break;
      }
      default:
        return usageError(`unknown option ${arg}`);
    }
  }
  const [name, ...args] = positional;
  if (help) return { kind: "help", text: name in COMMANDS ? commandUsage(name) : RPC_USAGE };
  if (name === undefined) return usageError("no command given");
  const command = COMMANDS[name];
  if (!command) return usageError(`unknown command ${name}`);
  const [min, max] = command.args;
  if (args.length < min || args.length > max) {
    return usageError(
      `${name} takes ${min === max ? min : `${min} to ${max}`} argument${
        max === 1 ? "" : "s"
      }, got ${args.length}`,
    );
  }
  try {
    const request = command.build(args, { id: id ?? shortId(name), timeout });
    return { kind: "request", socket, raw, debug, request };
  } catch (error) {
    if (error instanceof ArgumentError) return usageError(error.message);
    throw error;
  }
}
