/** Package effects: dependencies, installed packages, manifests and dependency mounts. */

import { z } from "zod";
import { dependencyRequirement, json } from "../shapes.ts";
import { defineEffect, type EffectHandlers, noParams, notInstalled } from "./define.ts";

/** The package effects by method name. */
export const PACKAGE_EFFECTS = {
  "set-dependencies": defineEffect({
    params: z.object({ dependencies: z.array(dependencyRequirement) }),
    run: ({ dependencies }, context) => {
      context.state.dependencies = dependencies;
      context.update();
      return null;
    },
  }),
  "get-dependencies": defineEffect({
    params: noParams,
    run: (_params, { state }) => state.dependencies,
  }),
  "check-dependencies": defineEffect({
    params: z.object({ packageIds: z.array(z.string()).nullable().optional() }),
    // Only this service is installed on the dev host: every dependency is missing.
    run: ({ packageIds }, { state }) =>
      state.dependencies
        .filter((dependency) => !packageIds || packageIds.includes(dependency.id))
        .map((dependency) => ({
          packageId: dependency.id,
          title: null,
          installedVersion: null,
          satisfies: [],
          isRunning: false,
          tasks: {},
          healthChecks: {},
        })),
  }),
  "get-installed-packages": defineEffect({
    params: noParams,
    run: (_params, { state }) => [state.packageId],
  }),
  "get-service-manifest": defineEffect({
    params: z.object({ packageId: z.string() }),
    watch: ({ packageId }) => `manifest:${packageId}`,
    run: ({ packageId }, { state }) => {
      if (packageId !== state.packageId) throw notInstalled(packageId, state);
      return state.manifest;
    },
  }),
  mount: defineEffect({
    params: z.object({
      location: z.string().min(1),
      target: z.looseObject({
        packageId: z.string(),
        volumeId: z.string(),
        subpath: z.string().nullable(),
        readonly: z.boolean(),
      }),
    }),
    // Dependency volumes exist only on a real StartOS; the dev host records the request, so a
    // main that always mounts its dependency (`mountDependency`) starts here as it would there.
    run: (params, context) => {
      if (params.target.packageId !== context.state.packageId) {
        context.log.info("dependency mount recorded, not made (only this service is installed)", {
          dependency: params.target.packageId,
          volume: params.target.volumeId,
          location: params.location,
        });
      }
      context.state.mounts.push(json.parse(params));
      context.update();
      return null;
    },
  }),
} satisfies EffectHandlers;
