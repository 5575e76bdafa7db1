/**
 * `lib/` is a DAG: no module reaches itself through static relative imports (`import ... from`,
 * `import type ... from`, `export ... from`, bare `import "./x.ts"`). Dynamic `import()` is not
 * a static edge and is not counted.
 */

import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = fileURLToPath(new URL("../../lib/", import.meta.url));

/** Static import and re-export specifiers at the start of a line (multi-line braces included). */
const STATIC_IMPORT =
  /^(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,\s*)?(?:\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?|[\w$]+)\s+from\s+["']([^"']+)["']|^import\s+["']([^"']+)["']/gm;

/** Every `.ts` file under `dir`, absolute. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...tsFiles(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/**
 * The relative specifiers a module imports statically, resolved to absolute paths.
 * @param file An absolute `.ts` path.
 * @param source Its text.
 * @returns The resolved targets, in source order.
 */
function relativeImports(file: string, source: string): string[] {
  const targets: string[] = [];
  for (const match of source.matchAll(STATIC_IMPORT)) {
    const specifier = match[1] ?? match[2];
    if (specifier.startsWith(".")) targets.push(normalize(join(dirname(file), specifier)));
  }
  return targets;
}

/**
 * The import cycles of a graph: its strongly connected components with more than one module, or
 * one module importing itself (Tarjan's algorithm).
 * @param graph Module → the modules it imports.
 * @returns Each cycle's modules, sorted; empty for a DAG.
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    for (;;) {
      const member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
      if (member === node) break;
    }
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) {
      cycles.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

Deno.test("the import scanner finds single-line, multi-line, type-only and re-export imports", () => {
  const source = [
    'import { a } from "./a.ts";',
    "import {",
    "  b,",
    "  type c,",
    '} from "../b.ts";',
    'import type { D } from "./d.ts";',
    'export { e } from "./e.ts";',
    'export * from "./f.ts";',
    'import g, { h } from "./g.ts";',
    'import "./side.ts";',
    'import { z } from "zod";',
    'const lazy = await import("./lazy.ts");',
  ].join("\n");
  const found = relativeImports("/x/lib/m.ts", source).map((p) => relative("/x/lib", p));
  assert.deepEqual(found, [
    "a.ts",
    "../b.ts",
    "d.ts",
    "e.ts",
    "f.ts",
    "g.ts",
    "side.ts",
  ]);
  assert.deepEqual(findCycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", []]])), [
    ["a", "b", "c"],
  ]);
  assert.deepEqual(findCycles(new Map([["a", ["a"]]])), [["a"]]);
  assert.deepEqual(findCycles(new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]])), []);
});

Deno.test("lib/ has no import cycle", () => {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(LIB)) {
    graph.set(file, relativeImports(file, Deno.readTextFileSync(file)));
  }
  assert.ok(graph.size > 50, `scanned ${graph.size} modules`);
  const cycles = findCycles(graph).map((cycle) => cycle.map((file) => relative(LIB, file)));
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.map((c) => c.join(", ")).join("\n")}`);
});
