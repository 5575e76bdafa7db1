/** Loads the package module inside a child: a CommonJS bundle or an ES module. */

import { createRequire } from "node:module";
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

/**
 * Loads `path` (absolute): `.mjs` is imported, `.js`/`.cjs` are required and
 * imported instead when they turn out to be ES modules. A missing file is
 * NotFound (6); a module that throws while loading is 59.
 */
export async function loadPackage(path: string): Promise<PackageModule> {
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
      module = require(path);
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
