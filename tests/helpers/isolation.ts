/**
 * Test helper: runs a suite with per-call isolation. With `STARTOS_TEST_REUSE=off` in the
 * environment (`.ci/run` sets it for a second pass over the process suites), every runtime a test
 * starts gets `"children": {"reuse": false}` in its policy, unless the test sets `children` itself.
 */

/** The policy text a test runtime gets: `policy` as is, or with reuse turned off. */
export function isolationPolicy(policy: string | undefined): string | undefined {
  if (Deno.env.get("STARTOS_TEST_REUSE") !== "off") return policy;
  if (policy === undefined) return `{ "children": { "reuse": false } }`;
  if (/"children"\s*:/.test(policy)) return policy;
  return policy.replace("{", `{ "children": { "reuse": false },`);
}
