/** The `eval` method of `--dev` mode: runs a script and answers its JSON-safe value. */

import { packageFailure } from "../protocol/errors.ts";

/** Converts a value to what JSON can carry: BigInt → string, undefined → null; cycles are refused. */
export function toJsonSafe(value: unknown): unknown {
  const text = JSON.stringify(value, (_key, v) => typeof v === "bigint" ? v.toString() : v);
  return text === undefined ? null : JSON.parse(text);
}

/**
 * Evaluates `script` as a global script and answers its completion value
 * (awaited when it is a promise). Thrown errors answer 59 with the stack.
 */
export async function evaluate(script: string): Promise<unknown> {
  let value: unknown;
  try {
    value = await (0, eval)(script);
  } catch (error) {
    throw packageFailure(
      error instanceof Error ? error.message : String(error),
      error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      error instanceof Error ? error.stack : undefined,
    );
  }
  try {
    return toJsonSafe(value);
  } catch (error) {
    throw packageFailure(
      "The script's value cannot be sent as JSON",
      String((error as Error).message),
    );
  }
}
