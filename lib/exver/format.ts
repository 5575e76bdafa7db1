/**
 * Printing: versions, extended versions and range expressions in the SDK's canonical text form,
 * structurally (ours or the SDK's objects).
 */

import type { ExtendedVersionLike, VersionLike, VersionRangeLike } from "./types.ts";

/** Prints a version, e.g. `1.2.3` or `1.0.0-beta.1`. */
export function versionToString(v: VersionLike): string {
  return `${v.number.join(".")}${v.prerelease.length > 0 ? `-${v.prerelease.join(".")}` : ""}`;
}

/** Prints an extended version, e.g. `#bitcoin:1.2.3:0` or `1.0.0:1`. */
export function extendedVersionToString(v: ExtendedVersionLike): string {
  return `${v.flavor ? `#${v.flavor}:` : ""}${versionToString(v.upstream)}:${
    versionToString(v.downstream)
  }`;
}

function needsParens(range: VersionRangeLike, parent: "And" | "Or" | "Not"): boolean {
  switch (range.atom.type) {
    case "And":
    case "Or":
      return parent !== range.atom.type;
    case "Anchor":
    case "Any":
    case "None":
      return parent === "Not";
    default:
      return false;
  }
}

/** Prints a range as a child of `parent`, parenthesised where the SDK does. */
export function rangeToStringParens(range: VersionRangeLike, parent: "And" | "Or" | "Not"): string {
  const s = rangeToString(range);
  return needsParens(range, parent) ? `(${s})` : s;
}

/** Prints a range in the SDK's canonical form. */
export function rangeToString(range: VersionRangeLike): string {
  const atom = range.atom;
  switch (atom.type) {
    case "Anchor":
      return `${atom.operator}${extendedVersionToString(atom.version)}`;
    case "And":
      return `${rangeToStringParens(atom.left, "And")} && ${
        rangeToStringParens(atom.right, "And")
      }`;
    case "Or":
      return `${rangeToStringParens(atom.left, "Or")} || ${rangeToStringParens(atom.right, "Or")}`;
    case "Not":
      return `!${rangeToStringParens(atom.value, "Not")}`;
    case "Flavor":
      return atom.flavor == null ? "#" : `#${atom.flavor}`;
    case "Any":
      return "*";
    case "None":
      return "!";
  }
  return "";
}
