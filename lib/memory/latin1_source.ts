/**
 * A package bundle's source as V8 can store it in one byte per character.
 *
 * V8 keeps a script's source for as long as the script lives (for lazy compilation and
 * `Function.prototype.toString`), and stores it two bytes per character as soon as one character
 * is outside Latin-1. A start-sdk bundle is ~2.6 million characters of which a few dozen are not
 * Latin-1 (em dashes and arrows in the SDK's doc comments), so each child holds 5.2 MB of source
 * where 2.6 MB would do.
 *
 * `latin1Edits` (run once, by the runtime: a scan of 2.6 MB takes ~65 ms in a fresh process)
 * finds each such character and checks that the `\uXXXX` escape means the same thing where it
 * stands — in a comment, a quoted string or a regular expression literal; it gives up (null) where
 * that is not sure: a character in a template literal (a tag would see the escape in `raw`), in
 * plain code (an identifier), a U+2028/U+2029 outside a string (a line terminator there), or a
 * scan that does not end cleanly (its guess of where a regular expression starts went wrong
 * somewhere). `applyLatin1Edits` (in the child, a few ms) checks that the edits cover exactly the
 * source's non-Latin-1 characters and rewrites them. The only change package code can observe is
 * the text `toString()` gives for a function whose comments held such a character.
 * @module
 */

/**
 * One rewrite: `length` code units at `at`, a character outside Latin-1 (one or two units) or a
 * backslash and such a character (`\—` means `—` in a string: the escape replaces both).
 */
export type Latin1Edit = readonly [at: number, length: number];

/** The edits for one file, and the SHA-256 (hex) of the bytes they were found in. */
export interface Latin1Hint {
  /** SHA-256 of the file's bytes, lowercase hex: edits for other bytes are not applied. */
  sha256: string;
  /** The edits, in source order. */
  edits: Latin1Edit[];
}

/**
 * The SHA-256 of `bytes`, lowercase hex.
 * @param bytes a file's content
 * @returns its digest
 */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Keywords after which `/` starts a regular expression, not a division. */
const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/** A character outside Latin-1 (U+0000..U+00FF; the range starts at NUL on purpose). */
// deno-lint-ignore no-control-regex
const NOT_LATIN1 = /[^\x00-\xff]/;
/**
 * Matches the empty string. Run on "", it replaces V8's record of the last successful match
 * (`RegExp.input`, `RegExp.lastMatch`...), which otherwise keeps the whole scanned text alive: in
 * the runtime, a 5 MB copy of the package's source until some other regular expression matches.
 */
const EMPTY = /(?:)/;
/** The same, every occurrence. */
// deno-lint-ignore no-control-regex
const ALL_NOT_LATIN1 = /[^\x00-\xff]/g;

/**
 * Escaping a character costs 5 or 10 more bytes than it saves: past one edit per 64 characters
 * (or 65 536 edits) the rewrite is not worth it.
 */
const MAX_EDIT_SHARE = 64;
const MAX_EDITS = 65_536;

function isWordCode(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) || code === 0x5f || code === 0x24;
}

function isSpaceCode(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d || code === 0x0b ||
    code === 0x0c || code === 0xa0;
}

function isLineTerminator(code: number): boolean {
  return code === 0x0a || code === 0x0d || code === 0x2028 || code === 0x2029;
}

function isLeadSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Keywords whose parenthesized head a statement follows: `if (x) /re/.test(y)`. */
const CONTROL_WORDS = new Set(["if", "while", "for", "with"]);

/** The index of the last non-space character before `at`, or -1. */
function previousCode(source: string, at: number): number {
  let i = at - 1;
  while (i >= 0 && isSpaceCode(source.charCodeAt(i))) i--;
  return i;
}

/** The word ending at `end` (inclusive) and whether it is a property name (after `.`). */
function wordBefore(source: string, end: number): { word: string; property: boolean } {
  let start = end;
  while (start > 0 && isWordCode(source.charCodeAt(start - 1))) start--;
  const before = previousCode(source, start);
  return { word: source.slice(start, end + 1), property: source.charCodeAt(before) === 0x2e };
}

/**
 * What the scan knows of the code before a `/`: where the last `)` closing the head of
 * `if`/`while`/`for`/`with`, and the last `}` closing a block (not an object literal), are.
 */
interface CodeContext {
  controlClose: number;
  blockClose: number;
}

/** Whether a `/` at `at` (in code) starts a regular expression, judged by what precedes it. */
function regexMayStart(source: string, at: number, context: CodeContext): boolean {
  const i = previousCode(source, at);
  if (i < 0) return true;
  const before = source.charCodeAt(i);
  if (before === 0x29) return context.controlClose === i; // `)`
  if (before === 0x7d) return context.blockClose === i; // `}`
  // `]`, a quote or a backtick end an operand; so do postfix `++` and `--`.
  if (before === 0x5d || before === 0x27 || before === 0x22 || before === 0x60) return false;
  if ((before === 0x2b || before === 0x2d) && source.charCodeAt(i - 1) === before) return false;
  if (!isWordCode(before)) return true;
  const { word, property } = wordBefore(source, i);
  return !property && REGEX_AFTER_WORD.has(word);
}

