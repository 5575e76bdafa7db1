/** Test helper: FakeHost handlers answering the effects an SDK package needs with believable values. */

import { ErrorKind } from "../../lib/protocol/error_codes.ts";
import { type FakeHost, RpcError } from "./fake_host.ts";

/** What the believable host remembers between effects. */
export interface SdkHostState {
  /** The stored data version (`get-data-version` answers it, `set-data-version` replaces it). */
  dataVersion: string | null;
  /** Every `set-data-version` value, in order. */
  dataVersions: (string | null)[];
  containerIp: string;
  /** Subcontainer filesystems that exist now, by guid (made by `subcontainer.create-fs`). */
  subcontainers: Map<string, SubcontainerFs>;
  /** Every subcontainer filesystem made so far, in order (destroyed ones included). */
  subcontainersMade: SubcontainerFs[];
  /** The last `set-health` per health check id. */
  health: Record<string, Record<string, unknown>>;
  /** `bind` params per host id and internal port. */
  binds: Record<string, Record<number, Record<string, unknown>>>;
}

/** A subcontainer filesystem the host made. */
export interface SubcontainerFs {
  guid: string;
  /** The `eventId` of the `create-fs` call (absent for main). */
  eventId?: string;
  imageId: string;
  name: string | null;
  /** Its directory as the test sees it (under the temp root). */
  path: string;
  /** Its directory as the runtime sees it (what `create-fs` answered). */
  rootfs: string;
}

/** Where `installSdkHandlers` makes subcontainer filesystems. */
export interface SubcontainerRoots {
  /** The root directory as the test sees it (a temp dir). */
  root: string;
  /** The same directory as the runtime sees it (`/media/startos` inside its namespace). */
  rootSeenByRuntime: string;
}

/** A host record as `get-host-info` returns it for the bound multi-host (start-core `Host`). */
function hostInfo(): Record<string, unknown> {
  return {
    bindings: {
      "8080": {
        enabled: true,
        options: {
          preferredExternalPort: 80,
          addSsl: {
            addXForwardedHeaders: true,
            preferredExternalPort: 443,
            scheme: "https",
            alpn: { specified: ["http/1.1"] },
            auth: null,
          },
          secure: null,
        },
        net: { assignedPort: 80, assignedSslPort: 443 },
        addresses: { enabled: [], disabled: [], guaWan: [], available: [] },
        interfaces: {},
      },
    },
    bindingRanges: {},
    publicDomains: {},
    privateDomains: {},
    portForwards: [],
  };
}

/** A `Host` record built from what the package bound on `hostId` (start-core `Host`). */
function boundHostInfo(binds: Record<number, Record<string, unknown>>): Record<string, unknown> {
  const bindings: Record<string, unknown> = {};
  for (const [port, params] of Object.entries(binds)) {
    const addSsl = (params.addSsl ?? null) as { preferredExternalPort?: number } | null;
    bindings[port] = {
      enabled: true,
      options: {
        preferredExternalPort: params.preferredExternalPort,
        addSsl,
        secure: params.secure ?? null,
      },
      net: {
        assignedPort: params.preferredExternalPort ?? null,
        assignedSslPort: addSsl?.preferredExternalPort ?? null,
      },
      addresses: { enabled: [], disabled: [], guaWan: [], available: [] },
      interfaces: {},
    };
  }
  return { bindings, bindingRanges: {}, publicDomains: {}, privateDomains: {}, portForwards: [] };
}

/**
 * Installs believable handlers on `host` and returns the state they share. With `roots`, the
 * host also makes subcontainer filesystems: `subcontainer.create-fs` creates
 * `<root>/subcontainers/<guid>` and answers `[<rootSeenByRuntime>/subcontainers/<guid>, guid]`;
 * `subcontainer.destroy-fs` removes a directory it made (and nothing else).
 */
