/**
 * ExVer shapes: the structural types every module works on, and which the SDK's own `Version`,
 * `ExtendedVersion` and `VersionRange` objects also satisfy (we duck-type, never `instanceof`).
 */

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
