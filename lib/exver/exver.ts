/**
 * ExVer: extended versions (`#flavor:upstream:downstream`) and version ranges — the public face
 * of `lib/exver/`, re-exporting its API; import from here.
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
 * Modules, in import order (a DAG: each imports only those above it): `types.ts` (shapes and
 * plain data), `errors.ts` (expectations, `ExVerSyntaxError`), `compare.ts` (precedence),
 * `format.ts` (printing), `increment.ts` (the `^`/`~` bounds), `combine.ts` (`And`/`Or` folds),
 * `parser.ts` (recursive descent following the SDK's PEG grammar; returns plain data),
 * `satisfies.ts` (membership), `version.ts` (`Version`, `ExtendedVersion`), `tables.ts` and
 * `algebra.ts` (truth tables), `normalize.ts` (minterms, as plain data), `range.ts`
 * (`VersionRange`), `target.ts` (`parseTarget`). Class instances are built only in `version.ts`
 * and `range.ts` (`...FromData`), from the data the parser and the normal form return.
 *
 * @example Parse, compare and test membership
 * ```ts
 * import { ExtendedVersion, VersionRange } from "./exver.ts";
 *
 * const v = ExtendedVersion.parse("1.2.3:0");
 * v.satisfies(VersionRange.parse(">=1.0:0 && <2.0:0")); // true
 * v.satisfies(VersionRange.parse("#knots")); // false: another flavor
 * v.compare(ExtendedVersion.parse("1.2.3:1")); // "less"
 * ExtendedVersion.parse("#knots:27.1:0").compare(v); // null: flavors differ
 * VersionRange.parse("^1.2:0").normalize().toString(); // ">=1.2:0 && <2.0:0"
 * ```
 *
 * @example Parse an `exit` target the way the Node runtime does
 * ```ts
 * import { parseTarget } from "./exver.ts";
 *
 * parseTarget(null); // null
 * parseTarget("1.0:0"); // an ExtendedVersion
 * parseTarget(">=1.0:0"); // a normalized VersionRange
 * ```
 * @module
 */

export type {
  AnchorAtom,
  AndAtom,
  AnyAtom,
  CmpOp,
  ExtendedVersionLike,
  FlavorAtom,
  NoneAtom,
  NotAtom,
  OrAtom,
  Ordering,
  VersionLike,
  VersionRangeAtom,
  VersionRangeLike,
} from "./types.ts";
export { type ExVerGrammar, ExVerSyntaxError } from "./errors.ts";
export { ExtendedVersion, Version } from "./version.ts";
export {
  type FlavorKey,
  FlavorTableMap,
  type VersionRangePoint,
  VersionRangeTable,
  type VersionRangeTables,
} from "./tables.ts";
export { VersionRange } from "./range.ts";
export { parseTarget } from "./target.ts";
