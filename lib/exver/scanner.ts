/**
 * The parser's lexical layer: input position, furthest-failure bookkeeping (as the SDK's
 * generated peggy parser does it, so error offsets agree), single characters, whitespace,
 * digits and letters. The grammar rules built on it are in `parser.ts`.
 */

import {
  type ExVerGrammar,
  type ExVerSyntaxError,
  syntaxErrorAt,
  X_DIGIT,
  X_END,
  X_LETTER,
  X_LOWER,
  X_WS,
} from "./errors.ts";

const C_TAB = 9;
const C_LF = 10;
const C_CR = 13;
const C_SPACE = 32;
const C_0 = 48;
const C_9 = 57;
const C_UPPER_A = 65;
const C_UPPER_Z = 90;
const C_LOWER_A = 97;
const C_LOWER_Z = 122;

/** A parse outcome: the value, or the error describing the furthest failure. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ExVerSyntaxError };

/**
 * One scan of one string. Every rule returns `undefined` (or consumes nothing) on failure and
 * leaves `pos` where it started, like PEG rules; `fail` records the furthest failure position
 * and what was expected there, exactly where the SDK's generated parser records it.
 */
export class Scanner {
  /** The input. */
  readonly src: string;
  /** Current offset into `src`. */
  pos = 0;
  /** Furthest offset at which something was expected. */
  failPos = 0;
  /** The expectation flags (from `errors.ts`) recorded at `failPos`. */
  failMask = 0;

  /** Starts a scan of `src` at offset 0. */
  constructor(src: string) {
    this.src = src;
  }

  /** The UTF-16 code unit at `at` (`NaN` past the end). */
  code(at: number): number {
    return this.src.charCodeAt(at);
  }

  /** Records that `bit` was expected at the current position. */
  fail(bit: number): void {
    if (this.pos < this.failPos) return;
    if (this.pos > this.failPos) {
      this.failPos = this.pos;
      this.failMask = 0;
    }
    this.failMask |= bit;
  }

  /** Consumes the character `c` if it comes next; otherwise records `bit` as expected here. */
  lit(c: number, bit: number): boolean {
    if (this.src.charCodeAt(this.pos) === c) {
      this.pos++;
      return true;
    }
    this.fail(bit);
    return false;
  }

  /** Advances `n` code units and returns `value`. */
  take<T>(n: number, value: T): T {
    this.pos += n;
    return value;
  }

  /** Runs a start rule and requires it to consume the whole input. */
  run<T>(rule: () => T | undefined, grammar: ExVerGrammar): ParseResult<T> {
    const value = rule();
    if (value !== undefined && this.pos === this.src.length) return { ok: true, value };
    if (value !== undefined) this.fail(X_END);
    return { ok: false, error: syntaxErrorAt(this.src, grammar, this.failPos, this.failMask) };
  }

  /** `_ = [ \t\n\r]*` (reported as "whitespace"). */
  ws(): void {
    const s = this.src;
    let p = this.pos;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === C_SPACE || c === C_TAB || c === C_LF || c === C_CR) p++;
      else break;
    }
    this.pos = p;
    this.fail(X_WS);
  }

  /** `Digit = [0-9]+`, valued like `parseInt(text, 10)`. */
  digit(): number | undefined {
    const s = this.src;
    const start = this.pos;
    let p = start;
    let n = 0;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c >= C_0 && c <= C_9) {
        n = n * 10 + (c - C_0);
        p++;
      } else break;
    }
    this.pos = p;
    this.fail(X_DIGIT);
    if (p === start) return undefined;
    // Up to 15 digits the running value is exact; beyond that round exactly as parseInt does.
    return p - start <= 15 ? n : parseInt(s.slice(start, p), 10);
  }

  /** `FlavorString = [a-z]*`. */
  lowers(): string {
    return this.word(false);
  }

  /** `String = [a-zA-Z]+`. */
  letters(): string | undefined {
    const word = this.word(true);
    return word === "" ? undefined : word;
  }

  /** `[a-z]*`, or `[a-zA-Z]*` with `upper`; records the matching expectation. */
  word(upper: boolean): string {
    const s = this.src;
    const start = this.pos;
    let p = start;
    for (;;) {
      const c = s.charCodeAt(p);
      if ((c >= C_LOWER_A && c <= C_LOWER_Z) || (upper && c >= C_UPPER_A && c <= C_UPPER_Z)) p++;
      else break;
    }
    this.pos = p;
    this.fail(upper ? X_LETTER : X_LOWER);
    return s.slice(start, p);
  }
}
