/**
 * Parse failures: `ExVerSyntaxError`, naming the position and what was expected there.
 */

/** What a parse was attempting, used in error messages. */
export type ExVerGrammar =
  | "version"
  | "extended version"
  | "version range"
  | "emver version"
  | "emver version range";

/** A syntax error in a version or range string, naming the position and what was expected. */
export class ExVerSyntaxError extends SyntaxError {
  /** The string that failed to parse. */
  readonly input: string;
  /** What the parse was attempting. */
  readonly grammar: ExVerGrammar;
  /** Zero-based offset of the furthest point the parser reached (same as the SDK's). */
  readonly offset: number;
  /** The expected tokens at `offset`, in the SDK's (peggy's) notation, sorted and unique. */
  readonly expected: readonly string[];
  /** The character found at `offset`, or `null` at the end of input. */
  readonly found: string | null;

  /** Builds an error; `message` defaults to a description of the failure. */
  constructor(
    input: string,
    grammar: ExVerGrammar,
    offset: number,
    expected: readonly string[],
    friendly: readonly string[],
    message?: string,
  ) {
    const found = offset < input.length ? input.charAt(offset) : null;
    super(
      message ??
        `Invalid ${grammar} ${JSON.stringify(input)}: expected ${
          listOf(friendly)
        } at position ${offset}, but found ${
          found === null ? "end of input" : JSON.stringify(found)
        }`,
    );
    this.name = "ExVerSyntaxError";
    this.input = input;
    this.grammar = grammar;
    this.offset = offset;
    this.expected = expected;
    this.found = found;
  }
}

/** Joins items as English prose: `a`, `a or b`, `a, b, or c` (`nothing` when empty). */
export function listOf(items: readonly string[]): string {
  if (items.length === 0) return "nothing";
  if (items.length === 1) return items[0];
  if (items.length === 2) return `${items[0]} or ${items[1]}`;
  return `${items.slice(0, -1).join(", ")}, or ${items[items.length - 1]}`;
}
