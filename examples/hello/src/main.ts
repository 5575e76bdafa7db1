/**
 * main: one daemon, a small web server showing the greeting, and a health
 * check that reports through `set-health`. `term()` stops both. Runs with
 * the `main` profile, the only one with network access.
 */

import { createServer } from "node:http";
import type { T } from "@start9labs/start-sdk";
import { readGreeting } from "./greeting.ts";
import { webPort } from "./paths.ts";

/** How often the health check runs after the first one. */
const HEALTH_INTERVAL_MS = 30_000;

/** Asks the web server for its page and reports the outcome as the `web` health check. */
async function checkHealth(effects: T.Effects, url: string): Promise<void> {
  const name = "Web server";
  try {
    const response = await fetch(url);
    await response.body?.cancel();
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    await effects.setHealth({ id: "web", name, result: "success", message: `Serving ${url}` });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    await effects.setHealth({ id: "web", name, result: "failure", message: reason });
  }
}

/** The SDK's `main` shape: `main({effects})` → `{build()}` → `{term()}`. */
export function main({ effects }: { effects: T.Effects }): Promise<T.DaemonBuildable> {
  return Promise.resolve({
    build: async () => {
      const port = webPort();
      const url = `http://127.0.0.1:${port}/`;
      const server = createServer(async (_request, response) => {
        response.setHeader("content-type", "text/plain; charset=utf-8");
        response.end(`${await readGreeting()}\n`);
      });
      await effects.setHealth({
        id: "web",
        name: "Web server",
        result: "starting",
        message: null,
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => resolve());
      });
      console.log(`web server listening on ${url}`);
      await checkHealth(effects, url);
      const timer = setInterval(() => checkHealth(effects, url), HEALTH_INTERVAL_MS);
      return {
        term: async () => {
          clearInterval(timer);
          await new Promise<void>((resolve) => server.close(() => resolve()));
          console.log("web server stopped");
        },
      };
    },
  });
}
