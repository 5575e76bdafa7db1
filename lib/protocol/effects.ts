/**
 * The effect table: every effect method of start-core the runtime forwards, declared once. Each
 * entry names the effect on the wire and in the SDK's `Effects` object, says whether it takes no
 * argument or a callback, and declares its access class. Everything else is derived from it: the
 * child's SDK-shaped `effects` object and its type (lib/worker/effects.ts), the profiles'
 * allowlists (lib/policy/permissions.ts), the broker's after-answer rule (lib/effects/broker.ts)
 * and the dev host's handler table (lib/dev/effects/index.ts, typed by {@linkcode EffectMethod}).
 *
 * Shared by the child and the runtime, so it imports nothing (in particular no zod).
 * @module
 */

/**
 * What an effect does, which decides who may call it and when:
 * - `read`: only reads;
 * - `secret`: only reads, but hands out a secret (a private key, a password);
 * - `write`: changes something, or makes the host run code (`action.get-input` runs another
 *   package's getInput, so it is `write` although its name reads like a read);
 * - `scratch`: makes something private to the child that asks (a procedure child: to its call),
 *   torn down when that context ends, and changes no state of the service
 *   (`subcontainer.create-fs`: a rootfs a getInput execs a read command in); the broker records
 *   who made it, and only that child may use or destroy it;
 * - `cleanup`: tears down what the caller made; a procedure child may still send it after its
 *   call was answered (start-sdk's teardown when the call's context ends).
 */
export type EffectClass = "read" | "secret" | "write" | "scratch" | "cleanup";

/** One row of the effect table. */
export interface EffectSpec {
  /** The wire method: `group.kebab-name`, or `kebab-name` at the top level. */
  readonly method: string;
  /** The group path in the SDK's `Effects` object ("" = top level, dotted for nested groups). */
  readonly group: string;
  /** The camelCase member name in its group (`getSslKey`). */
  readonly name: string;
  /** The access class (see {@linkcode EffectClass}); never inferred from the name. */
  readonly access: EffectClass;
  /** The SDK types it without an argument: always sent with `{}`. */
  readonly noArgs?: true;
  /** Its options may carry a `callback` function. */
  readonly callback?: true;
  /** Allowed whatever the profile's effect access (the runtime itself relies on it). */
  readonly everyProfile?: true;
}

