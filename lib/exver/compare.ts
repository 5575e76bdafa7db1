/**
 * Version precedence: comparing versions and extended versions structurally (ours or the SDK's
 * objects), with the SDK's semantics and quirks; flavor equality.
 */

import type { ExtendedVersionLike, Ordering, VersionLike } from "./types.ts";

/** Compares two versions; SDK semantics, including its quirk of reading `prerelease[1]`. */
export function compareVersions(a: VersionLike, b: VersionLike): Ordering {
  const an = a.number;
  const bn = b.number;
  const len = Math.max(an.length, bn.length);
  for (let i = 0; i < len; i++) {
    const x = an[i] || 0;
    const y = bn[i] || 0;
    if (x > y) return "greater";
    if (x < y) return "less";
  }
  const ap = a.prerelease;
  const bp = b.prerelease;
  if (ap.length === 0 && bp.length !== 0) return "greater";
  if (ap.length !== 0 && bp.length === 0) return "less";
  const plen = Math.max(ap.length, bp.length);
  for (let i = 0; i < plen; i++) {
    const x = ap[i];
    const y = bp[i];
    if (typeof x === typeof y) {
      if (typeof x === "number" && typeof y === "number") {
        if (x > y) return "greater";
        if (x < y) return "less";
      } else if (typeof x === "string" && typeof y === "string") {
        if (x > y) return "greater";
        if (x < y) return "less";
      }
    } else {
      // SDK quirk: the mismatch branch looks at `prerelease[1]` of the left side, not `[i]`.
      switch (`${typeof ap[1]}:${typeof y}`) {
        case "number:string":
          return "less";
        case "string:number":
          return "greater";
        case "number:undefined":
        case "string:undefined":
          return "greater";
        case "undefined:number":
        case "undefined:string":
          return "less";
      }
    }
  }
  return "equal";
}

/** Maps an ordering to `Array.prototype.sort` style: 1, 0 or -1. */
export function orderingToSort(o: Ordering): -1 | 0 | 1 {
  return o === "greater" ? 1 : o === "equal" ? 0 : -1;
}

/** Compares two extended versions: upstream first, then downstream; `null` across flavors. */
export function compareExtended(a: ExtendedVersionLike, b: ExtendedVersionLike): Ordering | null {
  if (a.flavor !== b.flavor) return null;
  const up = compareVersions(a.upstream, b.upstream);
  if (up !== "equal") return up;
  return compareVersions(a.downstream, b.downstream);
}

/** `a == b` for flavors (the SDK compares flavor atoms loosely). */
export function sameFlavor(a: string | null | undefined, b: string | null | undefined): boolean {
  return (a ?? null) === (b ?? null);
}
