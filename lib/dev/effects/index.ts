/** Every effect the dev host implements, by wire method name: exactly the effect table's. */

import type { EffectMethod } from "../../protocol/effects.ts";
import { ACTION_EFFECTS } from "./actions.ts";
import type { Effect } from "./define.ts";
import { INTERFACE_EFFECTS } from "./interfaces.ts";
import { NETWORK_EFFECTS } from "./network.ts";
import { PACKAGE_EFFECTS } from "./packages.ts";
import { STATUS_EFFECTS } from "./status.ts";
import { SYSTEM_EFFECTS } from "./system.ts";

/**
 * One handler per effect of the table: an effect added to the table without a dev handler is a
 * type error here (each group's `satisfies EffectHandlers` refuses names the table lacks).
 */
const HANDLERS: Readonly<Record<EffectMethod, Effect>> = {
  ...STATUS_EFFECTS,
  ...NETWORK_EFFECTS,
  ...INTERFACE_EFFECTS,
  ...ACTION_EFFECTS,
  ...PACKAGE_EFFECTS,
  ...SYSTEM_EFFECTS,
};

/** The dispatch table: method → effect. */
export const DEV_EFFECTS: ReadonlyMap<string, Effect> = new Map(Object.entries(HANDLERS));
