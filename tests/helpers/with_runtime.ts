/** Test helper: runs a test body against a fresh runtime subprocess and always cleans up. */

import { RawClient } from "./raw_client.ts";
import { type RuntimeProcess, type SpawnOptions, spawnRuntime } from "./runtime_process.ts";

/** Spawns a runtime, connects a raw client, runs `body`, then closes and stops everything. */
export async function withRuntime(
  options: SpawnOptions,
  body: (runtime: RuntimeProcess, client: RawClient) => Promise<void>,
): Promise<void> {
  const runtime = await spawnRuntime(options);
  const client = await RawClient.connect(runtime.socket);
  try {
    await body(runtime, client);
  } finally {
    client.close();
    await runtime.stop();
  }
}
