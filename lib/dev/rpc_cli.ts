/**
 * `deno task rpc`: sends one request to the runtime's socket and prints the
 * answer (see `rpc_args.ts` for the commands). Exit status: 0 result,
 * 1 error answer or unreachable socket, 2 usage error.
 */

import { encodeRequest } from "../jsonrpc/codec.ts";
import { type ErrorObject, JsonRpcCode } from "../jsonrpc/errors.ts";
import { classify, type ResponseMessage } from "../jsonrpc/messages.ts";
import { ErrorKind } from "../protocol/error_codes.ts";
import { ACTION_RAN, INIT_SUCCEEDED } from "./host_methods.ts";
import { DEFAULT_SOCKET, parseRpcArgs, type RpcRequest } from "./rpc_args.ts";

const REQUEST_ID = 1;
const CODE_NAMES = new Map<number, string>([
  ...Object.entries(ErrorKind).map(([name, code]) => [code, name] as [number, string]),
  ...Object.entries(JsonRpcCode).map(([name, code]) => [code, name] as [number, string]),
]);

/** The answer to the request and the line it came in. */
interface Answer {
  line: string;
  message: ResponseMessage;
}

/** Sends `request` on a fresh connection and resolves with its answer. */
async function send(socket: string, request: RpcRequest): Promise<Answer> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    const bytes = new TextEncoder().encode(
      encodeRequest(REQUEST_ID, request.method, request.params) + "\n",
    );
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
    let rest = "";
    for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const text of lines) {
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          continue;
        }
        const message = classify(value);
        if (message.kind === "response" && message.id === REQUEST_ID) {
          return { line: text, message };
        }
        if (message.kind === "response" && message.id === null && message.error) {
          return { line: text, message }; // the request itself was refused (parse error, ...)
        }
      }
    }
    throw new Error("the runtime closed the connection before answering");
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the reader already
    }
  }
}

/** The error's code, message, details (and debug when asked) as readable lines. */
export function formatError(error: ErrorObject, debug: boolean): string {
  const name = CODE_NAMES.get(error.code);
  const lines = [`error ${error.code}${name ? ` (${name})` : ""}: ${error.message}`];
  const data = error.data;
  if (typeof data === "string") lines.push(`  ${data}`);
  else if (typeof data === "object" && data !== null) {
    const { details, debug: stack } = data as { details?: unknown; debug?: unknown };
    if (typeof details === "string" && details !== error.message) lines.push(`  ${details}`);
    if (typeof stack === "string" && stack !== "") {
      if (debug) lines.push(...stack.split("\n").map((line) => `  | ${line}`));
      else lines.push("  (--debug shows data.debug)");
    }
  }
  return lines.join("\n");
}

/**
 * After an `init`, `start`, `stop` or action run the runtime answered without error, tells the dev
 * host beside its socket (`host.sock`, where `deno task dev` puts it) what StartOS knows from
 * driving the service: that it is installed (later sessions send init with kind null), that main
 * is running or stopped (its state file and `get-status` say so), that the action's tasks are
 * done. Nothing when there is no dev host.
 */
async function tellDevHost(socket: string, request: RpcRequest): Promise<void> {
  const { method } = request;
  const procedure = (request.params as { procedure?: unknown } | null)?.procedure;
  const ran = method === "execute" && typeof procedure === "string"
    ? /^\/actions\/([^/]+)\/run$/.exec(procedure)?.[1]
    : undefined;
  const told: RpcRequest | null = method === "init"
    ? { method: INIT_SUCCEEDED, params: {} }
    : method === "start" || method === "stop"
    ? { method: "set-main-status", params: { status: method === "start" ? "running" : "stopped" } }
    : ran !== undefined
    ? { method: ACTION_RAN, params: { actionId: ran } }
    : null;
  if (told === null) return;
  const host = `${socket.slice(0, socket.lastIndexOf("/")) || "/"}/host.sock`;
  try {
    await send(host, told);
  } catch {
    // Not a dev root (no dev host listening there): nothing to tell.
  }
}

async function main(argv: string[]): Promise<number> {
  const args = parseRpcArgs(argv);
  if (args.kind === "help") {
    console.log(args.text);
    return 0;
  }
  if (args.kind === "usage-error") {
    console.error(`error: ${args.message}\n\n${args.usage}`);
    return 2;
  }
  // `deno task` runs in the repository; a relative --socket means where the user typed it.
  const base = Deno.env.get("INIT_CWD") || Deno.cwd();
  const socket = args.socket.startsWith("/") || args.socket === DEFAULT_SOCKET
    ? args.socket
    : `${base}/${args.socket}`;
  let answer: Answer;
  try {
    answer = await send(socket, args.request);
  } catch (error) {
    const reason =
      error instanceof Deno.errors.NotFound || error instanceof Deno.errors.ConnectionRefused
        ? `cannot connect to ${args.socket} (${
          (error as Error).message
        }): is \`deno task dev\` running?`
        : `${args.request.method} to ${args.socket} failed: ${(error as Error).message}`;
    console.error(`error: ${reason}`);
    return 1;
  }
  const { message } = answer;
  if (!message.error) await tellDevHost(socket, args.request);
  if (args.raw) {
    console.log(answer.line);
  } else if (message.error) {
    console.error(formatError(message.error, args.debug));
  } else {
    console.log(JSON.stringify(message.result ?? null, null, 2));
  }
  return message.error ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