/** Whether a `(` at `at` opens the head of `if`/`while`/`for`/`with` (not a call or a group). */
function opensControlHead(source: string, at: number): boolean {
  const i = previousCode(source, at);
  if (i < 0 || !isWordCode(source.charCodeAt(i))) return false;
  const { word, property } = wordBefore(source, i);
  return !property && CONTROL_WORDS.has(word);
}

/**
 * Whether a `{` at `at` opens a block (after `)`, `=>`, `;`, `{`, `}`, `else`, ... or at the start)
 * rather than an object literal (after an operator, `(`, `,`, `[`, `:`, `?` or `return`).
 */
function opensBlock(source: string, at: number): boolean {
  const i = previousCode(source, at);
  if (i < 0) return true;
  const before = source.charCodeAt(i);
  if (before === 0x29 || before === 0x3b || before === 0x7b || before === 0x7d) return true;
  if (before === 0x3e) return source.charCodeAt(i - 1) === 0x3d; // `=>`
  if (isWordCode(before)) {
    const { word, property } = wordBefore(source, i);
    return !property && !REGEX_AFTER_WORD.has(word);
  }
  return false;
}

/**
 * Finds where a script's characters outside Latin-1 can be escaped without changing what it
 * does.
 * @example
 * ```ts
 * const pad = `\n// ${"x".repeat(200)}`; // past one edit per 64 characters it does not pay
 * latin1Edits(`a = "x — y"; // →${pad}`); // [[7, 1], [16, 1]]
 * latin1Edits(`a = \`—\`;${pad}`); // null: in a template literal
 * latin1Edits("a = 1;"); // null: nothing to do
 * ```
 * @param source a script's text
 * @returns the edits in source order, or null when there is nothing to do, it is not sure, or
 *   there are so many that escaping would not pay (more than one per 64 characters)
 */
export function latin1Edits(source: string): Latin1Edit[] | null {
  const any = NOT_LATIN1.test(source);
  EMPTY.test("");
  if (!any) return null;
  const edits: Latin1Edit[] = [];
  const n = source.length;
  /** Notes the non-Latin-1 character at `at` (after `prefix` code units); the index after it. */
  const note = (at: number, prefix = 0): number => {
    const width = isLeadSurrogate(source.charCodeAt(at + prefix)) && at + prefix + 1 < n ? 2 : 1;
    edits.push([at, prefix + width]);
    return at + prefix + width;
  };
  /** Per open `{`: a template substitution (`${`), a block, or an object literal. */
  const braces: Array<"template" | "block" | "object"> = [];
  /** Per open `(`: whether it is the head of `if`/`while`/`for`/`with`. */
  const parens: boolean[] = [];
  const context: CodeContext = { controlClose: -1, blockClose: -1 };

  /** A quoted string from its opening quote: the index after it, or -1. */
  const string = (start: number, quote: number): number => {
    for (let j = start + 1; j < n;) {
      const code = source.charCodeAt(j);
      if (code === quote) return j + 1;
      if (code === 0x5c) {
        const next = source.charCodeAt(j + 1);
        if (next === 0x2028 || next === 0x2029) return -1; // a line continuation
        j = next > 0xff ? note(j, 1) : j + 2;
      } else if (code === 0x0a || code === 0x0d) return -1;
      else j = code > 0xff ? note(j) : j + 1;
    }
    return -1;
  };
  /** A regular expression literal from its `/`: the index after its flags, or -1. */
  const regex = (start: number): number => {
    let inClass = false;
    for (let j = start + 1; j < n;) {
      const code = source.charCodeAt(j);
      if (isLineTerminator(code)) return -1;
      if (code === 0x5c) {
        if (source.charCodeAt(j + 1) > 0xff) return -1;
        j += 2;
        continue;
      }
      if (code === 0x5b) inClass = true;
      else if (code === 0x5d) inClass = false;
      else if (code === 0x2f && !inClass) {
        j++;
        while (j < n && isWordCode(source.charCodeAt(j))) j++;
        return j;
      }
      j = code > 0xff ? note(j) : j + 1;
    }
    return -1;
  };
  /** Template text from after a `` ` `` or a substitution's `}`: where code resumes, or -1. */
  const template = (start: number): number => {
    for (let j = start; j < n;) {
      const code = source.charCodeAt(j);
      if (code === 0x60) return j + 1;
      if (code === 0x5c) {
        if (source.charCodeAt(j + 1) > 0xff) return -1;
        j += 2;
      } else if (code === 0x24 && source.charCodeAt(j + 1) === 0x7b) {
        braces.push("template");
        return j + 2;
      } else if (code > 0xff) return -1;
      else j++;
    }
    return -1;
  };
  /** A comment from its `/`: the index after it, or -1. */
  const comment = (start: number, block: boolean): number => {
    const end = block ? source.indexOf("*/", start + 2) : n;
    if (end < 0) return -1;
    for (let j = start + 2; j < end;) {
      const code = source.charCodeAt(j);
      if (code === 0x2028 || code === 0x2029) return -1;
      if (!block && (code === 0x0a || code === 0x0d)) return j;
      j = code > 0xff ? note(j) : j + 1;
    }
    return block ? end + 2 : n;
  };

  let i = 0;
  if (source.startsWith("#!")) {
    while (i < n && !isLineTerminator(source.charCodeAt(i))) {
      if (source.charCodeAt(i) > 0xff) return null;
      i++;
    }
  }
  while (i < n) {
    const code = source.charCodeAt(i);
    if (code === 0x2f) {
      const next = source.charCodeAt(i + 1);
      if (next === 0x2f || next === 0x2a) i = comment(i, next === 0x2a);
      else if (regexMayStart(source, i, context)) i = regex(i);
      else i++;
    } else if (code === 0x27 || code === 0x22) i = string(i, code);
    else if (code === 0x60) i = template(i + 1);
    else if (code === 0x7b) {
      braces.push(opensBlock(source, i) ? "block" : "object");
      i++;
    } else if (code === 0x7d) {
      const kind = braces.pop();
      if (kind === undefined) return null;
      if (kind === "block") context.blockClose = i;
      i = kind === "template" ? template(i + 1) : i + 1;
    } else if (code === 0x28) {
      parens.push(opensControlHead(source, i));
      i++;
    } else if (code === 0x29) {
      const control = parens.pop();
      if (control === undefined) return null;
      if (control) context.controlClose = i;
      i++;
    } else if (code > 0xff) return null; // an identifier or other code: not rewritten
    else i++;
    if (i < 0) return null;
  }
  if (edits.length > MAX_EDITS || edits.length * MAX_EDIT_SHARE > n) return null;
  return braces.length === 0 && parens.length === 0 && edits.length > 0 ? edits : null;
}

