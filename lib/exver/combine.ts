/**
 * Folding range expressions with `And` / `Or`, for any node representation: the classes fold
 * into `VersionRange` objects, the normal form into plain data.
 * @module
 */

import type { ExtendedVersionLike, VersionRangeAtom, VersionRangeLike } from "./types.ts";

/** How a fold builds its nodes (`V`: the anchors' version type, `R`: the node type). */
export interface NodeBuilder<V extends ExtendedVersionLike, R extends VersionRangeLike<V>> {
  /** A new node holding `atom`. */
  make(atom: VersionRangeAtom<V>): R;
  /** An input node as the result type (itself when it already is one). */
  adopt(range: VersionRangeLike<V>): R;
}

/**
 * Left-folds `xs` with `type`: skips the identity (`*` for `And`, `!` for `Or`), short-circuits
 * on the other constant, and nests the rest to the left (no simplification).
 * @param xs The operands, in order.
 * @param type `And` or `Or`.
 * @param build How to make and adopt nodes.
 * @returns The folded expression (the identity when nothing is left).
 */
export function foldRanges<V extends ExtendedVersionLike, R extends VersionRangeLike<V>>(
  xs: readonly VersionRangeLike<V>[],
  type: "And" | "Or",
  build: NodeBuilder<V, R>,
): R {
  const unit = type === "And" ? "Any" : "None";
  let y: VersionRangeLike<V> = build.make({ type: unit });
  for (const x of xs) {
    const t = x.atom.type;
    if (t === unit) continue;
    if (t === "Any" || t === "None") return build.adopt(x);
    y = y.atom.type === unit ? x : build.make({ type, left: y, right: x });
  }
  return build.adopt(y);
}
