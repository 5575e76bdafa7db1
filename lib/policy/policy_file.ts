/**
 * Reading a JSONC policy file. Kept apart from lib/policy.ts because the JSONC
 * parser costs about 10 MB of RSS: a runtime started without `--policy` never
 * loads it (main.ts imports this module only when a file is given).
 */

import {
  type Node as JsonNode,
  parse as parseJsonc,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from "jsonc-parser";
import {
  defaultPolicy,
  keyPath,
  type Policy,
  PolicyError,
  type PolicyVars,
  resolveVars,
  validatePolicy,
} from "./policy.ts";

/** 1-based line and column of a character offset. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${line}:${column}`;
}

/** Key paths of object keys given twice (JSON would silently keep the last one). */
function duplicateKeys(node: JsonNode | undefined, path: PropertyKey[] = []): string[] {
  if (!node?.children) return [];
  const found: string[] = [];
  if (node.type === "object") {
    const seen = new Set<string>();
    for (const property of node.children) {
      const [keyNode, valueNode] = property.children ?? [];
      if (!keyNode) continue;
      const key = String(keyNode.value);
      if (seen.has(key)) found.push(`${keyPath([...path, key])}: duplicate key`);
      seen.add(key);
      found.push(...duplicateKeys(valueNode, [...path, key]));
    }
  } else if (node.type === "array") {
    node.children.forEach((child, index) => found.push(...duplicateKeys(child, [...path, index])));
  }
  return found;
}

/**
 * Parses and validates policy text (JSONC): the pure part of {@linkcode loadPolicy}.
 * @param text The policy file's text.
 * @param source The file's name, for error messages.
 * @param vars The values of `${package}` and `${root}` in paths.
 * @returns The effective policy: the defaults with the file's keys applied.
 * @throws {PolicyError} Listing every problem, each with its key path.
 *
 * @example
 * ```ts
 * import { parsePolicy } from "./policy_file.ts";
 *
 * const policy = parsePolicy(
 *   `{ "profiles": { "run": { "net": ["api.example.com:443"] } }, // trailing commas are fine
 *   }`,
 *   "policy.jsonc",
 *   { package: "/usr/lib/startos/package", root: "/media/startos" },
 * );
 * console.log(policy.profiles.run.net); // ["api.example.com:443"]
 * ```
 */
export function parsePolicy(text: string, source: string, vars: PolicyVars): Policy {
  // A bad root or package directory is reported before anything in the file.
  resolveVars(vars, source);
  const errors: ParseError[] = [];
  const options = { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false };
  const value: unknown = parseJsonc(text, errors, options);
  if (errors.length > 0) {
    throw new PolicyError(
      errors.map((e) =>
        `${source}:${position(text, e.offset)}: syntax error: ${printParseErrorCode(e.error)}`
      ),
    );
  }
  return validatePolicy(value, source, vars, duplicateKeys(parseTree(text, [], options)));
}

/**
 * Loads the policy and validates it completely, so mistakes are startup errors, not first-use
 * errors.
 * @param file The policy file (`--policy`), or null for the default profiles and pool sizes.
 * @param vars The values of `${package}` and `${root}` in paths.
 * @returns The effective policy.
 * @throws {PolicyError} When the file cannot be read or is not a valid policy.
 *
 * @example
 * ```ts
 * import { loadPolicy } from "./policy_file.ts";
 * import { policyWarnings } from "./policy.ts";
 *
 * const vars = { package: "/usr/lib/startos/package", root: "/media/startos" };
 * const defaults = await loadPolicy(null, vars);
 * console.log(defaults.profiles.sandbox.effects); // "read-only"
 * for (const warning of policyWarnings(defaults)) console.warn(warning);
 * ```
 */
export async function loadPolicy(file: string | null, vars: PolicyVars): Promise<Policy> {
  if (file === null) return defaultPolicy(vars);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "file not found"
      : error instanceof Deno.errors.IsADirectory
      ? "is a directory, not a file"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new PolicyError([`${file}: cannot read the permission policy: ${reason}`]);
  }
  return parsePolicy(text, file, vars);
}