/** The `\uXXXX` escape of each UTF-16 code unit of `text`. */
function escapeUnits(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    out += `\\u${text.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}

/**
 * Applies `latin1Edits`' result, after checking that the edits are in order, each covers one
 * character outside Latin-1 (after an optional backslash that starts an escape), and together
 * they cover every such character of `source`. That refuses most edits made for another text;
 * the runtime also sends the SHA-256 of the bytes it scanned (`Latin1Hint`), which the child
 * checks first, so edits are only ever applied to the text they were made for.
 * @example
 * ```ts
 * applyLatin1Edits('a = "x — y";', [[7, 1]]); // 'a = "x \\u2014 y";'
 * ```
 * @param source the text the edits were made for
 * @param edits the edits
 * @returns the rewritten text (all Latin-1), or null when the edits do not fit `source`
 */
export function applyLatin1Edits(source: string, edits: readonly Latin1Edit[]): string | null {
  const parts: string[] = [];
  let copied = 0;
  let covered = 0;
  for (const [at, length] of edits) {
    if (!Number.isInteger(at) || !Number.isInteger(length) || at < copied) return null;
    const slashed = source.charCodeAt(at) === 0x5c;
    if (slashed) {
      // The backslash must start an escape: not be one escaped by the backslashes before it.
      let before = 0;
      while (at - before - 1 >= 0 && source.charCodeAt(at - before - 1) === 0x5c) before++;
      if (before % 2 === 1) return null;
    }
    const char = source.slice(slashed ? at + 1 : at, at + length);
    const code = char.codePointAt(0) ?? 0;
    if (code <= 0xff || char.length !== (code > 0xffff ? 2 : 1)) return null;
    parts.push(source.slice(copied, at), escapeUnits(char));
    copied = at + length;
    covered += char.length;
  }
  parts.push(source.slice(copied));
  const out = parts.join("");
  // Every character outside Latin-1 was one the edits covered: none is left, and as many went.
  const total = source.match(ALL_NOT_LATIN1)?.length ?? 0;
  // The match made `source` V8's last match subject (`RegExp.input`): let it go.
  EMPTY.test("");
  return total === covered && !NOT_LATIN1.test(out) ? oneByte(out) : null;
}

/**
 * The same text in a string V8 stores one byte per character. Joining slices of a two-byte
 * string gives a two-byte string whatever its characters (measured: the 2.6 million characters of
 * a start-sdk bundle stayed 5.3 MB after the edits); V8's UTF-8 decoder makes a one-byte string
 * whenever every character is Latin-1 (2.7 MB; ~7 ms for the bundle).
 */
function oneByte(text: string): string {
  return new TextDecoder().decode(new TextEncoder().encode(text));
}
