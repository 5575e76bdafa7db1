/** Test helper: runs `deno task rpc` as a subprocess, as a user would. */

import { REPO } from "./dev_process.ts";

/** What one `deno task rpc` printed and how it exited. */
export interface RpcRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno task rpc --socket <socket> ...args`. */
export async function rpc(socket: string | null, ...args: string[]): Promise<RpcRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "rpc", ...(socket === null ? [] : ["--socket", socket]), ...args],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs `deno task rpc` and parses its stdout as JSON, failing with what it printed otherwise. */
export async function rpcResult(socket: string, ...args: string[]): Promise<unknown> {
  const run = await rpc(socket, ...args);
  if (run.code !== 0) {
    throw new Error(`rpc ${args.join(" ")} exited ${run.code}:\n${run.stderr}${run.stdout}`);
  }
  return JSON.parse(run.stdout);
}

/** A TCP port nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
