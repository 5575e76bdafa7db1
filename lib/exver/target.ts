/**
 * Exit targets: parsing the `exit` target string the way the StartOS Node runtime does.
 */

import { ExVerSyntaxError, listOf } from "./errors.ts";
import { friendlyOf, tryParseExtendedVersion, tryParseRange } from "./parser.ts";
import { rangeFromData, type VersionRange } from "./range.ts";
import { type ExtendedVersion, extendedVersionFromData } from "./version.ts";

/** Parses an `exit` target as the Node runtime does: null, else version, else normalized range. */
export function parseTarget(s: string | null): ExtendedVersion | VersionRange | null {
  if (!s) return null;
  const version = tryParseExtendedVersion(s);
  if (version.ok) return extendedVersionFromData(version.value);
  const range = tryParseRange(s, false);
  if (range.ok) return rangeFromData(range.value).normalize();
  const e = range.error;
  const v = version.error;
  throw new ExVerSyntaxError(
    s,
    "version range",
    e.offset,
    e.expected,
    [],
    `Invalid exit target ${JSON.stringify(s)}: it is neither an extended version (expected ${
      listOf(friendlyOf(v.expected))
    } at position ${v.offset}) nor a version range (expected ${
      listOf(friendlyOf(e.expected))
    } at position ${e.offset})`,
  );
}
