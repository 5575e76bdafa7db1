/**
 * Truth-table data behind `satisfiable` / `intersects` / `normalize`: cuts in the version line,
 * tables of truth values between cuts, and the flavor-keyed map of tables (the SDK's `DeepMap`).
 */

import { compareVersions, orderingToSort } from "./compare.ts";
import type { Version } from "./version.ts";

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

/** Orders cuts along the version line (upstream, downstream, then side). */
export function comparePoints(a: VersionRangePoint, b: VersionRangePoint): -1 | 0 | 1 {
  const up = orderingToSort(compareVersions(a.upstream, b.upstream));
  if (up !== 0) return up;
  const down = orderingToSort(compareVersions(a.downstream, b.downstream));
  if (down !== 0) return down;
  return a.side < b.side ? -1 : a.side > b.side ? 1 : 0;
}

/** Whether `a` and `b` are the cuts just below and just above the same version. */
export function adjacentPoints(a: VersionRangePoint, b: VersionRangePoint): boolean {
  return compareVersions(a.upstream, b.upstream) === "equal" &&
    compareVersions(a.downstream, b.downstream) === "equal" && a.side === -1 && b.side === 1;
}
