/** The permission flags of `deno task start`, read from deno.json so dev, compile and start agree. */

import { z } from "zod";

/** The repository root (where deno.json and main.ts are). */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

const config = z.object({ tasks: z.object({ start: z.string() }) });

/** The words of `tasks.start` between `deno run` and `main.ts`. */
export function flagsOfStartTask(task: string): string[] {
  const words = task.trim().split(/\s+/);
  const run = words.indexOf("run");
  const entry = words.indexOf("main.ts");
  if (words[0] !== "deno" || run !== 1 || entry <= run) {
    throw new Error(
      `tasks.start should read "deno run <flags> main.ts", got ${JSON.stringify(task)}`,
    );
  }
  return words.slice(run + 1, entry);
}

/** Reads deno.json and returns the flags `deno task start` runs main.ts with. */
export async function startTaskFlags(repo: string = REPO_ROOT): Promise<string[]> {
  const parsed = config.parse(JSON.parse(await Deno.readTextFile(`${repo}deno.json`)));
  return flagsOfStartTask(parsed.tasks.start);
}
