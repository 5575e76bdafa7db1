/**
 * The effect catalogue: every effect method of start-core the runtime forwards, in the SDK's
 * groups, with which take a callback and which take no argument. Shared by the child (which builds
 * the SDK-shaped `effects` object from it) and the runtime (which checks calls against it).
 */

/** Effect names (camelCase) by group path ("" = top level). */
export const EFFECT_TREE: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["", [
    "bind",
    "bindRange",
    "checkDependencies",
    "clearBindings",
    "clearCallbacks",
    "clearServiceInterfaces",
    "exportRangeServiceInterface",
    "exportServiceInterface",
    "getContainerIp",
    "getDataVersion",
    "getDependencies",
    "getHostInfo",
    "getInstalledPackages",
    "getOsIp",
    "getOutboundGateway",
    "getServiceInterface",
    "getServiceManifest",
    "getServicePortForward",
    "getSslCertificate",
    "getSslKey",
    "getStatus",
    "getSystemSmtp",
    "listServiceInterfaces",
    "mount",
    "restart",
    "setBackupProgress",
    "setDataVersion",
    "setDependencies",
    "setHealth",
    "setInitProgress",
    "setMainStatus",
    "shutdown",
  ]],
  ["action", ["export", "clear", "getInput", "run", "createTask", "clearTasks"]],
  ["notification", ["create"]],
  ["subcontainer", ["createFs", "destroyFs"]],
  ["plugin.url", ["register", "exportUrl", "clearUrls"]],
];

/** Effects the SDK types without an argument: always sent with `{}`. */
export const NO_ARGS = new Set([
  "restart",
  "shutdown",
  "get-dependencies",
  "get-installed-packages",
  "get-os-ip",
  "get-data-version",
]);

/** Effects whose options may carry a `callback` function. */
export const CALLBACK_EFFECTS: ReadonlySet<string> = new Set([
  "get-container-ip",
  "get-host-info",
  "get-outbound-gateway",
  "get-service-interface",
  "get-service-manifest",
  "get-ssl-certificate",
  "get-status",
  "get-system-smtp",
  "list-service-interfaces",
]);

/** camelCase → kebab-case. */
const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
/** The wire name of an effect: `group.kebab-name`, or `kebab-name` at the top level. */
export const wireName = (group: string, name: string): string =>
  group === "" ? kebab(name) : `${group}.${kebab(name)}`;

/** Every effect method name this object can send, for tests and allowlists. */
export const EFFECT_METHODS: readonly string[] = Object.freeze(
  EFFECT_TREE.flatMap(([group, names]) => names.map((name) => wireName(group, name))),
);
