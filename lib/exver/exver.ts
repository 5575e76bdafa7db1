/**
 * ExVer: extended versions (`#flavor:upstream:downstream`) and version ranges.
 *
 * A self-contained re-implementation of the `Version`, `ExtendedVersion` and `VersionRange`
 * classes of `@start9labs/start-sdk@2.0.9` (`@start9labs/start-core/exver`). Objects have the
 * same own fields (`number`/`prerelease`, `flavor`/`upstream`/`downstream`, `atom`), the same atom
 * types and the same method names, so the package's SDK code accepts our objects and ours accept
 * the SDK's (by duck typing, never `instanceof`). Parsing, printing, comparison and the
 * truth-table algebra behind `satisfiable`/`intersects`/`normalize` deliberately reproduce the
 * SDK's observable behaviour, quirks included (see the notes marked "SDK quirk"); the
 * differential tests in `tests/exver_test.ts` check that.
 *
 * The parser is hand-written recursive descent following the SDK's PEG grammar, including its
 * ordered choice, backtracking and furthest-failure error reporting.
 */

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

/** A comparison operator of a version range anchor. */
export type CmpOp = ">=" | "<=" | ">" | "<" | "=" | "!=" | "^" | "~";

/** The outcome of comparing two versions. */
export type Ordering = "greater" | "equal" | "less";

/** Structural view of a `Version` (ours or the SDK's). */
export interface VersionLike {
  /** Numeric components, e.g. `[1, 2, 3]`. */
  number: readonly number[];
  /** Pre-release identifiers, e.g. `["beta", 1]`. */
  prerelease: readonly (string | number)[];
}

/** Structural view of an `ExtendedVersion` (ours or the SDK's). */
export interface ExtendedVersionLike {
  /** Flavor, or `null` when unflavored. */
  flavor: string | null;
  /** Upstream version. */
  upstream: VersionLike;
  /** Downstream (packaging) version. */
  downstream: VersionLike;
}

/** An `Anchor` atom: a comparison against a version. */
export type AnchorAtom = { type: "Anchor"; operator: CmpOp; version: ExtendedVersionLike };
/** An `And` atom: both sides must hold. */
export type AndAtom = { type: "And"; left: VersionRangeLike; right: VersionRangeLike };
/** An `Or` atom: either side must hold. */
export type OrAtom = { type: "Or"; left: VersionRangeLike; right: VersionRangeLike };
/** A `Not` atom: the negation of `value`. */
export type NotAtom = { type: "Not"; value: VersionRangeLike };
/** A `Flavor` atom: matches versions of exactly this flavor (`null` = unflavored). */
export type FlavorAtom = { type: "Flavor"; flavor: string | null };
/** The `Any` atom (`*`). */
export type AnyAtom = { type: "Any" };
/** The `None` atom (`!`). */
export type NoneAtom = { type: "None" };

/** Any atom of a version range, as found in `range.atom`. */
export type VersionRangeAtom =
  | AnchorAtom
  | AndAtom
  | OrAtom
  | NotAtom
  | FlavorAtom
  | AnyAtom
  | NoneAtom;

/** Structural view of a `VersionRange` (ours or the SDK's). */
export interface VersionRangeLike {
  /** The root atom of the range expression. */
  atom: VersionRangeAtom;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

// Expectation bits. Each has the description the SDK's peggy parser uses (kept for comparison
// and machine use) and a friendlier one for messages.
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

function listOf(items: readonly string[]): string {
  if (items.length === 0) return "nothing";
  if (items.length === 1) return items[0];
  if (items.length === 2) return `${items[0]} or ${items[1]}`;
  return `${items.slice(0, -1).join(", ")}, or ${items[items.length - 1]}`;
}

// ---------------------------------------------------------------------------------------------
// Parser (recursive descent mirroring the SDK's PEG grammar)
// ---------------------------------------------------------------------------------------------

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

type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ExVerSyntaxError };

/**
 * One parse of one string. Every rule returns `undefined` on failure and restores `pos`, like
 * PEG rules; `fail` records the furthest failure position and what was expected there, exactly
 * where the SDK's generated parser records it, so error offsets agree.
 */
class Parser {
  readonly src: string;
  pos = 0;
  failPos = 0;
  failMask = 0;

  constructor(src: string) {
    this.src = src;
  }

  code(at: number): number {
    return this.src.charCodeAt(at);
  }

