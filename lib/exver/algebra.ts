/**
 * The range algebra on truth tables: a range's tables per flavor class, and their negation,
 * conjunction, disjunction and collapse to a constant, reproducing the SDK's results.
 */

import { sameFlavor } from "./compare.ts";
import {
  comparePoints,
  type FlavorKey,
  FlavorTableMap,
  type VersionRangePoint,
  VersionRangeTable,
  type VersionRangeTables,
} from "./tables.ts";
import type { ExtendedVersionLike, VersionRangeLike } from "./types.ts";
import { increment } from "./increment.ts";
import { toVersion } from "./version.ts";

/** Merges two tables cut by cut, combining the values of overlapping segments with `f`. */
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

/** The flavor class both keys allow, or `null` when they exclude each other. */
function flavorAnd(a: FlavorKey, b: FlavorKey): FlavorKey | null {
  if (a.type === "Flavor") {
    if (b.type === "Flavor") return sameFlavor(a.flavor, b.flavor) ? a : null;
    return b.flavors.has(a.flavor) ? null : a;
  }
  if (b.type === "Flavor") return a.flavors.has(b.flavor) ? null : b;
  return { type: "FlavorNot", flavors: new Set([...a.flavors, ...b.flavors]) };
}

/** Tables holding as `table` says for `flavor`, and never for any other flavor. */
function onlyFlavor(flavor: string | null, table: VersionRangeTable): FlavorTableMap {
  return new FlavorTableMap()
    .set({ type: "Flavor", flavor }, table)
    .set({ type: "FlavorNot", flavors: new Set([flavor]) }, new VersionRangeTable([], [false]));
}

/** Tables of the flavor atom `#flavor`: every version of that flavor, none of the others. */
function eqFlavorTables(flavor: string | null): FlavorTableMap {
  return onlyFlavor(flavor, new VersionRangeTable([], [true]));
}

/** Tables for `version`'s flavor, `left` below the cut at `side` of `version` and `right` above. */
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
  return onlyFlavor(version.flavor, new VersionRangeTable([point], [left, right]));
}

/** Tables of `=v`: true between the cuts just below and just above `v`. */
function exactly(v: ExtendedVersionLike): VersionRangeTables {
  return andTables(cmpTables(v, -1, false, true), cmpTables(v, 1, true, false));
}

/** Ors `table` into the entry of `out` for `flavor` (the new table first, as the SDK does). */
function orInto(out: FlavorTableMap, flavor: FlavorKey, table: VersionRangeTable): void {
  const prev = out.get(flavor);
  out.set(flavor, prev === undefined ? table : zip(table, prev, or2));
}

/** Negates tables (in place, like the SDK). */
function notTables(t: VersionRangeTables): VersionRangeTables {
  if (t === true || t === false) return !t;
  // Tables are exhaustive, so negation flips every segment (in place, like the SDK).
  for (const table of t.values()) {
    for (let i = 0; i < table.values.length; i++) table.values[i] = !table.values[i];
  }
  return t;
}

/** Conjunction: pairwise over compatible flavor classes. */
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
      orInto(out, flavor, t);
    }
  }
  return out;
}

/** Disjunction: merges the tables of each flavor class. */
function orTables(...inputs: VersionRangeTables[]): VersionRangeTables {
  let out: FlavorTableMap | false = false;
  for (const tables of inputs) {
    if (tables === false) continue;
    if (tables === true) return true;
    if (out === false) out = new FlavorTableMap();
    for (const [flavor, table] of tables) orInto(out, flavor, table);
  }
  return out;
}

/** The constant value of tables, or `null` when they hold for some versions only. */
export function collapseTables(t: VersionRangeTables): boolean | null {
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

/** The truth tables of a range (fresh objects on every call). */
export function tablesOf(range: VersionRangeLike): VersionRangeTables {
  const atom = range.atom;
  switch (atom.type) {
    case "Anchor": {
      const v = atom.version;
      switch (atom.operator) {
        case "=":
          return exactly(v);
        case ">":
          return cmpTables(v, 1, false, true);
        case "<":
          return cmpTables(v, -1, true, false);
        case ">=":
          return cmpTables(v, -1, false, true);
        case "<=":
          return cmpTables(v, 1, true, false);
        case "!=":
          return notTables(exactly(v));
        case "^":
        case "~":
          // From `v` up to (not including) the next major (`^`) or minor (`~`).
          return andTables(
            cmpTables(v, -1, false, true),
            cmpTables(increment(v, atom.operator === "^" ? "major" : "minor"), -1, true, false),
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
