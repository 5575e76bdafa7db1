/**
 * The `Version` and `ExtendedVersion` classes (SDK-shaped), and the one place their instances
 * are built from data: `versionFromData` and `extendedVersionFromData` adopt fresh plain data
 * (the parser's, `increment`'s, the normal form's), `toVersion` and `toExtendedVersion` copy
 * anyone's.
 * @module
 */

import { compareExtended, compareVersions, orderingToSort } from "./compare.ts";
import { extendedVersionToString, versionToString } from "./format.ts";
import { increment } from "./increment.ts";
import { tryParseEmver, tryParseExtendedVersion, tryParseVersion, unwrap } from "./parser.ts";
import { satisfiesRange } from "./satisfies.ts";
import type {
  ExtendedVersionData,
  ExtendedVersionLike,
  Ordering,
  VersionData,
  VersionLike,
  VersionRangeLike,
} from "./types.ts";

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
    return versionFromData(unwrap(tryParseVersion(version)));
  }

  /** Whether this version, taken as unflavored with downstream `0`, satisfies the range. */
  satisfies(versionRange: VersionRangeLike): boolean {
    return satisfiesRange(new ExtendedVersion(null, this, new Version([0], [])), versionRange);
  }
}

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
    return extendedVersionFromData(unwrap(tryParseExtendedVersion(extendedVersion)));
  }

  /** Parses a legacy emver version `a.b.c[.d]` (`d` becomes the downstream); throws. */
  static parseEmver(extendedVersion: string): ExtendedVersion {
    return extendedVersionFromData(unwrap(tryParseEmver(extendedVersion)));
  }

  /** The next major upstream (first non-zero component + 1, rest zeroed), downstream `0`. */
  incrementMajor(): ExtendedVersion {
    return extendedVersionFromData(increment(this, "major"));
  }

  /** The next minor upstream (component after the first non-zero + 1), downstream `0`. */
  incrementMinor(): ExtendedVersion {
    return extendedVersionFromData(increment(this, "minor"));
  }

  /** Whether this version satisfies the range (ours or the SDK's). */
  satisfies(versionRange: VersionRangeLike): boolean {
    return satisfiesRange(this, versionRange);
  }
}

/**
 * `v` as our `Version`.
 * @param v Any version (ours or the SDK's).
 * @returns `v` itself when it already is one, else a new one with copies of its arrays.
 */
export function toVersion(v: VersionLike): Version {
  return v instanceof Version ? v : new Version([...v.number], [...v.prerelease]);
}

/**
 * `v` as our `ExtendedVersion`.
 * @param v Any extended version (ours or the SDK's).
 * @returns `v` itself when it already is one, else a new one (its parts through `toVersion`).
 */
export function toExtendedVersion(v: ExtendedVersionLike): ExtendedVersion {
  if (v instanceof ExtendedVersion) return v;
  return new ExtendedVersion(v.flavor, toVersion(v.upstream), toVersion(v.downstream));
}

/**
 * A `Version` from fresh plain data, adopting its arrays (nothing else may hold them).
 * @param data The parser's or `increment`'s data, or a `Version`.
 * @returns `data` itself when it already is a `Version`, else a new one.
 */
export function versionFromData(data: VersionData): Version {
  return data instanceof Version ? data : new Version(data.number, data.prerelease);
}

/**
 * An `ExtendedVersion` from fresh plain data, adopting its arrays (nothing else may hold them).
 * @param data The parser's, `increment`'s or the normal form's data, or an `ExtendedVersion`.
 * @returns `data` itself when it already is an `ExtendedVersion`, else a new one.
 */
export function extendedVersionFromData(data: ExtendedVersionData): ExtendedVersion {
  if (data instanceof ExtendedVersion) return data;
  return new ExtendedVersion(
    data.flavor,
    versionFromData(data.upstream),
    versionFromData(data.downstream),
  );
}
