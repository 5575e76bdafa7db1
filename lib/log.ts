/** Structured log lines on stderr: one line per event, as text or JSON. */

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Output format of log lines. */
export type LogFormat = "text" | "json";

/** Extra fields of a log line (role and id of a child, event id, ...). */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Writes log lines. */
export interface Logger {
  /** Writes a `debug` line (dropped below the configured level). */
  debug(message: string, fields?: LogFields): void;
  /** Writes an `info` line. */
  info(message: string, fields?: LogFields): void;
  /** Writes a `warn` line. */
  warn(message: string, fields?: LogFields): void;
  /** Writes an `error` line. */
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const encoder = new TextEncoder();

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** `text` (default) or `json` lines. */
  format?: LogFormat;
  /** The lowest level written (default `info`). */
  level?: LogLevel;
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
}

function writeStderr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr is gone: nothing sensible left to do with a log line
  }
}

function formatValue(value: string | number | boolean | null): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** Creates a logger writing one line per event. */
export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const format = options.format ?? "text";
  const min = RANK[options.level ?? "info"];
  const write = options.write ?? writeStderr;
  const emit = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (RANK[level] < min) return;
    const time = new Date().toISOString();
    const all = { ...base, ...fields };
    if (format === "json") {
      write(JSON.stringify({ time, level, msg: message, ...all }));
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
    for (const [key, value] of Object.entries(all)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
    write(line);
  };
  return {
    debug: (message, fields) => emit("debug", message, fields),
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
    with: (fields) => createLogger(options, { ...base, ...fields }),
  };
}
