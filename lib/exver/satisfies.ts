/**
 * Membership: whether an extended version satisfies a range expression, evaluated directly on
 * the expression tree (ours or the SDK's objects), with the SDK's semantics and quirks.
 */

import { compareExtended, sameFlavor } from "./compare.ts";
import type { ExtendedVersionLike, VersionRangeLike } from "./types.ts";
import { increment } from "./increment.ts";

/** Whether `v` satisfies `range`. */
export function satisfiesRange(v: ExtendedVersionLike, range: VersionRangeLike): boolean {
  const atom = range.atom;
  switch (atom.type) {
    case "Anchor": {
      const other = atom.version;
      switch (atom.operator) {
        case "=":
          return compareExtended(v, other) === "equal";
        case ">":
          return compareExtended(v, other) === "greater";
        case "<":
          return compareExtended(v, other) === "less";
        case ">=": {
          const c = compareExtended(v, other);
          return c === "greater" || c === "equal";
        }
        case "<=": {
          const c = compareExtended(v, other);
          return c === "less" || c === "equal";
        }
        case "!=":
          return compareExtended(v, other) !== "equal";
        case "^":
        case "~": {
          // `^` stays below the next major, `~` below the next minor.
          const c = compareExtended(v, other);
          return (c === "greater" || c === "equal") &&
            compareExtended(v, increment(other, atom.operator === "^" ? "major" : "minor")) ===
              "less";
        }
      }
      // SDK quirk: an unknown operator falls through to the `Flavor` case.
      return sameFlavor((atom as { flavor?: string | null }).flavor, v.flavor);
    }
    case "Flavor":
      return sameFlavor(atom.flavor, v.flavor);
    case "And":
      return satisfiesRange(v, atom.left) && satisfiesRange(v, atom.right);
    case "Or":
      return satisfiesRange(v, atom.left) || satisfiesRange(v, atom.right);
    case "Not":
      return !satisfiesRange(v, atom.value);
    case "Any":
      return true;
    case "None":
      return false;
  }
  return false;
}
