/**
 * The package's actions, shaped like the SDK's `Action`s: `getInput` answers
 * an input spec and the current value (an `ActionInput`), `run` does the work
 * and answers an `ActionResult`. Each call runs in a fresh child process with
 * the `getInput` or `run` permission profile.
 */

import type { T } from "@start9labs/start-sdk";
import { MAX_GREETING_LENGTH, readGreeting, writeGreeting } from "./greeting.ts";
import { webPort } from "./paths.ts";

/** What `actions.get(id)` hands the runtime. */
export interface PackageAction {
  /** Exported to the host in init (`action.export`). */
  metadata: T.ActionMetadata;
  getInput(options: {
    effects: T.Effects;
    prefill: Record<string, unknown> | null;
  }): Promise<T.ActionInput | null>;
  run(options: { effects: T.Effects; input: unknown }): Promise<T.ActionResult | null>;
}

const greetingSpec: T.inputSpecTypes.ValueSpecText = {
  type: "text",
  name: "Greeting",
  description: "What the web page says",
  warning: null,
  footnote: null,
  patterns: [],
  minLength: 1,
  maxLength: MAX_GREETING_LENGTH,
  masked: false,
  inputmode: "text",
  placeholder: "Hello from StartOS",
  required: true,
  default: null,
  disabled: false,
  generate: null,
  immutable: false,
};

function metadata(name: string, description: string, hasInput: boolean): T.ActionMetadata {
  return {
    name,
    description,
    warning: null,
    visibility: "enabled",
    allowedStatuses: "any",
    hasInput,
    group: null,
  };
}

function message(title: string, text: string, value: string | null = null): T.ActionResult {
  return {
    version: "1",
    title,
    message: text,
    result: value === null
      ? null
      : { type: "single", value, copyable: true, qr: false, masked: false },
  };
}

/** Reads `input.greeting`; throws an SDK known error (`{error}`) when it is not usable. */
function greetingOf(input: unknown): string {
  const greeting = (input as { greeting?: unknown } | null)?.greeting;
  if (typeof greeting !== "string" || greeting.trim() === "") {
    throw { error: "input.greeting must be a non-empty string" };
  }
  if (greeting.length > MAX_GREETING_LENGTH) {
    throw { error: `input.greeting is longer than ${MAX_GREETING_LENGTH} characters` };
  }
  return greeting.trim();
}

const noInput = () => Promise.resolve(null);

/** Every action, by id. */
export const ACTIONS: Record<string, PackageAction> = {
  "set-greeting": {
    metadata: metadata("Set greeting", "Change what the web page says", true),
    // getInput may read the volumes but not write anything.
    getInput: async ({ effects, prefill }) => ({
      eventId: effects.eventId ?? "",
      spec: { greeting: greetingSpec },
      value: prefill ?? { greeting: await readGreeting() },
    }),
    run: async ({ effects, input }) => {
      const greeting = greetingOf(input);
      await writeGreeting(greeting);
      await effects.notification.create({
        level: "success",
        title: "Greeting changed",
        message: `The web page now says "${greeting}"`,
      });
      return message("Greeting saved", "Reload the web page to see it.", greeting);
    },
  },
  "show-greeting": {
    metadata: metadata("Show greeting", "Show what the web page says", false),
    getInput: noInput,
    run: async () => message("Current greeting", "The web page says:", await readGreeting()),
  },
  ping: {
    metadata: metadata(
      "Ping the web server",
      "Asks the running web server for its greeting. Actions reach the service's own " +
        "daemons (loopback and the container's own addresses) and nothing else by default.",
      false,
    ),
    getInput: noInput,
    run: async () => {
      // The run profile reaches loopback by default; a policy can narrow it (policy.jsonc).
      const response = await fetch(`http://127.0.0.1:${webPort()}/`);
      return message("The web server answered", `HTTP ${response.status}`, await response.text());
    },
  },
};
