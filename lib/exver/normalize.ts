/**
 * Normal form: writes truth tables back as a range, a sum of minterms in the SDK's order and form,
 * as plain data (`range.ts` builds the `VersionRange` from it).
 * @module
 */

import { collapseTables } from "./algebra.ts";
import { foldRanges, type NodeBuilder } from "./combine.ts";
import { adjacentPoints, type VersionRangePoint, type VersionRangeTables } from "./tables.ts";
import type { CmpOp, ExtendedVersionData, VersionRangeData } from "./types.ts";

/** Plain `{ atom }` nodes. */
const PLAIN: NodeBuilder<ExtendedVersionData, VersionRangeData> = {
  make: (atom) => ({ atom }),
  adopt: (range) => range,
};

/**
 * Writes tables back as a sum of minterms, exactly in the SDK's order and form.
 * @param tables The truth tables of a range.
 * @returns The normal form as a plain range tree (`*` or `!` when the tables are constant).
 */
export function minterms(tables: VersionRangeTables): VersionRangeData {
  const collapsed = collapseTables(tables);
  if (tables === true || collapsed === true) return PLAIN.make({ type: "Any" });
  if (tables === false || collapsed === false) return PLAIN.make({ type: "None" });
  const sum: VersionRangeData[] = [];
  for (const [flavor, table] of tables) {
    const cmpFlavor = flavor.type === "Flavor" ? flavor.flavor : null;
    const anchor = (operator: CmpOp, pt: VersionRangePoint): VersionRangeData => {
      const version: ExtendedVersionData = {
        flavor: cmpFlavor,
        upstream: pt.upstream,
        downstream: pt.downstream,
      };
      return PLAIN.make({ type: "Anchor", operator, version });
    };
    for (let i = 0; i < table.values.length; i++) {
      if (!table.values[i]) continue;
      const term: VersionRangeData[] = [];
      if (flavor.type === "FlavorNot") {
        for (const f of flavor.flavors) {
          term.push(PLAIN.make({ type: "Not", value: PLAIN.make({ type: "Flavor", flavor: f }) }));
        }
      }
      const p = i > 0 ? table.points[i - 1] : null;
      const q = i < table.points.length ? table.points[i] : null;
      if (p !== null && q !== null && adjacentPoints(p, q)) {
        term.push(anchor("=", p));
      } else {
        if (p !== null) term.push(anchor(p.side < 0 ? ">=" : ">", p));
        if (q !== null) term.push(anchor(q.side < 0 ? "<" : "<=", q));
      }
      if (term.length === 0) term.push(PLAIN.make({ type: "Flavor", flavor: cmpFlavor }));
      sum.push(foldRanges(term, "And", PLAIN));
    }
  }
  return foldRanges(sum, "Or", PLAIN);
}
