/** Loads the package module inside a child: a CommonJS bundle or an ES module. */

import Module, { createRequire } from "node:module";
import { applyLatin1Edits, type Latin1Hint, sha256Hex } from "../memory/latin1_source.ts";
import { ErrorKind } from "../protocol/error_codes.ts";
import { RpcError } from "../jsonrpc/errors.ts";

/** The loaded module's exports. */
export type PackageModule = Record<string, unknown>;

const require = createRequire(import.meta.url);

function looksLikeEsm(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (code === "ERR_REQUIRE_ESM" || code === "ERR_REQUIRE_ASYNC_MODULE") return true;
  return error instanceof SyntaxError && /\b(import|export)\b/.test(error.message);
}

function unwrapDefault(module: PackageModule): PackageModule {
  const inner = module.default;
  if (!("init" in module) && typeof inner === "object" && inner !== null && "init" in inner) {
    return inner as PackageModule;
  }
  return module;
}

/** The part of Node's CommonJS loader `requireWith` uses (Deno's port has it). */
interface CommonJsLoader {
  _extensions: Record<string, (module: CompilableModule, filename: string) => void>;
}
interface CompilableModule {
  _compile(source: string, filename: string): unknown;
}

/**
 * `path`'s text rewritten by the runtime's Latin-1 hint (memory/latin1_source.ts: the same
 * script, stored in half the memory), or null when there is none or it was made for other bytes.
 */
async function rewrittenSource(path: string, hint: Latin1Hint | null): Promise<string | null> {
  if (hint === null) return null;
  const bytes = await Deno.readFile(path);
  if (await sha256Hex(bytes) !== hint.sha256) return null;
  return applyLatin1Edits(new TextDecoder().decode(bytes), hint.edits);
}

/**
 * `require(path)`, compiling `source` as `path`'s text when given. Every other file, and `path`
 * without a `source`, loads as `require` loads it.
 */
function requireWith(path: string, source: string | null): unknown {
  const extensions = (Module as unknown as CommonJsLoader)._extensions;
  const ext = path.endsWith(".cjs") ? ".cjs" : ".js";
  const original = extensions?.[ext];
  if (source === null || typeof original !== "function") return require(path);
  // `require` hands the handler the file's real path.
  const real = Deno.realPathSync(path);
  extensions[ext] = function (this: unknown, module, filename) {
    if (filename === path || filename === real) return void module._compile(source, filename);
    return original.call(this, module, filename);
  };
  try {
    return require(path);
  } finally {
    extensions[ext] = original;
  }
}

/**
 * Loads `path` (absolute): `.mjs` is imported, `.js`/`.cjs` are required and
 * imported instead when they turn out to be ES modules. A missing file is
 * NotFound (6); a module that throws while loading is 59.
 * @param path the package module
 * @param latin1 the runtime's Latin-1 hint for it, applied when it was made for its bytes
 */
export async function loadPackage(
  path: string,
  latin1: Latin1Hint | null = null,
): Promise<PackageModule> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) {
      throw new RpcError(ErrorKind.NotFound, `package module ${path} is not a file`);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new RpcError(ErrorKind.NotFound, `package module ${path} does not exist`);
    }
    throw error;
  }
  const url = new URL(`file://${path}`).href;
  let module: unknown;
  if (path.endsWith(".mjs")) {
    module = await import(url);
  } else {
    try {
      module = requireWith(path, await rewrittenSource(path, latin1));
    } catch (error) {
      if (!looksLikeEsm(error)) throw error;
      module = await import(url);
    }
  }
  if (typeof module !== "object" || module === null) {
    throw new RpcError(ErrorKind.Javascript, `package module ${path} exports no object`);
  }
  return unwrapDefault(module as PackageModule);
}

/** Returns export `name` of the module when it is a function; throws a message naming the path otherwise. */
export function packageFunction(
  module: PackageModule,
  name: string,
  path: string,
): (options: Record<string, unknown>) => unknown {
  const value = module[name];
  if (typeof value !== "function") {
    const found = Object.keys(module).sort().join(", ") || "nothing";
    throw new RpcError(
      ErrorKind.Javascript,
      `package ${path} does not export a function ${name}() (it exports: ${found})`,
    );
  }
  return value as (options: Record<string, unknown>) => unknown;
}
