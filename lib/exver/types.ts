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

/*
 * The atoms take the type of their anchors' versions as a parameter: `ExtendedVersionLike` (any
 * object, the default) or `ExtendedVersionData` (the parser's and the normal form's fresh data).
 */

/** An `Anchor` atom: a comparison against a version. */
export type AnchorAtom<V extends ExtendedVersionLike = ExtendedVersionLike> = {
  type: "Anchor";
  operator: CmpOp;
  version: V;
};
/** An `And` atom: both sides must hold. */
export type AndAtom<V extends ExtendedVersionLike = ExtendedVersionLike> = {
  type: "And";
  left: VersionRangeLike<V>;
  right: VersionRangeLike<V>;
};
/** An `Or` atom: either side must hold. */
export type OrAtom<V extends ExtendedVersionLike = ExtendedVersionLike> = {
  type: "Or";
  left: VersionRangeLike<V>;
  right: VersionRangeLike<V>;
};
/** A `Not` atom: the negation of `value`. */
export type NotAtom<V extends ExtendedVersionLike = ExtendedVersionLike> = {
  type: "Not";
  value: VersionRangeLike<V>;
};
/** A `Flavor` atom: matches versions of exactly this flavor (`null` = unflavored). */
export type FlavorAtom = { type: "Flavor"; flavor: string | null };
/** The `Any` atom (`*`). */
export type AnyAtom = { type: "Any" };
/** The `None` atom (`!`). */
export type NoneAtom = { type: "None" };

/** Any atom of a version range, as found in `range.atom`. */
export type VersionRangeAtom<V extends ExtendedVersionLike = ExtendedVersionLike> =
  | AnchorAtom<V>
  | AndAtom<V>
  | OrAtom<V>
  | NotAtom<V>
  | FlavorAtom
  | AnyAtom
  | NoneAtom;

/** Structural view of a `VersionRange` (ours or the SDK's). */
export interface VersionRangeLike<V extends ExtendedVersionLike = ExtendedVersionLike> {
  /** The root atom of the range expression. */
  atom: VersionRangeAtom<V>;
}

/** A version as plain data, as the parser returns it (the classes adopt its arrays). */
export interface VersionData {
  /** Numeric components, e.g. `[1, 2, 3]`. */
  number: number[];
  /** Pre-release identifiers, e.g. `["beta", 1]`. */
  prerelease: (string | number)[];
}

/** An extended version as plain data, as the parser and `increment` return it. */
export interface ExtendedVersionData {
  /** Flavor, or `null` when unflavored. */
  flavor: string | null;
  /** Upstream version. */
  upstream: VersionData;
  /** Downstream (packaging) version. */
  downstream: VersionData;
}

/** A range as plain data, as the parser and the normal form return it. */
export type VersionRangeData = VersionRangeLike<ExtendedVersionData>;
