/**
 * The `VersionRange` class (SDK-shaped): building range expressions, printing, parsing, and the
 * queries on them (`satisfiedBy`, `satisfiable`, `intersects`, `normalize`); and the one place
 * its instances are built from plain data (the parser's and the normal form's).
 * @module
 */

import { collapseTables, tablesOf } from "./algebra.ts";
import { foldRanges, type NodeBuilder } from "./combine.ts";
import { rangeToString, rangeToStringParens } from "./format.ts";
import { minterms } from "./normalize.ts";
import { tryParseRange, unwrap } from "./parser.ts";
import { satisfiesRange } from "./satisfies.ts";
import type { VersionRangeTables } from "./tables.ts";
import { extendedVersionFromData } from "./version.ts";
import type {
  CmpOp,
  ExtendedVersionLike,
  VersionLike,
  VersionRangeAtom,
  VersionRangeData,
  VersionRangeLike,
} from "./types.ts";

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
    return rangeFromData(unwrap(tryParseRange(range, false)));
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
    return rangeFromData(unwrap(tryParseRange(range, true)));
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
    return foldRanges(xs, "And", CLASS_NODES);
  }

  /** Left-folded disjunction; skips `!`, short-circuits on `*` (foreign results are re-wrapped). */
  static or(...xs: VersionRangeLike[]): VersionRange {
    return foldRanges(xs, "Or", CLASS_NODES);
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
    return rangeFromData(minterms(tablesOf(this)));
  }
}

/** `r` as our `VersionRange` (itself when it already is one, else a wrapper of its atom). */
function asRange(r: VersionRangeLike): VersionRange {
  return r instanceof VersionRange ? r : new VersionRange(r.atom);
}

/** `VersionRange` nodes; a foreign result is re-wrapped (its atom kept as it is). */
const CLASS_NODES: NodeBuilder<ExtendedVersionLike, VersionRange> = {
  make: (atom) => new VersionRange(atom),
  adopt: asRange,
};

/**
 * A `VersionRange` tree from plain data: every node becomes a `VersionRange`, every anchor's
 * version an `ExtendedVersion` (arrays adopted, not copied).
 * @param data A fresh plain tree (the parser's or the normal form's).
 * @returns The same expression built from the classes.
 */
export function rangeFromData(data: VersionRangeData): VersionRange {
  const atom = data.atom;
  switch (atom.type) {
    case "Anchor":
      return VersionRange.anchor(atom.operator, extendedVersionFromData(atom.version));
    case "And":
    case "Or":
      return new VersionRange({
        type: atom.type,
        left: rangeFromData(atom.left),
        right: rangeFromData(atom.right),
      });
    case "Not":
      return new VersionRange({ type: "Not", value: rangeFromData(atom.value) });
    case "Flavor":
      return VersionRange.flavor(atom.flavor);
    case "Any":
      return VersionRange.any();
    case "None":
      return VersionRange.none();
  }
}
