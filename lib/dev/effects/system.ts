/** Notifications, subcontainer filesystems, URL plugin registrations, SMTP and callbacks. */

import { z } from "zod";
import { json } from "../shapes.ts";
import { defineEffect, type EffectHandlers } from "./define.ts";

/** Notifications kept in the state file; older ones are dropped. */
const MAX_NOTIFICATIONS = 100;

const hostnameInfo = z.looseObject({
  packageId: z.string(),
  hostId: z.string(),
  internalPort: z.number().int(),
  hostname: z.string(),
});

/** The remaining effects by method name. */
export const SYSTEM_EFFECTS = {
  "clear-callbacks": defineEffect({
    params: z.union([
      z.object({ only: z.array(z.number().int()) }),
      z.object({ except: z.array(z.number().int()) }),
    ]),
    run: (spec, { callbacks }) => {
      callbacks.clear(spec);
      return null;
    },
  }),
  "notification.create": defineEffect({
    params: z.object({
      level: z.enum(["success", "info", "warning", "error"]),
      title: z.string(),
      message: z.string(),
      data: z.string().nullable().optional(),
    }),
    run: (params, context) => {
      const list = context.state.notifications;
      list.push({
        id: (list.at(-1)?.id ?? 0) + 1,
        createdAt: new Date().toISOString(),
        level: params.level,
        title: params.title,
        message: params.message,
        data: params.data ?? null,
      });
      list.splice(0, Math.max(0, list.length - MAX_NOTIFICATIONS));
      context.update();
      return null;
    },
  }),
  "subcontainer.create-fs": defineEffect({
    params: z.object({ imageId: z.string().min(1), name: z.string().nullable().optional() }),
    // An empty directory, or with an image folder (--images) the image's rootfs mounted there.
    run: async ({ imageId, name }, context) => {
      const made = await context.subcontainers.create(imageId);
      context.state.subcontainers[made.guid] = { imageId, name: name ?? null, rootfs: made.rootfs };
      context.update();
      return [made.rootfs, made.guid];
    },
  }),
  "subcontainer.destroy-fs": defineEffect({
    params: z.object({ guid: z.string() }),
    // Unmounts what is mounted in it first; never deletes across a mount point.
    run: async ({ guid }, context) => {
      if (!context.state.subcontainers[guid]) return null;
      await context.subcontainers.destroy(guid);
      delete context.state.subcontainers[guid];
      context.update();
      return null;
    },
  }),
  "plugin.url.register": defineEffect({
    params: z.object({ tableAction: z.string() }),
    run: ({ tableAction }, context) => {
      context.state.pluginUrls.tableAction = tableAction;
      context.update();
      return null;
    },
  }),
  "plugin.url.export-url": defineEffect({
    params: z.object({
      hostnameInfo,
      removeAction: z.string().nullable(),
      overflowActions: z.array(z.string()),
    }),
    run: (params, context) => {
      context.state.pluginUrls.urls.push(json.parse(params));
      context.update();
      return null;
    },
  }),
  "plugin.url.clear-urls": defineEffect({
    params: z.object({ except: z.array(hostnameInfo) }),
    run: ({ except }, context) => {
      const keep = new Set(except.map((info) => JSON.stringify(json.parse(info))));
      context.state.pluginUrls.urls = context.state.pluginUrls.urls.filter((url) => {
        const info = (url as { hostnameInfo?: unknown }).hostnameInfo;
        return keep.has(JSON.stringify(info));
      });
      context.update();
      return null;
    },
  }),
  // No SMTP server is configured on the dev host.
  "get-system-smtp": defineEffect({
    params: z.object({}),
    watch: () => "smtp",
    run: () => null,
  }),
} satisfies EffectHandlers;
