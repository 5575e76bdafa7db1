/** Status effects: health checks, main status, restart/shutdown, data version, progress. */

import { z } from "zod";
import { healthResult, progress } from "../shapes.ts";
import {
  defineEffect,
  type EffectContext,
  type EffectHandlers,
  noParams,
  sameJson,
} from "./define.ts";

/** The topic `get-status` callbacks of package `id` watch. */
export const statusTopic = (id: string): string => `status:${id}`;

/** Asks the runtime to stop main, then (for a restart) to start it again, after this answer. */
function controlMain(context: EffectContext, restart: boolean): void {
  setTimeout(async () => {
    try {
      await context.runtime.request("stop", {});
      if (restart) await context.runtime.request("start", {});
      context.log.info(restart ? "main restarted" : "main stopped (shutdown)");
    } catch (error) {
      context.log.warn(restart ? "restart failed" : "shutdown failed", {
        reason: (error as Error).message,
      });
    }
  }, 0);
}

function setDesired(context: EffectContext, desired: "running" | "stopped"): void {
  const { state } = context;
  const started = desired === "running" ? (state.started ?? new Date().toISOString()) : null;
  if (state.desired === desired && state.started === started) return;
  state.desired = desired;
  state.started = started;
  context.update(statusTopic(state.packageId));
}

/** The status effects by method name. */
export const STATUS_EFFECTS = {
  "get-status": defineEffect({
    params: z.object({ packageId: z.string().optional() }),
    watch: (params, { state }) => statusTopic(params.packageId ?? state.packageId),
    run: (params, { state }) => {
      if ((params.packageId ?? state.packageId) !== state.packageId) return null;
      return {
        health: state.health,
        error: null,
        started: state.started,
        desired: { main: state.desired },
      };
    },
  }),
  "set-health": defineEffect({
    params: healthResult.extend({ id: z.string().min(1) }),
    run: ({ id, ...result }, context) => {
      const { state } = context;
      if (sameJson(state.health[id], result)) return null;
      state.health[id] = result;
      context.update(statusTopic(state.packageId));
      return null;
    },
  }),
  "set-main-status": defineEffect({
    params: z.object({ status: z.enum(["running", "stopped"]) }),
    run: ({ status }, context) => {
      setDesired(context, status);
      return null;
    },
  }),
  restart: defineEffect({
    params: noParams,
    run: (_params, context) => {
      context.state.restarts++;
      context.update();
      setDesired(context, "running");
      controlMain(context, true);
      return null;
    },
  }),
  shutdown: defineEffect({
    params: noParams,
    run: (_params, context) => {
      setDesired(context, "stopped");
      controlMain(context, false);
      return null;
    },
  }),
  "get-data-version": defineEffect({
    params: noParams,
    run: (_params, { state }) => state.dataVersion,
  }),
  "set-data-version": defineEffect({
    params: z.object({ version: z.string().nullable() }),
    run: ({ version }, context) => {
      if (context.state.dataVersion !== version) {
        context.state.dataVersion = version;
        context.update();
      }
      // Only uninit of an uninstall (exit with no target) clears it: the next session installs.
      if (version === null && context.state.installed) {
        context.state.installed = false;
        context.update();
      }
      return null;
    },
  }),
  "set-backup-progress": defineEffect({
    params: z.object({ progress }),
    run: ({ progress }, context) => {
      context.state.backupProgress = progress;
      context.update();
      return null;
    },
  }),
  "set-init-progress": defineEffect({
    params: z.object({ progress }),
    run: ({ progress }, context) => {
      context.state.initProgress = progress;
      context.update();
      return null;
    },
  }),
} satisfies EffectHandlers;
