/**
 * Child entry: loads the package module and prints its `manifest` export (or
 * why it could not) as one JSON line. Run by `readManifest` with read access
 * to the package's directory only and an environment holding nothing but `LANG`
 * (start-sdk's `setupI18n` reads it while the bundle loads).
 *
 * argv: <package path>
 */

import { loadPackage } from "../worker/load_package.ts";

try {
  const module = await loadPackage(Deno.args[0]);
  console.log(JSON.stringify({ manifest: module.manifest ?? null }));
} catch (error) {
  console.log(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
}