export function installSdkHandlers(
  host: FakeHost,
  initial: Partial<SdkHostState> = {},
  roots?: SubcontainerRoots,
): SdkHostState {
  const state: SdkHostState = {
    dataVersion: null,
    dataVersions: [],
    containerIp: "10.0.3.42",
    subcontainers: new Map(),
    subcontainersMade: [],
    health: {},
    binds: {},
    ...initial,
  };
  const h = host.handlers;
  h.set("get-data-version", () => state.dataVersion);
  h.set("set-data-version", (p) => {
    const version = (p.version ?? null) as string | null;
    state.dataVersion = version;
    state.dataVersions.push(version);
    return null;
  });
  h.set("get-container-ip", () => state.containerIp);
  h.set("get-os-ip", () => "192.168.1.10");
  h.set("bind", (p) => {
    const id = String(p.id);
    (state.binds[id] ??= {})[Number(p.internalPort)] = p;
    return null;
  });
  h.set("get-host-info", (p) => {
    if (p.hostId === "ui-multi") return hostInfo();
    const binds = state.binds[String(p.hostId)];
    return binds ? boundHostInfo(binds) : null;
  });
  h.set("set-health", (p) => {
    state.health[String(p.id)] = p;
    return null;
  });
  h.set("get-service-interface", (p) => ({
    id: p.serviceInterfaceId ?? "ui",
    name: "Web UI",
    description: "The web interface",
    masked: false,
    addressInfo: {
      username: null,
      hostId: "ui-multi",
      internalPort: 8080,
      scheme: "http",
      sslScheme: "https",
      suffix: "",
    },
    type: "ui",
  }));
  h.set("list-service-interfaces", () => ({}));
  h.set("get-status", () => ({
    health: state.health,
    error: null,
    started: new Date(0).toISOString(),
    desired: { main: "running" },
  }));
  h.set("get-installed-packages", () => []);
  h.set("get-dependencies", () => []);
  h.set("check-dependencies", () => []);
  if (roots) installSubcontainerHandlers(host, state, roots);
  return state;
}

/** `subcontainer.create-fs` / `destroy-fs` on directories under `roots.root/subcontainers`. */
function installSubcontainerHandlers(
  host: FakeHost,
  state: SdkHostState,
  roots: SubcontainerRoots,
): void {
  host.handlers.set("subcontainer.create-fs", async (p) => {
    if (typeof p.imageId !== "string" || !/^[a-z0-9][a-z0-9-]*$/.test(p.imageId)) {
      throw new RpcError(ErrorKind.Deserialization, "create-fs: imageId must be an image id");
    }
    try {
      await Deno.stat(`${roots.root}/images/${p.imageId}.json`);
    } catch {
      throw new RpcError(ErrorKind.NotFound, `create-fs: no image ${p.imageId}`);
    }
    const guid = crypto.randomUUID();
    const path = `${roots.root}/subcontainers/${guid}`;
    await Deno.mkdir(path, { recursive: true });
    const rootfs = `${roots.rootSeenByRuntime}/subcontainers/${guid}`;
    const name = typeof p.name === "string" ? p.name : null;
    const fs: SubcontainerFs = { guid, imageId: p.imageId, name, path, rootfs };
    if (typeof p.eventId === "string") fs.eventId = p.eventId;
    state.subcontainers.set(guid, fs);
    state.subcontainersMade.push(fs);
    return [rootfs, guid];
  });
  host.handlers.set("subcontainer.destroy-fs", async (p) => {
    const guid = String(p.guid);
    const fs = state.subcontainers.get(guid);
    if (!fs) throw new RpcError(ErrorKind.NotFound, `destroy-fs: no subcontainer ${guid}`);
    state.subcontainers.delete(guid);
    // Seen from the test's mount namespace nothing is mounted below it (the runtime's `mount`
    // is a fake, and its namespace's mounts are not visible here): a plain recursive remove,
    // which does not follow symlinks, removes only what the host made.
    await Deno.remove(fs.path, { recursive: true });
    return null;
  });
}
