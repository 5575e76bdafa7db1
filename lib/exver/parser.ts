/**
 * The ExVer grammar: hand-written recursive descent following the SDK's PEG grammar, including
 * its ordered choice, backtracking and furthest-failure error reporting. It returns plain data
 * (`VersionData`, `ExtendedVersionData`, `VersionRangeData` trees); the classes are built from it
 * in `version.ts` and `range.ts`, so this module imports no class.
 */

import { type ExVerGrammar, ExVerSyntaxError } from "./errors.ts";
import type {
  CmpOp,
  ExtendedVersionData,
  VersionData,
  VersionRangeAtom,
  VersionRangeData,
} from "./types.ts";

// Expectations: what the parser can expect at its furthest failure, with the description the
// SDK's peggy parser uses (kept for comparison and machine use) and a friendlier one for
// messages. Flag `1 << i` stands for entry `i`; the flags are local constants on purpose (the
// parser's hot path reads them, and imported bindings measured slower).
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

const X_OR = 1 << 0;
const X_AND = 1 << 1;
const X_LPAREN = 1 << 2;
const X_RPAREN = 1 << 3;
const X_COLON = 1 << 4;
const X_HASH = 1 << 5;
const X_BANG = 1 << 6;
const X_STAR = 1 << 7;
const X_GE = 1 << 8;
const X_LE = 1 << 9;
const X_GT = 1 << 10;
const X_LT = 1 << 11;
const X_EQ = 1 << 12;
const X_NE = 1 << 13;
const X_CARET = 1 << 14;
const X_TILDE = 1 << 15;
const X_DOT = 1 << 16;
const X_LOWER = 1 << 17;
const X_LETTER = 1 << 18;
const X_DASH = 1 << 19;
const X_DIGIT = 1 << 20;
const X_WS = 1 << 21;
const X_END = 1 << 22;

const C_TAB = 9;
const C_LF = 10;
const C_CR = 13;
const C_SPACE = 32;
const C_BANG = 33;
const C_HASH = 35;
const C_AMP = 38;
const C_LPAREN = 40;
const C_RPAREN = 41;
const C_STAR = 42;
const C_DASH = 45;
const C_DOT = 46;
const C_0 = 48;
const C_9 = 57;
const C_COLON = 58;
const C_LT = 60;
const C_EQ = 61;
const C_GT = 62;
const C_UPPER_A = 65;
const C_UPPER_Z = 90;
const C_CARET = 94;
const C_LOWER_A = 97;
const C_LOWER_Z = 122;
const C_PIPE = 124;
const C_TILDE = 126;

/** A range node of the parse tree: a plain `{ atom }`. */
function node(atom: VersionRangeAtom<ExtendedVersionData>): VersionRangeData {
  return { atom };
}

/** A parse outcome: the value, or the error describing the furthest failure. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ExVerSyntaxError };

/**
 * One parse of one string, one method per grammar rule. Every rule returns `undefined` on
 * failure and leaves `pos` where it started, like PEG rules; `fail` records the furthest failure
 * position and what was expected there, exactly where the SDK's generated parser records it, so
 * error offsets agree. (One class on purpose: a separate lexer base class measured slower.)
 */
class Parser {
  /** The input. */
  readonly src: string;
  /** Current offset into `src`. */
  pos = 0;
  /** Furthest offset at which something was expected. */
  failPos = 0;
  /** The expectation flags (`X_*` above) recorded at `failPos`. */
  failMask = 0;

  /** Starts a parse of `src` at offset 0. */
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

  /** Fails a rule: moves back to `start` (where the rule began) and yields `undefined`. */
  backtrack(start: number): undefined {
    this.pos = start;
    return undefined;
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
    const expected: string[] = [];
    const friendly: string[] = [];
    for (let i = 0; i < EXPECTATIONS.length; i++) {
      if (this.failMask & (1 << i)) {
        expected.push(EXPECTATIONS[i][0]);
        friendly.push(EXPECTATIONS[i][1]);
      }
    }
    expected.sort();
    return {
      ok: false,
      error: new ExVerSyntaxError(this.src, grammar, this.failPos, expected, friendly),
    };
  }

  // Lexical rules

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

  // Grammar rules

  /** `VersionNumber = Digit ("." Digit)*`. */
  versionNumber(): number[] | undefined {
    const first = this.digit();
    if (first === undefined) return undefined;
    const out = [first];
    this.dotted(out, false);
    return out;
  }

