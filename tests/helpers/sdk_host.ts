/** Test helper: FakeHost handlers answering the effects an SDK package needs with believable values. */

import type { FakeHost } from "./fake_host.ts";

/** What the believable host remembers between effects. */
export interface SdkHostState {
  /** The stored data version (`get-data-version` answers it, `set-data-version` replaces it). */
  dataVersion: string | null;
  /** Every `set-data-version` value, in order. */
  dataVersions: (string | null)[];
  containerIp: string;
}

/** A host record as `get-host-info` returns it for the bound multi-host (start-core `Host`). */
function hostInfo() {
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

/** Installs believable handlers on `host` and returns the state they share. */
export function installSdkHandlers(
  host: FakeHost,
  initial: Partial<SdkHostState> = {},
): SdkHostState {
  const state: SdkHostState = {
    dataVersion: null,
    dataVersions: [],
    containerIp: "10.0.3.42",
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
  h.set("get-host-info", (p) => (p.hostId === "ui-multi" ? hostInfo() : null));
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
    health: {},
    error: null,
    started: new Date(0).toISOString(),
    desired: { main: "running" },
  }));
  h.set("get-installed-packages", () => []);
  h.set("get-dependencies", () => []);
  h.set("check-dependencies", () => []);
  return state;
}
