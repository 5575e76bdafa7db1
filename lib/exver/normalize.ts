/**
 * Normal form: writes truth tables back as a range, a sum of minterms in the SDK's order and form.
 */

import { collapseTables } from "./algebra.ts";
import { VersionRange } from "./range.ts";
import { adjacentPoints, type VersionRangePoint, type VersionRangeTables } from "./tables.ts";
import { ExtendedVersion } from "./version.ts";

/** Writes tables back as a sum of minterms, exactly in the SDK's order and form. */
export function minterms(tables: VersionRangeTables): VersionRange {
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
