/**
 * Action effects: exported action metadata, tasks, and `action.run` /
 * `action.get-input`, which the dev host performs the way StartOS does: by
 * sending `execute` to the service's runtime.
 */

import { z } from "zod";
import { json, task } from "../shapes.ts";
import { defineEffect, type EffectContext, type EffectHandlers, notInstalled } from "./define.ts";

/** How long the host lets `getInput` and `run` take (PROTOCOL.md, "Procedures"). */
const GET_INPUT_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_MS = 120_000;

const actionId = z.string().min(1);
const clearSpec = z.union([
  z.object({ only: z.array(z.string()) }),
  z.object({ except: z.array(z.string()) }),
]);

let executions = 0;

/** Runs a procedure of this service through the runtime, as the host would. */
function execute(
  context: EffectContext,
  params: { packageId?: string; actionId: string },
  verb: "getInput" | "run",
  input: unknown,
): Promise<unknown> {
  const packageId = params.packageId ?? context.state.packageId;
  if (packageId !== context.state.packageId) throw notInstalled(packageId, context.state);
  return context.runtime.request("execute", {
    id: `host-${verb}-${++executions}`,
    procedure: `/actions/${params.actionId}/${verb}`,
    input,
    timeout: verb === "run" ? RUN_TIMEOUT_MS : GET_INPUT_TIMEOUT_MS,
  });
}

/** The action effects by method name. */
export const ACTION_EFFECTS = {
  "action.export": defineEffect({
    params: z.object({ id: actionId, metadata: z.looseObject({ name: z.string() }) }),
    run: ({ id, metadata }, context) => {
      context.state.actions[id] = json.parse(metadata);
      context.update();
      return null;
    },
  }),
  "action.clear": defineEffect({
    params: z.object({ except: z.array(z.string()) }),
    run: ({ except }, context) => {
      for (const id of Object.keys(context.state.actions)) {
        if (!except.includes(id)) delete context.state.actions[id];
      }
      context.update();
      return null;
    },
  }),
  "action.get-input": defineEffect({
    params: z.object({ packageId: z.string().optional(), actionId }),
    run: (params, context) => execute(context, params, "getInput", { prefill: null }),
  }),
  "action.run": defineEffect({
    params: z.object({ packageId: z.string().optional(), actionId, input: json.optional() }),
    run: (params, context) => execute(context, params, "run", { input: params.input ?? null }),
  }),
  "action.create-task": defineEffect({
    params: task,
    run: (params, context) => {
      context.state.tasks[params.replayId] = params;
      context.update();
      return null;
    },
  }),
  "action.clear-tasks": defineEffect({
    params: clearSpec,
    run: (spec, context) => {
      for (const replayId of Object.keys(context.state.tasks)) {
        const listed = ("only" in spec ? spec.only : spec.except).includes(replayId);
        if (listed === ("only" in spec)) delete context.state.tasks[replayId];
      }
      context.update();
      return null;
    },
  }),
} satisfies EffectHandlers;
