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
 * Modules: `types.ts` (shapes), `errors.ts` (expectations, `ExVerSyntaxError`), `parser.ts`
 * (recursive descent following the SDK's PEG grammar), `compare.ts` (precedence),
 * `format.ts` (printing), `version.ts` (`Version`, `ExtendedVersion`), `satisfies.ts`
 * (membership), `tables.ts` and `algebra.ts` (truth tables), `normalize.ts` (minterms),
 * `range.ts` (`VersionRange`), `target.ts` (`parseTarget`). The classes and the parser import
 * each other; they only use one another inside functions, never while modules load.
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
