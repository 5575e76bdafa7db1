/** The one piece of state the example keeps: a greeting in the `main` volume. */

import { appendFile, readFile, writeFile } from "node:fs/promises";
import { greetingFile, historyFile } from "./paths.ts";

/** The greeting a fresh install starts with. */
export const DEFAULT_GREETING = "Hello from StartOS";

/** The longest greeting accepted. */
export const MAX_GREETING_LENGTH = 100;

/** Reads the greeting, or the default when none was saved yet. */
export async function readGreeting(): Promise<string> {
  try {
    return (await readFile(greetingFile(), "utf8")).trim();
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return DEFAULT_GREETING;
    throw error;
  }
}

/** Saves the greeting and appends it to the history log. */
export async function writeGreeting(greeting: string): Promise<void> {
  await writeFile(greetingFile(), greeting + "\n");
  await appendFile(historyFile(), `${new Date().toISOString()} ${greeting}\n`);
}