/** The effect table, in the SDK's groups (top level sorted by name, then the groups). */
export const EFFECTS = [
  { method: "bind", group: "", name: "bind", access: "write" },
  { method: "bind-range", group: "", name: "bindRange", access: "write" },
  { method: "check-dependencies", group: "", name: "checkDependencies", access: "read" },
  { method: "clear-bindings", group: "", name: "clearBindings", access: "write" },
  {
    method: "clear-callbacks",
    group: "",
    name: "clearCallbacks",
    access: "cleanup",
    everyProfile: true,
  },
  {
    method: "clear-service-interfaces",
    group: "",
    name: "clearServiceInterfaces",
    access: "write",
  },
  {
    method: "export-range-service-interface",
    group: "",
    name: "exportRangeServiceInterface",
    access: "write",
  },
  {
    method: "export-service-interface",
    group: "",
    name: "exportServiceInterface",
    access: "write",
  },
  {
    method: "get-container-ip",
    group: "",
    name: "getContainerIp",
    access: "read",
    callback: true,
  },
  { method: "get-data-version", group: "", name: "getDataVersion", access: "read", noArgs: true },
  { method: "get-dependencies", group: "", name: "getDependencies", access: "read", noArgs: true },
  { method: "get-host-info", group: "", name: "getHostInfo", access: "read", callback: true },
  {
    method: "get-installed-packages",
    group: "",
    name: "getInstalledPackages",
    access: "read",
    noArgs: true,
  },
  { method: "get-os-ip", group: "", name: "getOsIp", access: "read", noArgs: true },
  {
    method: "get-outbound-gateway",
    group: "",
    name: "getOutboundGateway",
    access: "read",
    callback: true,
  },
  {
    method: "get-service-interface",
    group: "",
    name: "getServiceInterface",
    access: "read",
    callback: true,
  },
  {
    method: "get-service-manifest",
    group: "",
    name: "getServiceManifest",
    access: "read",
    callback: true,
  },
  { method: "get-service-port-forward", group: "", name: "getServicePortForward", access: "read" },
  {
    method: "get-ssl-certificate",
    group: "",
    name: "getSslCertificate",
    access: "read",
    callback: true,
  },
  { method: "get-ssl-key", group: "", name: "getSslKey", access: "secret" },
  { method: "get-status", group: "", name: "getStatus", access: "read", callback: true },
  {
    method: "get-system-smtp",
    group: "",
    name: "getSystemSmtp",
    access: "secret",
    callback: true,
  },
  {
    method: "list-service-interfaces",
    group: "",
    name: "listServiceInterfaces",
    access: "read",
    callback: true,
  },
  { method: "mount", group: "", name: "mount", access: "write" },
  { method: "restart", group: "", name: "restart", access: "write", noArgs: true },
  { method: "set-backup-progress", group: "", name: "setBackupProgress", access: "write" },
  { method: "set-data-version", group: "", name: "setDataVersion", access: "write" },
  { method: "set-dependencies", group: "", name: "setDependencies", access: "write" },
  { method: "set-health", group: "", name: "setHealth", access: "write" },
  { method: "set-init-progress", group: "", name: "setInitProgress", access: "write" },
  { method: "set-main-status", group: "", name: "setMainStatus", access: "write" },
  { method: "shutdown", group: "", name: "shutdown", access: "write", noArgs: true },
  { method: "action.export", group: "action", name: "export", access: "write" },
  { method: "action.clear", group: "action", name: "clear", access: "write" },
  { method: "action.get-input", group: "action", name: "getInput", access: "write" },
  { method: "action.run", group: "action", name: "run", access: "write" },
  { method: "action.create-task", group: "action", name: "createTask", access: "write" },
  { method: "action.clear-tasks", group: "action", name: "clearTasks", access: "write" },
  { method: "notification.create", group: "notification", name: "create", access: "write" },
  { method: "subcontainer.create-fs", group: "subcontainer", name: "createFs", access: "scratch" },
  {
    method: "subcontainer.destroy-fs",
    group: "subcontainer",
    name: "destroyFs",
    access: "cleanup",
  },
  { method: "plugin.url.register", group: "plugin.url", name: "register", access: "write" },
  { method: "plugin.url.export-url", group: "plugin.url", name: "exportUrl", access: "write" },
  { method: "plugin.url.clear-urls", group: "plugin.url", name: "clearUrls", access: "write" },
] as const satisfies readonly EffectSpec[];

/** One entry of {@linkcode EFFECTS}, with its literal types. */
export type EffectEntry = (typeof EFFECTS)[number];

/** Every wire method name in the table: `"get-status" | "action.get-input" | ...`. */
export type EffectMethod = EffectEntry["method"];

/** Every group path in the table: `"" | "action" | "plugin.url" | ...`. */
export type EffectGroup = EffectEntry["group"];

const BY_METHOD: ReadonlyMap<string, EffectSpec> = new Map(
  EFFECTS.map((entry): [string, EffectSpec] => [entry.method, entry]),
);

/**
 * The table's entry for a wire method.
 * @param method A wire method name (`"get-status"`, `"action.get-input"`).
 * @returns Its entry, or `undefined` for a method the table does not have.
 */
export function effectSpec(method: string): EffectSpec | undefined {
  return BY_METHOD.get(method);
}

/**
 * Whether a wire method is in the table.
 * @param method Any string.
 * @returns True for the table's methods only.
 */
export function isEffectMethod(method: string): method is EffectMethod {
  return BY_METHOD.has(method);
}

/** camelCase → kebab-case. */
const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

/**
 * The wire name of an effect from its group and camelCase name.
 * @param group The group path ("" = top level).
 * @param name The camelCase member name.
 * @returns `group.kebab-name`, or `kebab-name` at the top level.
 */
export const wireName = (group: string, name: string): string =>
  group === "" ? kebab(name) : `${group}.${kebab(name)}`;

/** Every effect method name, in table order, for tests and the broker. */
export const EFFECT_METHODS: readonly EffectMethod[] = Object.freeze(
  EFFECTS.map((entry) => entry.method),
);

/** Effects whose options may carry a `callback` function (derived from the table). */
export const CALLBACK_EFFECTS: ReadonlySet<string> = new Set(
  EFFECTS.filter((entry: EffectSpec) => entry.callback === true).map((entry) => entry.method),
);