  fail(bit: number): void {
    if (this.pos < this.failPos) return;
    if (this.pos > this.failPos) {
      this.failPos = this.pos;
      this.failMask = 0;
    }
    this.failMask |= bit;
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
    const s = this.src;
    const start = this.pos;
    let p = start;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c >= C_LOWER_A && c <= C_LOWER_Z) p++;
      else break;
    }
    this.pos = p;
    this.fail(X_LOWER);
    return s.slice(start, p);
  }

  /** `String = [a-zA-Z]+`. */
  letters(): string | undefined {
    const s = this.src;
    const start = this.pos;
    let p = start;
    for (;;) {
      const c = s.charCodeAt(p);
      if ((c >= C_LOWER_A && c <= C_LOWER_Z) || (c >= C_UPPER_A && c <= C_UPPER_Z)) p++;
      else break;
    }
    this.pos = p;
    this.fail(X_LETTER);
    return p === start ? undefined : s.slice(start, p);
  }

  /** `VersionNumber = Digit ("." Digit)*`. */
  versionNumber(): number[] | undefined {
    const first = this.digit();
    if (first === undefined) return undefined;
    const out = [first];
    for (;;) {
      const save = this.pos;
      if (this.code(save) !== C_DOT) {
        this.fail(X_DOT);
        break;
      }
      this.pos++;
      const d = this.digit();
      if (d === undefined) {
        this.pos = save;
        break;
      }
      out.push(d);
    }
    return out;
  }

  /** `PreReleaseSegment = "."? (Digit / String)`. */
  preReleaseSegment(): string | number | undefined {
    const save = this.pos;
    if (this.code(save) === C_DOT) this.pos++;
    else this.fail(X_DOT);
    let seg: string | number | undefined = this.digit();
    if (seg === undefined) seg = this.letters();
    if (seg === undefined) this.pos = save;
    return seg;
  }

  /** `PreRelease = "-" PreReleaseSegment ("." PreReleaseSegment)*`. */
  preRelease(): (string | number)[] | undefined {
    const start = this.pos;
    if (this.code(start) !== C_DASH) {
      this.fail(X_DASH);
      return undefined;
    }
    this.pos++;
    const first = this.preReleaseSegment();
    if (first === undefined) {
      this.pos = start;
      return undefined;
    }
    const out = [first];
    for (;;) {
      const save = this.pos;
      if (this.code(save) !== C_DOT) {
        this.fail(X_DOT);
        break;
      }
      this.pos++;
      const seg = this.preReleaseSegment();
      if (seg === undefined) {
        this.pos = save;
        break;
      }
      out.push(seg);
    }
    return out;
  }

  /** `Version = VersionNumber PreRelease?`. */
  version(): Version | undefined {
    const number = this.versionNumber();
    if (number === undefined) return undefined;
    return new Version(number, this.preRelease() ?? []);
  }

  /** `Flavor = "#" FlavorString ":"`. */
  flavorPrefix(): string | undefined {
    const start = this.pos;
    if (this.code(start) !== C_HASH) {
      this.fail(X_HASH);
      return undefined;
    }
    this.pos++;
    const flavor = this.lowers();
    if (this.code(this.pos) !== C_COLON) {
      this.fail(X_COLON);
      this.pos = start;
      return undefined;
    }
    this.pos++;
    return flavor;
  }

  /** `ExtendedVersion = Flavor? Version ":" Version`. */
  extendedVersion(): ExtendedVersion | undefined {
    const start = this.pos;
    const flavor = this.flavorPrefix();
    const upstream = this.version();
    if (upstream === undefined) {
      this.pos = start;
      return undefined;
    }
    if (this.code(this.pos) !== C_COLON) {
      this.fail(X_COLON);
      this.pos = start;
      return undefined;
    }
    this.pos++;
    const downstream = this.version();
    if (downstream === undefined) {
      this.pos = start;
      return undefined;
    }
    // The SDK stores `flavor || null`: the empty flavor of `#:1:0` is no flavor.
    return new ExtendedVersion(flavor || null, upstream, downstream);
  }

  /** `VersionSpec = Flavor? Version (":" Version)?` (downstream defaults to `0`). */
  versionSpec(): ExtendedVersion | undefined {
    const start = this.pos;
    const flavor = this.flavorPrefix();
    const upstream = this.version();
    if (upstream === undefined) {
      this.pos = start;
      return undefined;
    }
    let downstream: Version | undefined;
    const save = this.pos;
    if (this.code(save) === C_COLON) {
      this.pos++;
      downstream = this.version();
      if (downstream === undefined) this.pos = save;
    } else {
      this.fail(X_COLON);
    }
    return new ExtendedVersion(flavor || null, upstream, downstream ?? new Version([0], []));
  }

  /** `Emver = Digit "." Digit "." Digit ("." Digit)?` (the legacy 3- or 4-part form). */
  emver(): ExtendedVersion | undefined {
    const start = this.pos;
    const parts: number[] = [];
    for (let i = 0; i < 3; i++) {
      if (i > 0) {
        if (this.code(this.pos) !== C_DOT) {
          this.fail(X_DOT);
          this.pos = start;
          return undefined;
        }
        this.pos++;
      }
      const d = this.digit();
      if (d === undefined) {
        this.pos = start;
        return undefined;
      }
      parts.push(d);
    }
    let revision: number | null = null;
    const save = this.pos;
    if (this.code(save) === C_DOT) {
      this.pos++;
      const d = this.digit();
      if (d === undefined) this.pos = save;
      else revision = d;
    } else {
      this.fail(X_DOT);
    }
    return new ExtendedVersion(null, new Version(parts, []), new Version([revision || 0], []));
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

  take<T>(n: number, value: T): T {
    this.pos += n;
    return value;
  }

  /** `Anchor = CmpOp? _ VersionSpec` (or `Emver` in emver mode); a bare version means `^`. */
  anchor(emver: boolean): VersionRange | undefined {
    const start = this.pos;
    const op = this.cmpOp();
    this.ws();
    const version = emver ? this.emver() : this.versionSpec();
    if (version === undefined) {
      this.pos = start;
      return undefined;
    }
    return new VersionRange({ type: "Anchor", operator: op ?? "^", version });
  }

  /** `Parens = "(" _ VersionRange _ ")"`; parentheses leave no node behind. */
  parens(emver: boolean): VersionRange | undefined {
    const start = this.pos;
    if (this.code(start) !== C_LPAREN) {
      this.fail(X_LPAREN);
      return undefined;
    }
    this.pos++;
    this.ws();
    const inner = this.range(emver);
    if (inner === undefined) {
      this.pos = start;
      return undefined;
    }
    this.ws();
    if (this.code(this.pos) !== C_RPAREN) {
      this.fail(X_RPAREN);
      this.pos = start;
      return undefined;
    }
    this.pos++;
    return inner;
  }

  /** `Not = "!" _ VersionRangeAtom`. */
  not(emver: boolean): VersionRange | undefined {
    const start = this.pos;
    if (this.code(start) !== C_BANG) {
      this.fail(X_BANG);
      return undefined;
    }
    this.pos++;
    this.ws();
    const value = this.atom(emver);
    if (value === undefined) {
      this.pos = start;
      return undefined;
    }
    return new VersionRange({ type: "Not", value });
  }

  /** `Any = "*"`. */
  any(): VersionRange | undefined {
    if (this.code(this.pos) !== C_STAR) {
      this.fail(X_STAR);
      return undefined;
    }
    this.pos++;
    return new VersionRange({ type: "Any" });
  }

  /** `None = "!"`. */
  none(): VersionRange | undefined {
    if (this.code(this.pos) !== C_BANG) {
      this.fail(X_BANG);
      return undefined;
    }
    this.pos++;
    return new VersionRange({ type: "None" });
  }

  /** `FlavorAtom = "#" FlavorString` (the flavor may be empty: `#`). */
  flavorAtom(): VersionRange | undefined {
    if (this.code(this.pos) !== C_HASH) {
      this.fail(X_HASH);
      return undefined;
    }
    this.pos++;
    return new VersionRange({ type: "Flavor", flavor: this.lowers() });
  }

  /** `VersionRangeAtom = Parens / Anchor / Not / Any / None / FlavorAtom` (no flavors in emver). */
  atom(emver: boolean): VersionRange | undefined {
    return this.parens(emver) ?? this.anchor(emver) ?? this.not(emver) ?? this.any() ??
      this.none() ?? (emver ? undefined : this.flavorAtom());
  }

  /**
   * `VersionRange = VersionRangeAtom (_ ((Or / And) _)? VersionRangeAtom)*`, folded left to right
   * with no precedence between `&&` and `||`; juxtaposition means `&&` (SDK behaviour).
   */
  range(emver: boolean): VersionRange | undefined {
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
      result = new VersionRange(
        or ? { type: "Or", left: result, right } : { type: "And", left: result, right },
      );
    }
  }
}

