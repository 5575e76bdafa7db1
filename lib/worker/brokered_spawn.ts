/**
 * The child side of the spawn broker: `node:child_process` for the programs start-sdk runs.
 *
 * No child is granted `start-container`, `mount` or `rsync`. Before the package loads, this
 * replaces `spawn` and `execFile` (what SubContainer and Backups call, the latter also through
 * `util.promisify`) on Node's shared `child_process` object: a spawn of one of these programs
 * becomes a `spawn` request on the child's channel, and the runtime checks it, runs it and
 * streams its output and exit back. The object returned behaves like Node's `ChildProcess` in
 * what start-sdk uses: `pid`, `stdin`/`stdout`/`stderr`, `kill()`, and the `spawn`, `exit`,
 * `close` and `error` events. A request the runtime refuses emits `error` (a `NotCapable`
 * naming the argument and the profile) when someone listens, writes the reason to `stderr` and
 * exits with code 126, so callers that only wait for `exit` (Backups) fail with the reason
 * instead of hanging; the denial is also kept for the call's answer (see denials.ts).
 *
 * Any other program goes to Deno unchanged (refused unless the policy grants it by name). The
 * sync forms cannot wait for the channel: for a brokered program they throw a `NotCapable`
 * saying so; for others a refused program fails with a `NotCapable` naming it (Deno itself
 * reports only "Command failed" there). An ES-module package that imports `spawn` by name, or
 * uses `Deno.Command`, is not served.
 * @module
 */

import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { Readable, Writable } from "node:stream";
import { promisify } from "node:util";
import {
  brokeredProgram,
  SPAWN,
  SPAWN_KILL,
  SPAWN_STDIN,
  type SpawnExitParams,
  type SpawnOutputParams,
  type SpawnResult,
  type SpawnStdio,
} from "../protocol/channel.ts";
import { recordDenial } from "./denials.ts";

/** How the shim reaches the runtime. */
export interface SpawnChannel {
  /** A request on the channel; rejects with the runtime's error (`code`, `message`, `data`). */
  request(method: string, params: unknown): Promise<unknown>;
  /** A notification on the channel. */
  notify(method: string, params: unknown): void;
}

/** What the runtime's notifications about brokered processes are delivered to. */
export interface SpawnEvents {
  /**
   * Output of a brokered process, pushed to its stream.
   * @param params the process's id, the stream and the bytes (base64)
   */
  output(params: SpawnOutputParams): void;
  /**
   * A brokered process ended: its streams end, then `exit` and `close` are emitted.
   * @param params the process's id, its exit code and the signal that ended it
   */
  exit(params: SpawnExitParams): void;
}

type AnyFunction = (...args: unknown[]) => unknown;
type Options = Record<string, unknown>;

/** Whether `command` names a brokered program (by name or in a standard directory). */
function isBrokered(command: unknown): command is string {
  return typeof command === "string" && brokeredProgram(command) !== null;
}

/** Whether Deno would let this child run `command` itself (a policy grant by name). */
function grantedToDeno(command: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command }).state === "granted";
  } catch {
    return false;
  }
}

/** One stdio entry of Node's options as the broker's kind. */
function stdioKind(entry: unknown, fd: number): SpawnStdio {
  if (entry === undefined || entry === null || entry === "pipe" || entry === "overlapped") {
    return "pipe";
  }
  if (entry === "ignore") return "ignore";
  if (entry === "inherit" || entry === fd || typeof entry === "object") {
    return fd === 0 ? "ignore" : "inherit";
  }
  return "pipe";
}

/** The three stdio kinds a spawn's options ask for. */
function stdioOf(options: Options): [SpawnStdio, SpawnStdio, SpawnStdio] {
  const stdio = options.stdio;
  if (typeof stdio === "string") {
    return [stdioKind(stdio, 0), stdioKind(stdio, 1), stdioKind(stdio, 2)];
  }
  if (Array.isArray(stdio)) {
    return [stdioKind(stdio[0], 0), stdioKind(stdio[1], 1), stdioKind(stdio[2], 2)];
  }
  return ["pipe", "pipe", "pipe"];
}

/** The channel's error as a `NotCapable` (34 from the runtime) or a plain Error. */
function asError(error: unknown, command: string): Error {
  const record = error as { code?: unknown; message?: unknown; data?: { details?: unknown } };
  const details = typeof record?.data?.details === "string"
    ? record.data.details
    : String(record?.message ?? error);
  if (record?.code === 34) return new Deno.errors.NotCapable(details);
  return new Error(`${command}: ${details}`);
}

