/**
 * The ExVer grammar: hand-written recursive descent following the SDK's PEG grammar, including
 * its ordered choice, backtracking and furthest-failure error reporting, building `Version`,
 * `ExtendedVersion` and `VersionRange` objects. The lexical layer is in `scanner.ts`.
 */

import {
  X_AND,
  X_BANG,
  X_CARET,
  X_COLON,
  X_DASH,
  X_DOT,
  X_EQ,
  X_GE,
  X_GT,
  X_HASH,
  X_LE,
  X_LPAREN,
  X_LT,
  X_NE,
  X_OR,
  X_RPAREN,
  X_STAR,
  X_TILDE,
} from "./errors.ts";
import { type ParseResult, Scanner } from "./scanner.ts";
import type { CmpOp } from "./types.ts";
import { ExtendedVersion, Version } from "./version.ts";
import { VersionRange } from "./range.ts";

const C_BANG = 33;
const C_HASH = 35;
const C_AMP = 38;
const C_LPAREN = 40;
const C_RPAREN = 41;
const C_STAR = 42;
const C_DASH = 45;
const C_DOT = 46;
const C_COLON = 58;
const C_LT = 60;
const C_EQ = 61;
const C_GT = 62;
const C_CARET = 94;
const C_PIPE = 124;
const C_TILDE = 126;

/** The grammar rules, one method per rule, over one string. */
export class Parser extends Scanner {
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
    if (first === undefined) {
      this.pos = start;
      return undefined;
    }
    const out = [first];
    this.dotted(out, true);
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
    if (!this.lit(C_HASH, X_HASH)) return undefined;
    const flavor = this.lowers();
    if (!this.lit(C_COLON, X_COLON)) {
      this.pos = start;
      return undefined;
    }
    return flavor;
  }

  /**
   * `ExtendedVersion = Flavor? Version ":" Version`, or with `optionalDownstream` the range
   * grammar's `VersionSpec = Flavor? Version (":" Version)?` (downstream defaults to `0`).
   */
  extendedVersion(optionalDownstream: boolean): ExtendedVersion | undefined {
    const start = this.pos;
    const flavor = this.flavorPrefix();
    const upstream = this.version();
    if (upstream === undefined) {
      this.pos = start;
      return undefined;
    }
    const save = this.pos;
    let downstream = this.lit(C_COLON, X_COLON) ? this.version() : undefined;
    if (downstream === undefined) {
      if (!optionalDownstream) {
        this.pos = start;
        return undefined;
      }
      this.pos = save;
      downstream = new Version([0], []);
    }
    // The SDK stores `flavor || null`: the empty flavor of `#:1:0` is no flavor.
    return new ExtendedVersion(flavor || null, upstream, downstream);
  }

  /** `Emver = Digit "." Digit "." Digit ("." Digit)?` (the legacy 3- or 4-part form). */
  emver(): ExtendedVersion | undefined {
    const start = this.pos;
    const parts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const d = i > 0 && !this.lit(C_DOT, X_DOT) ? undefined : this.digit();
      if (d === undefined) {
        this.pos = start;
        return undefined;
      }
      parts.push(d);
    }
    let revision = 0;
    const save = this.pos;
    if (this.lit(C_DOT, X_DOT)) {
      const d = this.digit();
      if (d === undefined) this.pos = save;
      else revision = d;
    }
    return new ExtendedVersion(null, new Version(parts, []), new Version([revision], []));
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
  anchor(emver: boolean): VersionRange | undefined {
    const start = this.pos;
    const op = this.cmpOp();
    this.ws();
    const version = emver ? this.emver() : this.extendedVersion(true);
    if (version === undefined) {
      this.pos = start;
      return undefined;
    }
    return VersionRange.anchor(op ?? "^", version);
  }

  /** `Parens = "(" _ VersionRange _ ")"`; parentheses leave no node behind. */
  parens(emver: boolean): VersionRange | undefined {
    const start = this.pos;
    if (!this.lit(C_LPAREN, X_LPAREN)) return undefined;
    this.ws();
    const inner = this.range(emver);
    if (inner === undefined) {
      this.pos = start;
      return undefined;
    }
    this.ws();
    if (!this.lit(C_RPAREN, X_RPAREN)) {
      this.pos = start;
      return undefined;
    }
    return inner;
  }

  /** `Not = "!" _ VersionRangeAtom`. */
  not(emver: boolean): VersionRange | undefined {
    const start = this.pos;
    if (!this.lit(C_BANG, X_BANG)) return undefined;
    this.ws();
    const value = this.atom(emver);
    if (value === undefined) {
      this.pos = start;
      return undefined;
    }
    return value.not();
  }

  /** `Any = "*"`. */
  any(): VersionRange | undefined {
    return this.lit(C_STAR, X_STAR) ? VersionRange.any() : undefined;
  }

  /** `None = "!"`. */
  none(): VersionRange | undefined {
    return this.lit(C_BANG, X_BANG) ? VersionRange.none() : undefined;
  }

  /** `FlavorAtom = "#" FlavorString` (the flavor may be empty: `#`). */
  flavorAtom(): VersionRange | undefined {
    return this.lit(C_HASH, X_HASH) ? VersionRange.flavor(this.lowers()) : undefined;
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
      result = or ? result.or(right) : result.and(right);
    }
  }
}

/** Parses a whole string as a bare `Version`. */
export function tryParseVersion(s: string): ParseResult<Version> {
  const p = new Parser(s);
  return p.run(() => p.version(), "version");
}

/** Parses a whole string as an `ExtendedVersion` (`[#flavor:]upstream:downstream`). */
export function tryParseExtendedVersion(s: string): ParseResult<ExtendedVersion> {
  const p = new Parser(s);
  return p.run(() => p.extendedVersion(false), "extended version");
}

/** Parses a whole string as a legacy emver version (`a.b.c[.d]`). */
export function tryParseEmver(s: string): ParseResult<ExtendedVersion> {
  const p = new Parser(s);
  return p.run(() => p.emver(), "emver version");
}

/** Parses a whole string as a version range (emver ranges with `emver`). */
export function tryParseRange(s: string, emver: boolean): ParseResult<VersionRange> {
  const p = new Parser(s);
  return p.run(() => p.range(emver), emver ? "emver version range" : "version range");
}

/** The parsed value, or throws the parse's `ExVerSyntaxError`. */
export function unwrap<T>(r: ParseResult<T>): T {
  if (r.ok) return r.value;
  throw r.error;
}