function unwrap<T>(r: ParseResult<T>): T {
  if (r.ok) return r.value;
  throw r.error;
}

function tryParseVersion(s: string): ParseResult<Version> {
  const p = new Parser(s);
  return p.run(() => p.version(), "version");
}

function tryParseExtendedVersion(s: string): ParseResult<ExtendedVersion> {
  const p = new Parser(s);
  return p.run(() => p.extendedVersion(), "extended version");
}

function tryParseRange(s: string, emver: boolean): ParseResult<VersionRange> {
  const p = new Parser(s);
  return p.run(() => p.range(emver), emver ? "emver version range" : "version range");
}

// ---------------------------------------------------------------------------------------------
// Structural helpers (work on ours and on foreign objects alike)
// ---------------------------------------------------------------------------------------------

function versionToString(v: VersionLike): string {
  return `${v.number.join(".")}${v.prerelease.length > 0 ? `-${v.prerelease.join(".")}` : ""}`;
}

function extendedVersionToString(v: ExtendedVersionLike): string {
  return `${v.flavor ? `#${v.flavor}:` : ""}${versionToString(v.upstream)}:${
    versionToString(v.downstream)
  }`;
}

/** SDK semantics, including its quirk of typing the mismatch case on `prerelease[1]`. */
function compareVersions(a: VersionLike, b: VersionLike): Ordering {
  const an = a.number;
  const bn = b.number;
  const len = Math.max(an.length, bn.length);
  for (let i = 0; i < len; i++) {
    const x = an[i] || 0;
    const y = bn[i] || 0;
    if (x > y) return "greater";
    if (x < y) return "less";
  }
  const ap = a.prerelease;
  const bp = b.prerelease;
  if (ap.length === 0 && bp.length !== 0) return "greater";
  if (ap.length !== 0 && bp.length === 0) return "less";
  const plen = Math.max(ap.length, bp.length);
  for (let i = 0; i < plen; i++) {
    const x = ap[i];
    const y = bp[i];
    if (typeof x === typeof y) {
      if (typeof x === "number" && typeof y === "number") {
        if (x > y) return "greater";
        if (x < y) return "less";
      } else if (typeof x === "string" && typeof y === "string") {
        if (x > y) return "greater";
        if (x < y) return "less";
      }
    } else {
      // SDK quirk: the mismatch branch looks at `prerelease[1]` of the left side, not `[i]`.
      switch (`${typeof ap[1]}:${typeof y}`) {
        case "number:string":
          return "less";
        case "string:number":
          return "greater";
        case "number:undefined":
        case "string:undefined":
          return "greater";
        case "undefined:number":
        case "undefined:string":
          return "less";
      }
    }
  }
  return "equal";
}

function orderingToSort(o: Ordering): -1 | 0 | 1 {
  return o === "greater" ? 1 : o === "equal" ? 0 : -1;
}

function compareExtended(a: ExtendedVersionLike, b: ExtendedVersionLike): Ordering | null {
  if (a.flavor !== b.flavor) return null;
  const up = compareVersions(a.upstream, b.upstream);
  if (up !== "equal") return up;
  return compareVersions(a.downstream, b.downstream);
}

function toVersion(v: VersionLike): Version {
  return v instanceof Version ? v : new Version([...v.number], [...v.prerelease]);
}

function incrementMajorOf(v: ExtendedVersionLike): ExtendedVersion {
  const numbers = v.upstream.number;
  const majorIdx = numbers.findIndex((n) => n !== 0);
  const next = numbers.map((n, i) => (i > majorIdx ? 0 : i === majorIdx ? n + 1 : n));
  return new ExtendedVersion(v.flavor, new Version(next, []), new Version([0], []));
}

function incrementMinorOf(v: ExtendedVersionLike): ExtendedVersion {
  const numbers = v.upstream.number;
  const majorIdx = numbers.findIndex((n) => n !== 0);
  const minorIdx = majorIdx === -1 ? majorIdx : majorIdx + 1;
  const next = numbers.map((n, i) => (i > minorIdx ? 0 : i === minorIdx ? n + 1 : n));
  return new ExtendedVersion(v.flavor, new Version(next, []), new Version([0], []));
}

/** `a == b` for flavors (the SDK compares flavor atoms loosely). */
function sameFlavor(a: string | null | undefined, b: string | null | undefined): boolean {
  return (a ?? null) === (b ?? null);
}

function satisfiesRange(v: ExtendedVersionLike, range: VersionRangeLike): boolean {
  const atom = range.atom;
  switch (atom.type) {
    case "Anchor": {
      const other = atom.version;
      switch (atom.operator) {
        case "=":
          return compareExtended(v, other) === "equal";
        case ">":
          return compareExtended(v, other) === "greater";
        case "<":
          return compareExtended(v, other) === "less";
        case ">=": {
          const c = compareExtended(v, other);
          return c === "greater" || c === "equal";
        }
        case "<=": {
          const c = compareExtended(v, other);
          return c === "less" || c === "equal";
        }
        case "!=":
          return compareExtended(v, other) !== "equal";
        case "^": {
          const c = compareExtended(v, other);
          return (c === "greater" || c === "equal") &&
            compareExtended(v, incrementMajorOf(other)) === "less";
        }
        case "~": {
          const c = compareExtended(v, other);
          return (c === "greater" || c === "equal") &&
            compareExtended(v, incrementMinorOf(other)) === "less";
        }
      }
      // SDK quirk: an unknown operator falls through to the `Flavor` case.
      return sameFlavor((atom as { flavor?: string | null }).flavor, v.flavor);
    }
    case "Flavor":
      return sameFlavor(atom.flavor, v.flavor);
    case "And":
      return satisfiesRange(v, atom.left) && satisfiesRange(v, atom.right);
    case "Or":
      return satisfiesRange(v, atom.left) || satisfiesRange(v, atom.right);
    case "Not":
      return !satisfiesRange(v, atom.value);
    case "Any":
      return true;
    case "None":
      return false;
  }
  return false;
}

function needsParens(range: VersionRangeLike, parent: "And" | "Or" | "Not"): boolean {
  switch (range.atom.type) {
    case "And":
    case "Or":
      return parent !== range.atom.type;
    case "Anchor":
    case "Any":
    case "None":
      return parent === "Not";
    default:
      return false;
  }
}

function rangeToStringParens(range: VersionRangeLike, parent: "And" | "Or" | "Not"): string {
  const s = rangeToString(range);
  return needsParens(range, parent) ? `(${s})` : s;
}

function rangeToString(range: VersionRangeLike): string {
  const atom = range.atom;
  switch (atom.type) {
    case "Anchor":
      return `${atom.operator}${extendedVersionToString(atom.version)}`;
    case "And":
      return `${rangeToStringParens(atom.left, "And")} && ${
        rangeToStringParens(atom.right, "And")
      }`;
    case "Or":
      return `${rangeToStringParens(atom.left, "Or")} || ${rangeToStringParens(atom.right, "Or")}`;
    case "Not":
      return `!${rangeToStringParens(atom.value, "Not")}`;
    case "Flavor":
      return atom.flavor == null ? "#" : `#${atom.flavor}`;
    case "Any":
      return "*";
    case "None":
      return "!";
  }
  return "";
}

