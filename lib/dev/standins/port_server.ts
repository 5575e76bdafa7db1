/**
 * The stand-in for a daemon's command (run by the dev `start-container` when no image rootfs is
 * given): answers HTTP on 127.0.0.1 on the ports the command line names (`--port N`, `--port=N`,
 * `-p N`, `--http-port N`, `HOST:N`, an env `…PORT…=N`), or, when it names none, on every port the
 * package bound (`bind` effects, from the dev host's state file) that nothing listens on yet. So
 * `checkPortListening` and `checkWebUrl` health checks pass. Exits 0 on SIGTERM or SIGINT.
 *
 * argv: <state file> <log file> <extra env, one NAME=value a line> <command...>
 */

import { z } from "zod";
import { host } from "../shapes.ts";

const stateFile = z.looseObject({ hosts: z.record(z.string(), host) });

/** The ports a command line and its environment name, in order, without duplicates. */
export function portsNamed(command: readonly string[], env: readonly string[]): number[] {
  const found: number[] = [];
  const add = (text: string | undefined) => {
    const port = Number(text);
    if (Number.isInteger(port) && port > 0 && port < 65536 && !found.includes(port)) {
      found.push(port);
    }
  };
  for (let i = 0; i < command.length; i++) {
    const arg = command[i];
    const flag = arg.match(/^--?[A-Za-z0-9-]*port(?:=(\d+))?$/i) ?? arg.match(/^-p(\d+)?$/);
    if (flag) {
      if (flag[1] !== undefined) add(flag[1]);
      else if (/^\d+$/.test(command[i + 1] ?? "")) add(command[++i]);
      continue;
    }
    for (const match of arg.matchAll(/(?:^|[\w.\]*-]):(\d{1,5})(?=$|\/)/g)) add(match[1]);
  }
  for (const line of env) {
    const match = line.match(/^[A-Za-z_]*PORT[A-Za-z_]*=(\d+)$/i);
    if (match) add(match[1]);
  }
  return found;
}

/** The internal ports of every binding in the dev host's state. */
export function boundPorts(state: unknown): number[] {
  const parsed = stateFile.safeParse(state);
  if (!parsed.success) return [];
  const ports = new Set<number>();
  for (const entry of Object.values(parsed.data.hosts)) {
    for (const internal of Object.keys(entry.bindings)) ports.add(Number(internal));
  }
  return [...ports].sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const [statePath, log, extraEnv, ...command] = Deno.args;
  const note = (what: string, detail: string) =>
    Deno.writeTextFileSync(log, `start-container\t${what}\t${detail}\n`, { append: true });
  const shown = command.join(" ");
  const env = extraEnv.split("\n").filter((line) => line !== "");
  let ports = portsNamed(command, env);
  let why = "named on its command line";
  if (ports.length === 0) {
    why = "bound by the package";
    try {
      ports = boundPorts(JSON.parse(await Deno.readTextFile(statePath)));
    } catch {
      ports = [];
    }
  }
  const servers: Deno.HttpServer[] = [];
  const served: number[] = [];
  for (const port of ports) {
    try {
      servers.push(Deno.serve(
        { hostname: "127.0.0.1", port, onListen: () => {} },
        () => new Response(`dev stand-in for: ${shown}\n`),
      ));
      served.push(port);
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  note(
    "server",
    served.length > 0
      ? `${shown}: listening on 127.0.0.1:${served.join(", 127.0.0.1:")} (${why})`
      : `${shown}: no free port ${why} (${ports.join(", ") || "none"}); staying up until SIGTERM`,
  );
  const stop = async () => {
    await Promise.all(servers.map((server) => server.shutdown()));
    note("server-exit", `${shown}: stopped`);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  // Keeps the process up when nothing is served.
  setInterval(() => {}, 1 << 30);
}

if (import.meta.main) await main();
