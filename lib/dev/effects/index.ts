/** Every effect the dev host implements, by wire method name. */

import { ACTION_EFFECTS } from "./actions.ts";
import type { Effect } from "./define.ts";
import { INTERFACE_EFFECTS } from "./interfaces.ts";
import { NETWORK_EFFECTS } from "./network.ts";
import { PACKAGE_EFFECTS } from "./packages.ts";
import { STATUS_EFFECTS } from "./status.ts";
import { SYSTEM_EFFECTS } from "./system.ts";

/** The dispatch table: method → effect. */
export const DEV_EFFECTS: ReadonlyMap<string, Effect> = new Map(Object.entries({
  ...STATUS_EFFECTS,
  ...NETWORK_EFFECTS,
  ...INTERFACE_EFFECTS,
  ...ACTION_EFFECTS,
  ...PACKAGE_EFFECTS,
  ...SYSTEM_EFFECTS,
}));