function asRange(r: VersionRangeLike): VersionRange {
  return r instanceof VersionRange ? r : new VersionRange(r.atom);
}

// ---------------------------------------------------------------------------------------------
// Version
// ---------------------------------------------------------------------------------------------

/** A version number: numeric components plus optional pre-release identifiers (`1.2.3-beta.1`). */
export class Version {
  /** Numeric components, e.g. `[1, 2, 3]`. */
  number: number[];
  /** Pre-release identifiers, e.g. `["beta", 1]`. */
  prerelease: (string | number)[];

  /** Creates a version from its components. */
  constructor(number: number[], prerelease: (string | number)[]) {
    this.number = number;
    this.prerelease = prerelease;
  }

  /** Prints the version, e.g. `1.2.3` or `1.0.0-beta.1`. */
  toString(): string {
    return versionToString(this);
  }

  /** Compares with another version (semver-like precedence, SDK semantics). */
  compare(other: VersionLike): Ordering {
    return compareVersions(this, other);
  }

  /** Compares for `Array.prototype.sort`: -1, 0 or 1. */
  compareForSort(other: VersionLike): -1 | 0 | 1 {
    return orderingToSort(compareVersions(this, other));
  }

  /** Parses a bare version such as `1.2.3-beta.1`; throws `ExVerSyntaxError`. */
  static parse(version: string): Version {
    return unwrap(tryParseVersion(version));
  }

