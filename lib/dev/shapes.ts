/**
 * Zod shapes of the SDK values the dev host receives in effects and keeps in
 * its state file (start-core `osBindings`), checked loosely where the host
 * only stores a value and strictly where it reads one.
 */

import { z } from "zod";

/** Any JSON value. */
export const json = z.json();
/** A JSON value as TypeScript sees it. */
export type Json = z.infer<typeof json>;

/** A TCP/UDP port number. */
export const port = z.number().int().min(1).max(65535);

/** `NamedHealthCheckResult`: a health check's name, result and message. */
export const healthResult = z.object({
  name: z.string(),
  result: z.enum(["success", "disabled", "starting", "waiting", "loading", "failure"]),
  message: z.string().nullable().optional().transform((value) => value ?? null),
});

/** `AddressInfo` of a service interface. */
export const addressInfo = z.object({
  username: z.string().nullable(),
  hostId: z.string(),
  internalPort: port,
  scheme: z.string().nullable(),
  sslScheme: z.string().nullable(),
  suffix: z.string(),
});

/** `ServiceInterface` (also the params of `export-service-interface`). */
export const serviceInterface = z.object({
  id: z.string().min(1),
  name: z.string(),
  description: z.string(),
  masked: z.boolean(),
  addressInfo,
  type: z.enum(["ui", "p2p", "api"]),
});

/** One binding of a host: the options it was bound with and the ports it got. */
export const binding = z.object({
  enabled: z.boolean(),
  options: z.object({
    preferredExternalPort: port,
    addSsl: json.nullable(),
    secure: json.nullable(),
  }),
  net: z.object({ assignedPort: port.nullable(), assignedSslPort: port.nullable() }),
});

/** A port range bound with `bind-range`. */
export const bindingRange = z.object({
  externalStartPort: port,
  numberOfPorts: z.number().int().min(1).max(500),
  interface: json.nullable(),
});

/** A host (`hostId`) and its bindings by internal port. */
export const host = z.object({
  bindings: z.record(z.string(), binding),
  bindingRanges: z.record(z.string(), bindingRange),
});

/** `DependencyRequirement`. */
export const dependencyRequirement = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("running"),
    id: z.string(),
    healthChecks: z.array(z.string()),
    versionRange: z.string(),
  }),
  z.object({ kind: z.literal("exists"), id: z.string(), versionRange: z.string() }),
]);

/** `Progress`: null, a boolean, `{done, total, units}` or a `FullProgress`. */
export const progress = json;

/** A notification as the dev host keeps it. */
export const notification = z.object({
  id: z.number().int(),
  createdAt: z.string(),
  level: z.enum(["success", "info", "warning", "error"]),
  title: z.string(),
  message: z.string(),
  data: z.string().nullable(),
});

/** `CreateTaskParams` (kept as given, keyed by `replayId`). */
export const task = z.looseObject({
  replayId: z.string().min(1),
  packageId: z.string(),
  actionId: z.string(),
  severity: z.enum(["optional", "important", "critical"]),
  reason: z.string().optional(),
  when: json.optional(),
  input: json.optional(),
});

/** A subcontainer filesystem made by `subcontainer.create-fs`. */
export const subcontainer = z.object({
  imageId: z.string(),
  name: z.string().nullable(),
  rootfs: z.string(),
});
