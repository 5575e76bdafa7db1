/**
 * The zod the runtime validates its inputs with: zod 4's "mini" build, with English messages.
 *
 * Why mini, not zod's classic API: classic zod attaches some forty methods to every schema it
 * builds and cannot be tree-shaken, so the bundled runtime carried ~430 KB of zod source and the
 * closures of every schema; mini's schemas are plain objects checked by free functions
 * (`z.optional(s)`, `s.check(z.maxLength(n))`), and the bundle keeps only what is used. Measured
 * with 200 schemas of the runtime's shapes, bundled as the runtime is and after a full collection:
 * source 470 → 37 KB, anonymous memory 17.1 → 13.5 MB (BENCHMARKS.md, session 7). The runtime is
 * the one long-lived process of every container, so this is memory every service pays.
 *
 * mini loads no locale of its own (every message would read "Invalid input"); the English one is
 * configured here, once, for every module that imports this file. Import it as a namespace
 * (`import * as z`) and re-export nothing as an object: the bundler then keeps only the functions
 * the runtime calls (a namespace object passed around keeps all of zod).
 * @example
 * ```ts
 * import * as z from "./zod.ts";
 * const port = z.int().check(z.gte(1), z.lte(65_535));
 * port.safeParse(80).success; // true
 * ```
 * @module
 */

import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());

export * from "zod/mini";