  /** Whether this version, taken as unflavored with downstream `0`, satisfies the range. */
  satisfies(versionRange: VersionRangeLike): boolean {
    return satisfiesRange(new ExtendedVersion(null, this, new Version([0], [])), versionRange);
  }
}

// ---------------------------------------------------------------------------------------------
// ExtendedVersion
// ---------------------------------------------------------------------------------------------

/** An extended version `#flavor:upstream:downstream` (the flavor is optional). */
export class ExtendedVersion {
  /** Flavor, or `null` when unflavored. */
  flavor: string | null;
  /** Upstream version. */
  upstream: Version;
  /** Downstream (packaging) version. */
  downstream: Version;

  /** Creates an extended version from its parts. */
  constructor(flavor: string | null, upstream: Version, downstream: Version) {
    this.flavor = flavor;
    this.upstream = upstream;
    this.downstream = downstream;
  }

  /** Prints the version, e.g. `#bitcoin:1.2.3:0` or `1.0.0:1`. */
  toString(): string {
    return extendedVersionToString(this);
  }

  /** Compares with another version; `null` when the flavors differ. */
  compare(other: ExtendedVersionLike): Ordering | null {
    return compareExtended(this, other);
  }

  /** Flavor-first comparison; SDK quirk: a smaller flavor is not detected and yields `null`. */
  compareLexicographic(other: ExtendedVersionLike): Ordering | null {
    if ((this.flavor || "") > (other.flavor || "")) return "greater";
    return compareExtended(this, other);
  }

  /** Compares for sorting: -1, 0 or 1, and `undefined` where `compareLexicographic` is `null`. */
  compareForSort(other: ExtendedVersionLike): -1 | 0 | 1 | undefined {
    const o = this.compareLexicographic(other);
    return o === null ? undefined : orderingToSort(o);
  }

  /** Whether this is strictly greater than `other` (false for other flavors). */
  greaterThan(other: ExtendedVersionLike): boolean {
    return compareExtended(this, other) === "greater";
  }

  /** Whether this is greater than or equal to `other` (false for other flavors). */
  greaterThanOrEqual(other: ExtendedVersionLike): boolean {
    const c = compareExtended(this, other);
    return c === "greater" || c === "equal";
  }

  /** Whether this equals `other` (same flavor, upstream and downstream precedence). */
  equals(other: ExtendedVersionLike): boolean {
    return compareExtended(this, other) === "equal";
  }

  /** Whether this is strictly less than `other` (false for other flavors). */
  lessThan(other: ExtendedVersionLike): boolean {
    return compareExtended(this, other) === "less";
  }

  /** Whether this is less than or equal to `other` (false for other flavors). */
  lessThanOrEqual(other: ExtendedVersionLike): boolean {
    const c = compareExtended(this, other);
    return c === "less" || c === "equal";
  }

  /** Parses `[#flavor:]upstream:downstream`; throws `ExVerSyntaxError`. */
  static parse(extendedVersion: string): ExtendedVersion {
    return unwrap(tryParseExtendedVersion(extendedVersion));
  }

  /** Parses a legacy emver version `a.b.c[.d]` (`d` becomes the downstream); throws. */
  static parseEmver(extendedVersion: string): ExtendedVersion {
    const p = new Parser(extendedVersion);
    return unwrap(p.run(() => p.emver(), "emver version"));
  }

  /** The next major upstream (first non-zero component + 1, rest zeroed), downstream `0`. */
  incrementMajor(): ExtendedVersion {
    return incrementMajorOf(this);
  }

  /** The next minor upstream (component after the first non-zero + 1), downstream `0`. */
  incrementMinor(): ExtendedVersion {
    return incrementMinorOf(this);
  }

  /** Whether this version satisfies the range (ours or the SDK's). */
  satisfies(versionRange: VersionRangeLike): boolean {
    return satisfiesRange(this, versionRange);
  }
}

// ---------------------------------------------------------------------------------------------
// Truth tables (the algebra behind satisfiable / intersects / normalize)
// ---------------------------------------------------------------------------------------------

/** A cut in the version line just below (`side` -1) or just above (`side` 1) a version. */
export interface VersionRangePoint {
  /** Upstream version of the cut. */
  upstream: Version;
  /** Downstream version of the cut. */
  downstream: Version;
  /** -1 cuts just below the version, 1 just above it. */
  side: -1 | 1;
}