/** A brokered process, shaped like Node's `ChildProcess` where start-sdk looks. */
class BrokeredProcess extends EventEmitter {
  pid: number | undefined = undefined;
  exitCode: number | null = null;
  signalCode: string | null = null;
  killed = false;
  readonly spawnfile: string;
  readonly spawnargs: string[];
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly stdio: [Writable | null, Readable | null, Readable | null];
  #id: number | undefined;
  #done = false;
  /** What must wait until the runtime answered the spawn. */
  #pending: Array<(id: number) => void> = [];

  constructor(
    readonly channel: SpawnChannel,
    command: string,
    args: string[],
    kinds: SpawnStdio[],
  ) {
    super();
    this.spawnfile = command;
    this.spawnargs = [command, ...args];
    const send = (data: string | null) =>
      this.#whenStarted((id) => channel.notify(SPAWN_STDIN, { id, data }));
    this.stdin = kinds[0] === "pipe"
      ? new Writable({
        write(chunk, encoding, callback) {
          const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
          send(Buffer.from(bytes).toString("base64"));
          callback();
        },
        final(callback) {
          send(null);
          callback();
        },
      })
      : null;
    this.stdout = kinds[1] === "pipe" ? new Readable({ read() {} }) : null;
    this.stderr = kinds[2] === "pipe" ? new Readable({ read() {} }) : null;
    this.stdio = [this.stdin, this.stdout, this.stderr];
  }

