/** The text `deno task dev` prints once the runtime listens: how init went and what to try next. */

import { DEFAULT_SOCKET } from "./rpc_args.ts";
import type { StateStore } from "./state.ts";

/** How the session's `init` went. */
export type InitOutcome =
  | { kind: "done" }
  | { kind: "failed"; reason: string }
  | { kind: "not-sent" };

/** `path` relative to `cwd` when it is inside it. */
export function shownPath(path: string, cwd: string = Deno.cwd()): string {
  const base = cwd.replace(/\/+$/, "") + "/";
  return path.startsWith(base) ? path.slice(base.length) : path;
}

/** What `tryNext` needs besides the state. */
export interface TryNextOptions {
  /** The runtime's socket, as the user's shell reaches it. */
  socket: string;
  /** The prefix the user runs tasks with (`deno`, or `npx -y deno@…`). */
  deno: string;
  init: InitOutcome;
}

/** The rpc commands worth trying: the actions init exported, then the lifecycle. */
function rows(store: StateStore, init: InitOutcome): [string, string][] {
  const found: [string, string][] = [];
  if (init.kind !== "done") {
    const kind = store.state.installed ? "" : " install";
    found.push([
      `init${kind}`,
      init.kind === "failed" ? "init failed: fix the package, then run it again" : "send init",
    ]);
    return found;
  }
  for (const [id, metadata] of Object.entries(store.state.actions)) {
    const { hasInput, name } = (metadata ?? {}) as { hasInput?: unknown; name?: unknown };
    const what = typeof name === "string" ? name : id;
    if (hasInput === true) {
      found.push([`input ${id}`, `${what}: its input spec and current value`]);
      if (id === "set-greeting") found.push([`action ${id} '{"greeting":"Hi there"}'`, "run it"]);
      else found.push([`action ${id} '<input-json>'`, "run it with that input"]);
    } else {
      found.push([`action ${id}`, what]);
    }
  }
  found.push(
    ["start", "run main; its health checks show up in this log"],
    ["backup", "createBackup, with its progress in this log"],
    ["sandbox-action <id> [input-json]", "an action in the sandbox: getInput's reads, no writes"],
    ["stop", "stop main"],
    ["exit", "uninit, then the runtime and this dev session end"],
  );
  return found;
}

/** The "Ready"/"Init failed" headline and the "try next" commands. */
export function tryNext(store: StateStore, options: TryNextOptions): string {
  const socket = shownPath(options.socket);
  const socketFlag = socket === DEFAULT_SOCKET ? "" : ` --socket ${socket}`;
  const list = rows(store, options.init);
  const commands = list.map(([args]) => `${options.deno} task rpc${socketFlag} ${args}`);
  const width = Math.max(...commands.map((command) => command.length));
  return [
    `Try next, in another terminal (${options.deno} task rpc --help lists every command):`,
    ...(options.init.kind === "done" && Object.keys(store.state.actions).length === 0
      ? ["  (init exported no actions)"]
      : []),
    ...commands.map((command, i) => `  ${command.padEnd(width)}  # ${list[i][1]}`),
    `The dev host keeps its state in ${shownPath(store.path)}. Ctrl-C stops everything.`,
  ].join("\n");
}

/** The headline before `tryNext`'s text. */
export function headline(packageId: string, root: string, init: InitOutcome): string {
  const where = `${shownPath(root)}/`;
  switch (init.kind) {
    case "done":
      return `Ready: ${packageId} runs under ${where} (init done)`;
    case "failed":
      return `Init failed: ${packageId} runs under ${where} but its init did not succeed: ${init.reason}`;
    case "not-sent":
      return `Started: ${packageId} runs under ${where}; init was not sent (--no-init)`;
  }
}