/** A flavor class a truth table applies to: one flavor, or every flavor but some. */
export type FlavorKey =
  | { type: "Flavor"; flavor: string | null }
  | { type: "FlavorNot"; flavors: Set<string | null> };

/** Truth values over the version line: `values[i]` holds between `points[i-1]` and `points[i]`. */
export class VersionRangeTable {
  /** Ascending cuts. */
  points: VersionRangePoint[];
  /** One more value than there are points. */
  values: boolean[];

  /** Creates a table from cuts and values. */
  constructor(points: VersionRangePoint[], values: boolean[]) {
    this.points = points;
    this.values = values;
  }
}

function encodeFlavor(f: string | null): string {
  return f === null ? "n" : `s${f}`;
}

function flavorKeyId(key: FlavorKey): string {
  if (key.type === "Flavor") return `F${encodeFlavor(key.flavor)}`;
  return `N${JSON.stringify([...key.flavors].map(encodeFlavor).sort())}`;
}

/** Flavor-key → table map with the SDK `DeepMap`'s value keys, insertion order and key update. */
export class FlavorTableMap implements Iterable<[FlavorKey, VersionRangeTable]> {
  #entries = new Map<string, [FlavorKey, VersionRangeTable]>();

  /** Number of entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** The table for a key, if any. */
  get(key: FlavorKey): VersionRangeTable | undefined {
    return this.#entries.get(flavorKeyId(key))?.[1];
  }

  /** Whether the key is present. */
  has(key: FlavorKey): boolean {
    return this.#entries.has(flavorKeyId(key));
  }

  /** Sets the table for a key. */
  set(key: FlavorKey, table: VersionRangeTable): this {
    this.#entries.set(flavorKeyId(key), [key, table]);
    return this;
  }