  /** Appends `("." Item)*` to `out`; Item is `Digit`, or `PreReleaseSegment` with `segments`. */
  dotted(out: (string | number)[], segments: boolean): void {
    for (;;) {
      const save = this.pos;
      if (!this.lit(C_DOT, X_DOT)) return;
      const item = segments ? this.preReleaseSegment() : this.digit();
      if (item === undefined) {
        this.pos = save;
        return;
      }
      out.push(item);
    }
  }

  /** `PreReleaseSegment = "."? (Digit / String)`. */
  preReleaseSegment(): string | number | undefined {
    const save = this.pos;
    this.lit(C_DOT, X_DOT);
    const seg = this.digit() ?? this.letters();
    if (seg === undefined) this.pos = save;
    return seg;
  }

  /** `PreRelease = "-" PreReleaseSegment ("." PreReleaseSegment)*`. */
  preRelease(): (string | number)[] | undefined {
    const start = this.pos;
    if (!this.lit(C_DASH, X_DASH)) return undefined;
    const first = this.preReleaseSegment();
    if (first === undefined) return this.backtrack(start);
    const out = [first];
    this.dotted(out, true);
    return out;
  }

  /** `Version = VersionNumber PreRelease?`. */
  version(): VersionData | undefined {
    const number = this.versionNumber();
    if (number === undefined) return undefined;
    return { number, prerelease: this.preRelease() ?? [] };
  }

  /** `Flavor = "#" FlavorString ":"`. */
  flavorPrefix(): string | undefined {
    const start = this.pos;
    if (!this.lit(C_HASH, X_HASH)) return undefined;
    const flavor = this.lowers();
    if (!this.lit(C_COLON, X_COLON)) return this.backtrack(start);
    return flavor;
  }

  /**
   * `ExtendedVersion = Flavor? Version ":" Version`, or with `optionalDownstream` the range
   * grammar's `VersionSpec = Flavor? Version (":" Version)?` (downstream defaults to `0`).
   */
  extendedVersion(optionalDownstream: boolean): ExtendedVersionData | undefined {
    const start = this.pos;
    const flavor = this.flavorPrefix();
    const upstream = this.version();
    if (upstream === undefined) return this.backtrack(start);
    const save = this.pos;
    let downstream = this.lit(C_COLON, X_COLON) ? this.version() : undefined;
    if (downstream === undefined) {
      if (!optionalDownstream) return this.backtrack(start);
      this.pos = save;
      downstream = { number: [0], prerelease: [] };
    }
    // The SDK stores `flavor || null`: the empty flavor of `#:1:0` is no flavor.
    return { flavor: flavor || null, upstream, downstream };
  }

