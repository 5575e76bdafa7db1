/** Splits a child's output stream into lines for the log, bounding each line's length. */

const MAX_LINE_CHARS = 16 * 1024;
// Intentional: control characters are what we escape.
// deno-lint-ignore no-control-regex
const CONTROL = new RegExp("[\\x00-\\x08\\x0b-\\x1f\\x7f]", "g");

/**
 * Calls `onLine` for every line of `stream` until it ends; over-long lines are cut.
 * @param stream the output, read as UTF-8
 * @param onLine called with each line, without its line ending, control characters escaped
 * @returns resolves once the stream has ended (or broken) and every line was passed on
 */
export async function forwardLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  const emit = (line: string) => {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    // Control characters would let package output forge or garble log lines.
    line = line.replace(
      CONTROL,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
    );
    onLine(line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}… (cut)` : line);
  };
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      rest += text;
      let nl: number;
      while ((nl = rest.indexOf("\n")) !== -1) {
        emit(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
      if (rest.length > MAX_LINE_CHARS) {
        emit(rest);
        rest = "";
      }
    }
  } catch {
    // the stream broke: the child is gone
  }
  if (rest) emit(rest);
}
