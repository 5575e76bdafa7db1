/**
 * Parse failures: the expected-token flags the parser records at its furthest failure, their
 * descriptions (the SDK's peggy notation and a friendlier one), and `ExVerSyntaxError`.
 */

// Each expectation has the description the SDK's peggy parser uses (kept for comparison and
// machine use) and a friendlier one for messages. Flag `1 << i` stands for entry `i`.
const EXPECTATIONS: readonly (readonly [string, string])[] = [
  ['"||"', '"||"'],
  ['"&&"', '"&&"'],
  ['"("', '"("'],
  ['")"', '")"'],
  ['":"', '":"'],
  ['"#"', '"#"'],
  ['"!"', '"!"'],
  ['"*"', '"*"'],
  ['">="', '">="'],
  ['"<="', '"<="'],
  ['">"', '">"'],
  ['"<"', '"<"'],
  ['"="', '"="'],
  ['"!="', '"!="'],
  ['"^"', '"^"'],
  ['"~"', '"~"'],
  ['"."', '"."'],
  ["[a-z]", "a lowercase letter"],
  ["[a-zA-Z]", "a letter"],
  ['"-"', '"-"'],
  ["[0-9]", "a digit"],
  ["whitespace", "whitespace"],
  ["end of input", "end of input"],
];

/** Expected `||`. */
export const X_OR = 1 << 0;
/** Expected `&&`. */
export const X_AND = 1 << 1;
/** Expected `(`. */
export const X_LPAREN = 1 << 2;
/** Expected `)`. */
export const X_RPAREN = 1 << 3;
/** Expected `:`. */
export const X_COLON = 1 << 4;
/** Expected `#`. */
export const X_HASH = 1 << 5;
/** Expected `!`. */
export const X_BANG = 1 << 6;
/** Expected `*`. */
export const X_STAR = 1 << 7;
/** Expected `>=`. */
export const X_GE = 1 << 8;
/** Expected `<=`. */
export const X_LE = 1 << 9;
/** Expected `>`. */
export const X_GT = 1 << 10;
/** Expected `<`. */
export const X_LT = 1 << 11;
/** Expected `=`. */
export const X_EQ = 1 << 12;
/** Expected `!=`. */
export const X_NE = 1 << 13;
/** Expected `^`. */
export const X_CARET = 1 << 14;
/** Expected `~`. */
export const X_TILDE = 1 << 15;
/** Expected `.`. */
export const X_DOT = 1 << 16;
/** Expected a lowercase letter. */
export const X_LOWER = 1 << 17;
/** Expected a letter. */
export const X_LETTER = 1 << 18;
/** Expected `-`. */
export const X_DASH = 1 << 19;
/** Expected a digit. */
export const X_DIGIT = 1 << 20;
/** Expected whitespace. */
export const X_WS = 1 << 21;
/** Expected the end of the input. */
export const X_END = 1 << 22;

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

/** The error for a failed parse of `input` whose furthest failure expected the `mask` flags. */
export function syntaxErrorAt(
  input: string,
  grammar: ExVerGrammar,
  offset: number,
  mask: number,
): ExVerSyntaxError {
  const expected: string[] = [];
  const friendly: string[] = [];
  for (let i = 0; i < EXPECTATIONS.length; i++) {
    if (mask & (1 << i)) {
      expected.push(EXPECTATIONS[i][0]);
      friendly.push(EXPECTATIONS[i][1]);
    }
  }
  expected.sort();
  return new ExVerSyntaxError(input, grammar, offset, expected, friendly);
}

/** The friendly descriptions of peggy-notation expectations, in flag order. */
export function friendlyOf(expected: readonly string[]): string[] {
  return EXPECTATIONS.filter(([peggy]) => expected.includes(peggy)).map(([, f]) => f);
}

/** Joins items as English prose: `a`, `a or b`, `a, b, or c` (`nothing` when empty). */
export function listOf(items: readonly string[]): string {
  if (items.length === 0) return "nothing";
  if (items.length === 1) return items[0];
  if (items.length === 2) return `${items[0]} or ${items[1]}`;
  return `${items.slice(0, -1).join(", ")}, or ${items[items.length - 1]}`;
}
