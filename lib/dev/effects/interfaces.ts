/** Service interface effects: export, read, list and clear. */

import { z } from "zod";
import { port, serviceInterface } from "../shapes.ts";
import { defineEffect, type EffectHandlers, sameJson } from "./define.ts";
import { hostTopic } from "./network.ts";

/** The topic `get-service-interface` callbacks of one interface watch. */
export const interfaceTopic = (packageId: string, id: string): string =>
  `interface:${packageId}:${id}`;
/** The topic `list-service-interfaces` callbacks watch. */
export const interfacesTopic = (packageId: string): string => `interfaces:${packageId}`;

/** The service interface effects by method name. */
export const INTERFACE_EFFECTS = {
  "export-service-interface": defineEffect({
    params: serviceInterface,
    run: (params, context) => {
      const { state } = context;
      if (!sameJson(state.serviceInterfaces[params.id], params)) {
        const before = state.serviceInterfaces[params.id]?.addressInfo.hostId;
        state.serviceInterfaces[params.id] = params;
        // get-host-info lists each binding's interfaces: the hosts it was and is on changed too.
        const hosts = [...new Set([before, params.addressInfo.hostId])]
          .flatMap((hostId) => hostId === undefined ? [] : [hostTopic(state.packageId, hostId)]);
        context.update(
          interfaceTopic(state.packageId, params.id),
          interfacesTopic(state.packageId),
          ...hosts,
        );
      }
      return null;
    },
  }),
  "export-range-service-interface": defineEffect({
    params: z.object({
      hostId: z.string(),
      internalStartPort: port,
      id: z.string().min(1),
      name: z.string(),
      description: z.string(),
      scheme: z.string().nullable(),
    }),
    run: (params, context) => {
      context.state.rangeInterfaces[params.id] = params;
      const range = context.state.hosts[params.hostId]?.bindingRanges[params.internalStartPort];
      if (range) range.interface = params;
      context.update(interfacesTopic(context.state.packageId));
      return null;
    },
  }),
  "get-service-interface": defineEffect({
    params: z.object({ packageId: z.string().optional(), serviceInterfaceId: z.string() }),
    watch: (params, { state }) =>
      interfaceTopic(params.packageId ?? state.packageId, params.serviceInterfaceId),
    run: (params, { state }) => {
      if ((params.packageId ?? state.packageId) !== state.packageId) return null;
      return state.serviceInterfaces[params.serviceInterfaceId] ?? null;
    },
  }),
  "list-service-interfaces": defineEffect({
    params: z.object({ packageId: z.string().optional() }),
    watch: (params, { state }) => interfacesTopic(params.packageId ?? state.packageId),
    run: (params, { state }) =>
      (params.packageId ?? state.packageId) === state.packageId ? state.serviceInterfaces : {},
  }),
  "clear-service-interfaces": defineEffect({
    params: z.object({ except: z.array(z.string()) }),
    run: ({ except }, context) => {
      const { state } = context;
      for (const id of Object.keys(state.serviceInterfaces)) {
        if (except.includes(id)) continue;
        const hostId = state.serviceInterfaces[id].addressInfo.hostId;
        delete state.serviceInterfaces[id];
        context.update(
          interfaceTopic(state.packageId, id),
          interfacesTopic(state.packageId),
          hostTopic(state.packageId, hostId),
        );
      }
      return null;
    },
  }),
} satisfies EffectHandlers;