  /** `Emver = Digit "." Digit "." Digit ("." Digit)?` (the legacy 3- or 4-part form). */
  emver(): ExtendedVersionData | undefined {
    const start = this.pos;
    const parts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const d = i > 0 && !this.lit(C_DOT, X_DOT) ? undefined : this.digit();
      if (d === undefined) return this.backtrack(start);
      parts.push(d);
    }
    let revision = 0;
    const save = this.pos;
    if (this.lit(C_DOT, X_DOT)) {
      const d = this.digit();
      if (d === undefined) this.pos = save;
      else revision = d;
    }
    return {
      flavor: null,
      upstream: { number: parts, prerelease: [] },
      downstream: { number: [revision], prerelease: [] },
    };
  }

  /** `CmpOp`, tried in the SDK's order: `>= <= > < = != ^ ~`. */
  cmpOp(): CmpOp | undefined {
    const p = this.pos;
    const c = this.code(p);
    const c2 = this.code(p + 1);
    if (c === C_GT && c2 === C_EQ) return this.take(2, ">=");
    this.fail(X_GE);
    if (c === C_LT && c2 === C_EQ) return this.take(2, "<=");
    this.fail(X_LE);
    if (c === C_GT) return this.take(1, ">");
    this.fail(X_GT);
    if (c === C_LT) return this.take(1, "<");
    this.fail(X_LT);
    if (c === C_EQ) return this.take(1, "=");
    this.fail(X_EQ);
    if (c === C_BANG && c2 === C_EQ) return this.take(2, "!=");
    this.fail(X_NE);
    if (c === C_CARET) return this.take(1, "^");
    this.fail(X_CARET);
    if (c === C_TILDE) return this.take(1, "~");
    this.fail(X_TILDE);
    return undefined;
  }

  /** `Anchor = CmpOp? _ VersionSpec` (or `Emver` in emver mode); a bare version means `^`. */
  anchor(emver: boolean): VersionRangeData | undefined {
    const start = this.pos;
    const op = this.cmpOp();
    this.ws();
    const version = emver ? this.emver() : this.extendedVersion(true);
    if (version === undefined) return this.backtrack(start);
    return node({ type: "Anchor", operator: op ?? "^", version });
  }

  /** `Parens = "(" _ VersionRange _ ")"`; parentheses leave no node behind. */
  parens(emver: boolean): VersionRangeData | undefined {
    const start = this.pos;
    if (!this.lit(C_LPAREN, X_LPAREN)) return undefined;
    this.ws();
    const inner = this.range(emver);
    if (inner === undefined) return this.backtrack(start);
    this.ws();
    if (!this.lit(C_RPAREN, X_RPAREN)) return this.backtrack(start);
    return inner;
  }

  /** `Not = "!" _ VersionRangeAtom`. */
  not(emver: boolean): VersionRangeData | undefined {
    const start = this.pos;
    if (!this.lit(C_BANG, X_BANG)) return undefined;
    this.ws();
    const value = this.atom(emver);
    if (value === undefined) return this.backtrack(start);
    return node({ type: "Not", value });
  }

  /** `Any = "*"`. */
  any(): VersionRangeData | undefined {
    return this.lit(C_STAR, X_STAR) ? node({ type: "Any" }) : undefined;
  }

  /** `None = "!"`. */
  none(): VersionRangeData | undefined {
    return this.lit(C_BANG, X_BANG) ? node({ type: "None" }) : undefined;
  }

  /** `FlavorAtom = "#" FlavorString` (the flavor may be empty: `#`). */
  flavorAtom(): VersionRangeData | undefined {
    return this.lit(C_HASH, X_HASH) ? node({ type: "Flavor", flavor: this.lowers() }) : undefined;
  }

  /** `VersionRangeAtom = Parens / Anchor / Not / Any / None / FlavorAtom` (no flavors in emver). */
  atom(emver: boolean): VersionRangeData | undefined {
    return this.parens(emver) ?? this.anchor(emver) ?? this.not(emver) ?? this.any() ??
      this.none() ?? (emver ? undefined : this.flavorAtom());
  }

  /**
   * `VersionRange = VersionRangeAtom (_ ((Or / And) _)? VersionRangeAtom)*`, folded left to right
   * with no precedence between `&&` and `||`; juxtaposition means `&&` (SDK behaviour).
   */
  range(emver: boolean): VersionRangeData | undefined {
    let result = this.atom(emver);
    if (result === undefined) return undefined;
    const s = this.src;
    for (;;) {
      const save = this.pos;
      this.ws();
      const p = this.pos;
      let or = false;
      let op = false;
      if (s.charCodeAt(p) === C_PIPE && s.charCodeAt(p + 1) === C_PIPE) {
        or = op = true;
      } else {
        this.fail(X_OR);
        if (s.charCodeAt(p) === C_AMP && s.charCodeAt(p + 1) === C_AMP) op = true;
        else this.fail(X_AND);
      }
      if (op) {
        this.pos += 2;
        this.ws();
      }
      const right = this.atom(emver);
      if (right === undefined) {
        this.pos = save;
        return result;
      }
      result = node({ type: or ? "Or" : "And", left: result, right });
    }
  }
}

/** Parses a whole string as a bare `Version`. */
export function tryParseVersion(s: string): ParseResult<VersionData> {
  const p = new Parser(s);
  return p.run(() => p.version(), "version");
}

/** Parses a whole string as an `ExtendedVersion` (`[#flavor:]upstream:downstream`). */
export function tryParseExtendedVersion(s: string): ParseResult<ExtendedVersionData> {
  const p = new Parser(s);
  return p.run(() => p.extendedVersion(false), "extended version");
}

/** Parses a whole string as a legacy emver version (`a.b.c[.d]`). */
export function tryParseEmver(s: string): ParseResult<ExtendedVersionData> {
  const p = new Parser(s);
  return p.run(() => p.emver(), "emver version");
}

/** Parses a whole string as a version range (emver ranges with `emver`). */
export function tryParseRange(s: string, emver: boolean): ParseResult<VersionRangeData> {
  const p = new Parser(s);
  return p.run(() => p.range(emver), emver ? "emver version range" : "version range");
}

/** The friendly descriptions of peggy-notation expectations, in flag order. */
export function friendlyOf(expected: readonly string[]): string[] {
  return EXPECTATIONS.filter(([peggy]) => expected.includes(peggy)).map(([, f]) => f);
}

/** The parsed value, or throws the parse's `ExVerSyntaxError`. */
export function unwrap<T>(r: ParseResult<T>): T {
  if (r.ok) return r.value;
  throw r.error;
}