  #whenStarted(fn: (id: number) => void): void {
    if (this.#id !== undefined) fn(this.#id);
    else if (!this.#done) this.#pending.push(fn);
  }

  /** The runtime started the process. */
  started(result: SpawnResult): void {
    this.#id = result.id;
    this.pid = result.pid;
    const pending = this.#pending;
    this.#pending = [];
    for (const fn of pending) fn(result.id);
    this.emit("spawn");
  }

  /** The runtime refused or could not start it. */
  failed(error: Error): void {
    this.#pending = [];
    this.stderr?.push(Buffer.from(`${error.message}\n`));
    if (this.listenerCount("error") > 0) this.emit("error", error);
    this.ended(126, null);
  }

  /** Output from the runtime. */
  output(stream: "stdout" | "stderr", data: string): void {
    (stream === "stdout" ? this.stdout : this.stderr)?.push(Buffer.from(data, "base64"));
  }

  /** The process ended: end the streams, then `exit` and `close`. */
  ended(code: number | null, signal: string | null): void {
    if (this.#done) return;
    this.#done = true;
    this.exitCode = code;
    this.signalCode = signal;
    this.stdout?.push(null);
    this.stderr?.push(null);
    this.emit("exit", code, signal);
    setTimeout(() => this.emit("close", code, signal), 0);
  }

  /** Sends `signal` (default SIGTERM) through the runtime; false once the process ended. */
  kill(signal: string | number = "SIGTERM"): boolean {
    if (this.#done) return false;
    const name = typeof signal === "number" ? signalName(signal) : signal;
    this.killed = true;
    this.#whenStarted((id) => this.channel.notify(SPAWN_KILL, { id, signal: name }));
    return true;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

const SIGNAL_NAMES: Readonly<Record<number, string>> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  9: "SIGKILL",
  10: "SIGUSR1",
  12: "SIGUSR2",
  15: "SIGTERM",
};

function signalName(signal: number): string {
  return SIGNAL_NAMES[signal] ?? "SIGTERM";
}

/**
 * What `spawn(command, args, {shell})` runs: the shell (`/bin/sh`, or the one named) with `-c` and
 * the command line Node joins; null without `shell`.
 */
function shellForm(
  command: unknown,
  args: string[],
  options: Options,
): { program: string; args: string[] } | null {
  if (
    typeof command !== "string" || (options.shell !== true && typeof options.shell !== "string")
  ) {
    return null;
  }
  const program = typeof options.shell === "string" ? options.shell : "/bin/sh";
  return { program, args: ["-c", [command, ...args].join(" ")] };
}

/**
 * Gives a callback-style `execFile`/`exec` the `util.promisify` form Node's has: a promise of
 * `{stdout, stderr}` (rejected with the error, which carries both), with the process as `child`.
 */
function resolvesOutput(run: AnyFunction): void {
  Object.defineProperty(run, promisify.custom, {
    value: (...args: unknown[]) => {
      let child: unknown;
      const promise = new Promise((resolve, reject) => {
        child = run.call(
          undefined,
          ...args,
          (error: Error | null, stdout: unknown, stderr: unknown) =>
            error ? reject(error) : resolve({ stdout, stderr }),
        );
      });
      return Object.assign(promise, { child });
    },
  });
}

/** Splits what follows the command in Node's `spawn(command, args?, options?)`. */
function spawnArgs(rest: unknown[]): { args: string[]; options: Options } {
  const [second, third] = rest;
  if (Array.isArray(second)) {
    return { args: second.map(String), options: (third ?? {}) as Options };
  }
  return { args: [], options: (second ?? {}) as Options };
}

/** Splits what follows the file in Node's `execFile(file, args?, options?, callback?)`. */
function execFileArgs(rest: unknown[]): {
  args: string[];
  options: Options;
  callback?: AnyFunction;
} {
  const values = [...rest];
  const callback = typeof values[values.length - 1] === "function"
    ? values.pop() as AnyFunction
    : undefined;
  const { args, options } = spawnArgs(values);
  return {
    args,
    options: typeof options === "object" && options !== null ? options : {},
    callback,
  };
}

/**
 * Installs the shim on Node's `child_process`; call before the package loads.
 * @param channel the child's channel to the runtime
 * @returns where the runtime's `spawn-output` and `spawn-exit` notifications go
 */
export function installBrokeredSpawn(channel: SpawnChannel): SpawnEvents {
  const require = createRequire(import.meta.url);
  const cp = require("node:child_process") as Record<string | symbol, AnyFunction>;
  const processes = new Map<number, BrokeredProcess>();
  /** Notifications that arrived before their spawn's answer (a fast process), replayed at it. */
  const early = new Map<number, Array<(child: BrokeredProcess) => void>>();
  const deliver = (id: number, event: (child: BrokeredProcess) => void) => {
    const child = processes.get(id);
    if (child) return event(child);
    const queue = early.get(id) ?? [];
    if (queue.length < 10_000) queue.push(event);
    early.set(id, queue);
  };
  const original = { spawn: cp.spawn, execFile: cp.execFile };

  const brokeredSpawn = (command: string, args: string[], options: Options) => {
    const [stdin, stdout, stderr] = stdioOf(options);
    const child = new BrokeredProcess(channel, command, args, [stdin, stdout, stderr]);
    // Node's `signal` and `timeout` options: kill with `killSignal` (default SIGTERM).
    const killSignal =
      typeof options.killSignal === "string" || typeof options.killSignal === "number"
        ? options.killSignal
        : "SIGTERM";
    const signal = options.signal as AbortSignal | undefined;
    if (signal instanceof AbortSignal) {
      if (signal.aborted) queueMicrotask(() => child.kill(killSignal));
      else signal.addEventListener("abort", () => child.kill(killSignal), { once: true });
    }
    const timeout = Number(options.timeout ?? 0);
    if (timeout > 0) {
      const timer = setTimeout(() => child.kill(killSignal), timeout);
      child.once("exit", () => clearTimeout(timer));
    }
    channel.request(SPAWN, { command, args, stdin, stdout, stderr }).then(
      (result) => {
        const started = result as SpawnResult;
        processes.set(started.id, child);
        child.started(started);
        const queued = early.get(started.id) ?? [];
        early.delete(started.id);
        for (const event of queued) event(child);
      },
      (error) => {
        const failure = asError(error, command);
        if (failure instanceof Deno.errors.NotCapable) recordDenial(failure);
        child.failed(failure);
      },
    );
    return child;
  };

  const shouldBroker = (command: unknown, options: Options): command is string =>
    isBrokered(command) && options.shell !== true && typeof options.shell !== "string" &&
    !grantedToDeno(command);

  cp.spawn = function (this: unknown, command: unknown, ...rest: unknown[]) {
    const { args, options } = spawnArgs(rest);
    const shell = shellForm(command, args, options);
    if (shell && shouldBroker(shell.program, {})) {
      return brokeredSpawn(shell.program, shell.args, { ...options, shell: undefined });
    }
    if (!shouldBroker(command, options)) return original.spawn.call(this, command, ...rest);
    return brokeredSpawn(command, args, options);
  };

  const execFile = function (this: unknown, file: unknown, ...rest: unknown[]) {
    const { args, options, callback } = execFileArgs(rest);
    if (!shouldBroker(file, options)) return original.execFile.call(this, file, ...rest);
    const child = brokeredSpawn(file, args, { ...options, stdio: "pipe" });
    const encoding = options.encoding === "buffer" || options.encoding === null
      ? null
      : String(options.encoding ?? "utf8") as BufferEncoding;
    const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    child.stdout!.on("data", (chunk: Buffer) => chunks.stdout.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => chunks.stderr.push(chunk));
    let failure: Error | undefined;
    child.on("error", (error: Error) => failure = error);
    // `timeout` and `killSignal` are served by the spawn (see brokeredSpawn).
    child.on("exit", (code: number | null, signal: string | null) => {
      // Output notifications all arrive before the exit one; the streams have them queued.
      setTimeout(() => {
        const text = (list: Buffer[]) =>
          encoding === null ? Buffer.concat(list) : Buffer.concat(list).toString(encoding);
        const stdout = text(chunks.stdout);
        const stderr = text(chunks.stderr);
        if (!callback) return;
        if (code === 0 && failure === undefined) return callback(null, stdout, stderr);
        const error = failure ?? Object.assign(
          new Error(`Command failed: ${[file, ...args].join(" ")}\n${stderr}`),
          { code, signal, killed: child.killed, cmd: [file, ...args].join(" ") },
        );
        callback(Object.assign(error, { stdout, stderr }), stdout, stderr);
      }, 0);
    });
    return child;
  };
  // util.promisify(execFile) resolves {stdout, stderr}, as Node's does.
  resolvesOutput(execFile);
  cp.execFile = execFile;

  // exec(command) runs `/bin/sh -c command` (or `options.shell`): the shell is brokered too, so
  // its script is served where the runtime accepts it (lib/policy/file_utilities.ts).
  const originalExec = cp.exec;
  const exec = function (this: unknown, command: unknown, ...rest: unknown[]) {
    const callback = typeof rest[rest.length - 1] === "function"
      ? rest[rest.length - 1] as AnyFunction
      : undefined;
    const given = rest[0];
    const options = typeof given === "object" && given !== null ? given as Options : {};
    const shell = typeof options.shell === "string" ? options.shell : "/bin/sh";
    if (typeof command !== "string" || !shouldBroker(shell, {})) {
      return originalExec.call(this, command, ...rest);
    }
    const args = ["-c", command];
    const own = { ...options, shell: undefined };
    return callback
      ? execFile.call(this, shell, args, own, callback)
      : execFile.call(this, shell, args, own);
  };
  resolvesOutput(exec);
  cp.exec = exec;

  for (const name of ["execFileSync", "execSync", "spawnSync"]) {
    const sync = cp[name];
    cp[name] = function (this: unknown, ...args: unknown[]) {
      const error = syncRefusal(name, args);
      if (error === null) return sync.apply(this, args);
      if (name !== "spawnSync") throw error;
      return {
        pid: 0,
        output: [null, null, null],
        stdout: null,
        stderr: null,
        status: null,
        signal: null,
        error,
      };
    };
  }

  return {
    output(params) {
      deliver(params.id, (child) => child.output(params.stream, params.data));
    },
    exit(params) {
      deliver(params.id, (child) => {
        processes.delete(params.id);
        child.ended(params.code, params.signal);
      });
    },
  };
}

/** The program a sync spawn function starts: the file, or the shell for `execSync`. */
function syncProgram(name: string, args: unknown[]): string | null {
  if (name === "execSync") {
    const options = args[1] as { shell?: unknown } | undefined;
    return typeof options?.shell === "string" ? options.shell : "/bin/sh";
  }
  return typeof args[0] === "string" ? args[0] : null;
}

/** Why a sync spawn cannot run here, or null when Deno may run it. */
function syncRefusal(name: string, args: unknown[]): Error | null {
  const program = syncProgram(name, args);
  if (program === null || grantedToDeno(program)) return null;
  const error = isBrokered(program)
    ? new Deno.errors.NotCapable(
      `${name}("${program}") cannot be served: the runtime runs ${program} for package code, ` +
        `and only through the asynchronous spawn/execFile`,
    )
    : new Deno.errors.NotCapable(
      `Requires run access to "${program}", run again with the --allow-run flag`,
    );
  recordDenial(error);
  return error;
}
