/**
 * The upstream increments that define the `^` and `~` range operators, on plain data.
 * @module
 */

import type { ExtendedVersionData, ExtendedVersionLike } from "./types.ts";

/**
 * The next major or minor upstream of `v`: `major` adds 1 to the first non-zero component,
 * `minor` to the component after it; later components become 0, the downstream is `0`.
 * @param v Any extended version (ours or the SDK's).
 * @param part Which increment.
 * @returns The incremented version as fresh plain data, unflavored as `v` is or with its flavor.
 */
export function increment(v: ExtendedVersionLike, part: "major" | "minor"): ExtendedVersionData {
  const numbers = v.upstream.number;
  const major = numbers.findIndex((n) => n !== 0);
  const at = part === "minor" && major !== -1 ? major + 1 : major;
  const next = numbers.map((n, i) => (i > at ? 0 : i === at ? n + 1 : n));
  return {
    flavor: v.flavor,
    upstream: { number: next, prerelease: [] },
    downstream: { number: [0], prerelease: [] },
  };
}
