import assert from "node:assert/strict";
import { resolveWorkerEntry } from "../../lib/process/child_binary.ts";

const none = () => undefined;

Deno.test("resolveWorkerEntry: STARTOS_WORKER_ENTRY wins", () => {
  const env = (name: string) => name === "STARTOS_WORKER_ENTRY" ? "/opt/w.js" : undefined;
  assert.equal(resolveWorkerEntry(env, "file:///x/runtime.js"), "/opt/w.js");
});

Deno.test("resolveWorkerEntry: from the source tree, lib/worker/entry.ts", () => {
  assert.equal(
    resolveWorkerEntry(none, "file:///src/lib/process/child_binary.ts"),
    "/src/lib/worker/entry.ts",
  );
  assert.ok(resolveWorkerEntry(none).endsWith("/lib/worker/entry.ts"));
});

Deno.test("resolveWorkerEntry: bundled into runtime.js, the worker.js beside it", () => {
  assert.equal(
    resolveWorkerEntry(none, "file:///usr/lib/startos/runtime/runtime.js"),
    "/usr/lib/startos/runtime/worker.js",
  );
});