  /** Iterates `[key, table]` pairs in insertion order. */
  *[Symbol.iterator](): IterableIterator<[FlavorKey, VersionRangeTable]> {
    for (const [k, t] of this.#entries.values()) yield [k, t];
  }

  /** Iterates `[key, table]` pairs in insertion order. */
  entries(): IterableIterator<[FlavorKey, VersionRangeTable]> {
    return this[Symbol.iterator]();
  }

  /** Iterates keys in insertion order. */
  *keys(): IterableIterator<FlavorKey> {
    for (const [k] of this.#entries.values()) yield k;
  }

  /** Iterates tables in insertion order. */
  *values(): IterableIterator<VersionRangeTable> {
    for (const [, t] of this.#entries.values()) yield t;
  }
}

/** Truth tables per flavor class, or a constant. */
export type VersionRangeTables = FlavorTableMap | boolean;

function comparePoints(a: VersionRangePoint, b: VersionRangePoint): -1 | 0 | 1 {
  const up = orderingToSort(compareVersions(a.upstream, b.upstream));
  if (up !== 0) return up;
  const down = orderingToSort(compareVersions(a.downstream, b.downstream));
  if (down !== 0) return down;
  return a.side < b.side ? -1 : a.side > b.side ? 1 : 0;
}

function adjacentPoints(a: VersionRangePoint, b: VersionRangePoint): boolean {
  return compareVersions(a.upstream, b.upstream) === "equal" &&
    compareVersions(a.downstream, b.downstream) === "equal" && a.side === -1 && b.side === 1;
}

function zip(
  a: VersionRangeTable,
  b: VersionRangeTable,
  f: (x: boolean, y: boolean) => boolean,
): VersionRangeTable {
  const points: VersionRangePoint[] = [];
  const values: boolean[] = [];
  let i = 0;
  let j = 0;
  for (;;) {
    const next = f(a.values[i], b.values[j]);
    if (values.length > 0 && values[values.length - 1] === next) points.pop();
    else values.push(next);
    if (i === a.points.length) {
      if (j === b.points.length) return new VersionRangeTable(points, values);
      points.push(b.points[j++]);
    } else if (j === b.points.length) {
      points.push(a.points[i++]);
    } else {
      switch (comparePoints(a.points[i], b.points[j])) {
        case -1:
          points.push(a.points[i++]);
          break;
        case 1:
          points.push(b.points[j++]);
          break;
        default:
          points.push(a.points[i]);
          i++;
          j++;
      }
    }
  }
}

const and2 = (x: boolean, y: boolean) => x && y;
const or2 = (x: boolean, y: boolean) => x || y;

function flavorAnd(a: FlavorKey, b: FlavorKey): FlavorKey | null {
  if (a.type === "Flavor") {
    if (b.type === "Flavor") return sameFlavor(a.flavor, b.flavor) ? a : null;
    return b.flavors.has(a.flavor) ? null : a;
  }
  if (b.type === "Flavor") return a.flavors.has(b.flavor) ? null : b;
  return { type: "FlavorNot", flavors: new Set([...a.flavors, ...b.flavors]) };
}

function eqFlavorTables(flavor: string | null): FlavorTableMap {
  return new FlavorTableMap()
    .set({ type: "Flavor", flavor }, new VersionRangeTable([], [true]))
    .set({ type: "FlavorNot", flavors: new Set([flavor]) }, new VersionRangeTable([], [false]));
}

function cmpTables(
  version: ExtendedVersionLike,
  side: -1 | 1,
  left: boolean,
  right: boolean,
): FlavorTableMap {
  const point: VersionRangePoint = {
    upstream: toVersion(version.upstream),
    downstream: toVersion(version.downstream),
    side,
  };
  return new FlavorTableMap()
    .set({ type: "Flavor", flavor: version.flavor }, new VersionRangeTable([point], [left, right]))
    .set(
      { type: "FlavorNot", flavors: new Set([version.flavor]) },
      new VersionRangeTable([], [false]),
    );
}

function notTables(t: VersionRangeTables): VersionRangeTables {
  if (t === true || t === false) return !t;
  // Tables are exhaustive, so negation flips every segment (in place, like the SDK).
  for (const table of t.values()) {
    for (let i = 0; i < table.values.length; i++) table.values[i] = !table.values[i];
  }
  return t;
}

function andTables(a: VersionRangeTables, b: VersionRangeTables): VersionRangeTables {
  if (a === true) return b;
  if (b === true) return a;
  if (a === false || b === false) return false;
  let out: VersionRangeTables = true;
  for (const [fa, ta] of a) {
    for (const [fb, tb] of b) {
      const flavor = flavorAnd(fa, fb);
      if (flavor === null) continue;
      const t = zip(ta, tb, and2);
      if (out === true) out = new FlavorTableMap();
      const prev = out.get(flavor);
      out.set(flavor, prev === undefined ? t : zip(t, prev, or2));
    }
  }
  return out;
}

function orTables(...inputs: VersionRangeTables[]): VersionRangeTables {
  let out: FlavorTableMap | false = false;
  for (const tables of inputs) {
    if (tables === false) continue;
    if (tables === true) return true;
    if (out === false) out = new FlavorTableMap();
    for (const [flavor, table] of tables) {
      const prev: VersionRangeTable | undefined = out.get(flavor);
      out.set(flavor, prev === undefined ? table : zip(table, prev, or2));
    }
  }
  return out;
}

function collapseTables(t: VersionRangeTables): boolean | null {
  if (t === true || t === false) return t;
  let found: boolean | null = null;
  for (const table of t.values()) {
    for (const x of table.values) {
      if (found === null) found = x;
      else if (found !== x) return null;
    }
  }
  return found;
}

function tablesOf(range: VersionRangeLike): VersionRangeTables {
  const atom = range.atom;
  switch (atom.type) {
    case "Anchor": {
      const v = atom.version;
      switch (atom.operator) {
        case "=":
          return andTables(cmpTables(v, -1, false, true), cmpTables(v, 1, true, false));
        case ">":
          return cmpTables(v, 1, false, true);
        case "<":
          return cmpTables(v, -1, true, false);
        case ">=":
          return cmpTables(v, -1, false, true);
        case "<=":
          return cmpTables(v, 1, true, false);
        case "!=":
          return notTables(andTables(cmpTables(v, -1, false, true), cmpTables(v, 1, true, false)));
        case "^":
          return andTables(
            cmpTables(v, -1, false, true),
            cmpTables(incrementMajorOf(v), -1, true, false),
          );
        case "~":
          return andTables(
            cmpTables(v, -1, false, true),
            cmpTables(incrementMinorOf(v), -1, true, false),
          );
      }
      // SDK quirk: an unknown operator falls through to the `Flavor` case (the SDK then keys the
      // table on `undefined`; we key it on `null`; unreachable for parsed or typed ranges).
      return eqFlavorTables((atom as { flavor?: string | null }).flavor ?? null);
    }
    case "Flavor":
      return eqFlavorTables(atom.flavor);
    case "Not":
      return notTables(tablesOf(atom.value));
    case "And":
      return andTables(tablesOf(atom.left), tablesOf(atom.right));
    case "Or":
      return orTables(tablesOf(atom.left), tablesOf(atom.right));
    case "Any":
      return true;
    case "None":
      return false;
  }
  return false;
}

/** Writes tables back as a sum of minterms, exactly in the SDK's order and form. */
function minterms(tables: VersionRangeTables): VersionRange {
  const collapsed = collapseTables(tables);
  if (tables === true || collapsed === true) return VersionRange.any();
  if (tables === false || collapsed === false) return VersionRange.none();
  const sum: VersionRange[] = [];
  for (const [flavor, table] of tables) {
    const cmpFlavor = flavor.type === "Flavor" ? flavor.flavor : null;
    for (let i = 0; i < table.values.length; i++) {
      if (!table.values[i]) continue;
      const term: VersionRange[] = [];
      if (flavor.type === "FlavorNot") {
        for (const f of flavor.flavors) term.push(VersionRange.flavor(f).not());
      }
      const p = i > 0 ? table.points[i - 1] : null;
      const q = i < table.points.length ? table.points[i] : null;
      const at = (pt: VersionRangePoint) =>
        new ExtendedVersion(cmpFlavor, pt.upstream, pt.downstream);
      if (p !== null && q !== null && adjacentPoints(p, q)) {
        term.push(VersionRange.anchor("=", at(p)));
      } else {
        if (p !== null) term.push(VersionRange.anchor(p.side < 0 ? ">=" : ">", at(p)));
        if (q !== null) term.push(VersionRange.anchor(q.side < 0 ? "<" : "<=", at(q)));
      }
      if (term.length === 0) term.push(VersionRange.flavor(cmpFlavor));
      sum.push(VersionRange.and(...term));
    }
  }
  return VersionRange.or(...sum);
}

// ---------------------------------------------------------------------------------------------
// VersionRange
// ---------------------------------------------------------------------------------------------

/** A version range expression: anchors, `&&`, `||`, `!`, `*`, `!` (none) and `#flavor`. */
export class VersionRange {
  /** The root atom of the expression. */
  atom: VersionRangeAtom;

  /** Wraps an atom. */
  constructor(atom: VersionRangeAtom) {
    this.atom = atom;
  }

  /** Prints this range as a child of `parent`, parenthesised where the SDK does. */
  toStringParens(parent: "And" | "Or" | "Not"): string {
    return rangeToStringParens(this, parent);
  }

  /** Prints the range in the SDK's canonical form. */
  toString(): string {
    return rangeToString(this);
  }

  /** Parses a range such as `>=1.0:0 && <2.0:0 || #knots`; throws `ExVerSyntaxError`. */
  static parse(range: string): VersionRange {
    return unwrap(tryParseRange(range, false));
  }

  /** A range comparing against `version` with `operator`. */
  static anchor(operator: CmpOp, version: ExtendedVersionLike): VersionRange {
    return new VersionRange({ type: "Anchor", operator, version });
  }

  /** A range matching exactly one flavor (`null` = unflavored). */
  static flavor(flavor: string | null): VersionRange {
    return new VersionRange({ type: "Flavor", flavor });
  }

  /** Parses a legacy emver range (3- or 4-part versions, no flavors); throws. */
  static parseEmver(range: string): VersionRange {
    return unwrap(tryParseRange(range, true));
  }

  /** `this && right` (no simplification). */
  and(right: VersionRangeLike): VersionRange {
    return new VersionRange({ type: "And", left: this, right });
  }

  /** `this || right` (no simplification). */
  or(right: VersionRangeLike): VersionRange {
    return new VersionRange({ type: "Or", left: this, right });
  }

  /** `!this`. */
  not(): VersionRange {
    return new VersionRange({ type: "Not", value: this });
  }

  /** Left-folded conjunction; skips `*`, short-circuits on `!` (foreign results are re-wrapped). */
  static and(...xs: VersionRangeLike[]): VersionRange {
    let y: VersionRangeLike = VersionRange.any();
    for (const x of xs) {
      if (x.atom.type === "Any") continue;
      if (x.atom.type === "None") return asRange(x);
      y = y.atom.type === "Any" ? x : new VersionRange({ type: "And", left: y, right: x });
    }
    return asRange(y);
  }

  /** Left-folded disjunction; skips `!`, short-circuits on `*` (foreign results are re-wrapped). */
  static or(...xs: VersionRangeLike[]): VersionRange {
    let y: VersionRangeLike = VersionRange.none();
    for (const x of xs) {
      if (x.atom.type === "None") continue;
      if (x.atom.type === "Any") return asRange(x);
      y = y.atom.type === "None" ? x : new VersionRange({ type: "Or", left: y, right: x });
    }
    return asRange(y);
  }

  /** The range matching everything (`*`). */
  static any(): VersionRange {
    return new VersionRange({ type: "Any" });
  }

  /** The range matching nothing (`!`). */
  static none(): VersionRange {
    return new VersionRange({ type: "None" });
  }

  /** Whether a version (bare or extended; ours or the SDK's) satisfies this range. */
  satisfiedBy(version: VersionLike | ExtendedVersionLike): boolean {
    const v: ExtendedVersionLike = "upstream" in version
      ? version
      : { flavor: null, upstream: version, downstream: { number: [0], prerelease: [] } };
    return satisfiesRange(v, this);
  }

  /** Truth tables of this range per flavor class (fresh on every call). */
  tables(): VersionRangeTables {
    return tablesOf(this);
  }

  /** Whether some version satisfies this range. */
  satisfiable(): boolean {
    return collapseTables(tablesOf(this)) !== false;
  }

  /** Whether this range and `other` share a satisfying version. */
  intersects(other: VersionRangeLike): boolean {
    return collapseTables(tablesOf(VersionRange.and(this, other))) !== false;
  }

  /** The canonical sum-of-minterms form of this range (same output as the SDK's). */
  normalize(): VersionRange {
    return minterms(tablesOf(this));
  }
}

// ---------------------------------------------------------------------------------------------
// Exit targets
// ---------------------------------------------------------------------------------------------

/** Parses an `exit` target as the Node runtime does: null, else version, else normalized range. */
export function parseTarget(s: string | null): ExtendedVersion | VersionRange | null {
  if (!s) return null;
  const version = tryParseExtendedVersion(s);
  if (version.ok) return version.value;
  const range = tryParseRange(s, false);
  if (range.ok) return range.value.normalize();
  const e = range.error;
  const v = version.error;
  throw new ExVerSyntaxError(
    s,
    "version range",
    e.offset,
    e.expected,
    [],
    `Invalid exit target ${JSON.stringify(s)}: it is neither an extended version (expected ${
      listOf(friendlyOf(v.expected))
    } at position ${v.offset}) nor a version range (expected ${
      listOf(friendlyOf(e.expected))
    } at position ${e.offset})`,
  );
}

function friendlyOf(expected: readonly string[]): string[] {
  return EXPECTATIONS.filter(([peggy]) => expected.includes(peggy)).map(([, f]) => f);
}
