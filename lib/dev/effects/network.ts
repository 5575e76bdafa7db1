/** Network effects: bindings, host info, port forwards, addresses and TLS material. */

import { z } from "zod";
import { json, port } from "../shapes.ts";
import type { DevState } from "../state.ts";
import {
  defineEffect,
  type EffectContext,
  type EffectHandlers,
  notInstalled,
  sameJson,
} from "./define.ts";

/** The container's address on the dev host's pretend bridge. */
export const CONTAINER_IP = "10.0.3.2";
/** StartOS's address on that bridge. */
export const OS_IP = "10.0.3.1";
/** The outbound gateway every service uses here. */
export const OUTBOUND_GATEWAY = "eth0";
/** The server's pretend LAN address: what a binding's addresses name besides `<package>.local`. */
export const LAN_IP = "192.168.1.10";

/** A binding as the dev state keeps it. */
type Binding = DevState["hosts"][string]["bindings"][string];

/**
 * A binding as start-core 2.x's `BindInfo` has it: the stored one, its addresses (the pretend LAN
 * address on the assigned port, `<package>.local` on the TLS port when there is one, else on the
 * same port) and the service interfaces exported on it, by id. start-sdk's `fillHost` reads both
 * for `sdk.host.getOwn`/`get` and every interface's URLs.
 */
function bindInfo(state: DevState, hostId: string, internal: string, binding: Binding) {
  const { assignedPort, assignedSslPort } = binding.net;
  const available = [];
  if (assignedPort !== null) {
    available.push({
      ssl: false,
      public: false,
      hostname: LAN_IP,
      port: assignedPort,
      metadata: { kind: "ipv4", gateway: OUTBOUND_GATEWAY },
    });
  }
  if (assignedSslPort !== null || assignedPort !== null) {
    available.push({
      ssl: assignedSslPort !== null,
      public: false,
      hostname: `${state.packageId}.local`,
      port: assignedSslPort ?? assignedPort,
      metadata: { kind: "mdns", gateways: [OUTBOUND_GATEWAY] },
    });
  }
  const interfaces = Object.fromEntries(
    Object.entries(state.serviceInterfaces).filter(([, iface]) =>
      iface.addressInfo.hostId === hostId && String(iface.addressInfo.internalPort) === internal
    ),
  );
  return {
    ...binding,
    addresses: { enabled: [], disabled: [], guaWan: [], available },
    interfaces,
  };
}

/** The topic `get-host-info` callbacks watch. */
export const hostTopic = (packageId: string, hostId: string): string =>
  `host:${packageId}:${hostId}`;

const packageParam = { packageId: z.string().optional() };

function ownHost(context: EffectContext, hostId: string) {
  return context.state.hosts[hostId] ??= { bindings: {}, bindingRanges: {} };
}

/** The external port a binding gets: the preferred one unless another binding has it. */
function assignPort(state: DevState, preferred: number, self: string): number {
  const taken = new Set<number>();
  for (const [hostId, host] of Object.entries(state.hosts)) {
    for (const [internal, binding] of Object.entries(host.bindings)) {
      if (`${hostId}:${internal}` !== self && binding.net.assignedPort !== null) {
        taken.add(binding.net.assignedPort);
      }
    }
  }
  let candidate = preferred;
  while (taken.has(candidate)) candidate = candidate >= 65535 ? 1024 : candidate + 1;
  return candidate;
}

/** A fake PEM block, labelled as such, so nobody mistakes it for a real key or certificate. */
function fakePem(label: string, subject: string): string {
  const body = btoa(
    `startos-deno-runtime dev host: not a real ${label.toLowerCase()} for ${subject}`,
  );
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const tlsParams = z.object({
  hostnames: z.array(z.string()).min(1),
  algorithm: z.enum(["ecdsa", "ed25519"]).optional(),
});

/** The network effects by method name. */
export const NETWORK_EFFECTS = {
  bind: defineEffect({
    params: z.object({
      id: z.string().min(1),
      internalPort: port,
      preferredExternalPort: port,
      addSsl: z.looseObject({ preferredExternalPort: port }).nullable(),
      secure: json.nullable(),
    }),
    run: (params, context) => {
      const self = `${params.id}:${params.internalPort}`;
      const ssl = params.addSsl;
      const binding = {
        enabled: true,
        options: {
          preferredExternalPort: params.preferredExternalPort,
          addSsl: ssl === null ? null : json.parse(ssl),
          secure: params.secure,
        },
        net: {
          assignedPort: assignPort(context.state, params.preferredExternalPort, self),
          assignedSslPort: ssl ? assignPort(context.state, ssl.preferredExternalPort, self) : null,
        },
      };
      const host = ownHost(context, params.id);
      if (!sameJson(host.bindings[params.internalPort], binding)) {
        host.bindings[params.internalPort] = binding;
        context.update(hostTopic(context.state.packageId, params.id));
      }
      return null;
    },
  }),
  "bind-range": defineEffect({
    params: z.object({
      id: z.string().min(1),
      internalStartPort: port,
      externalStartPort: port,
      numberOfPorts: z.number().int().min(1).max(500),
    }),
    run: (params, context) => {
      const host = ownHost(context, params.id);
      host.bindingRanges[params.internalStartPort] = {
        externalStartPort: params.externalStartPort,
        numberOfPorts: params.numberOfPorts,
        interface: null,
      };
      context.update(hostTopic(context.state.packageId, params.id));
      return null;
    },
  }),
  "clear-bindings": defineEffect({
    params: z.object({ except: z.array(z.object({ id: z.string(), internalPort: port })) }),
    run: ({ except }, context) => {
      const keep = new Set(except.map((b) => `${b.id}:${b.internalPort}`));
      for (const [hostId, host] of Object.entries(context.state.hosts)) {
        for (const internal of Object.keys(host.bindings)) {
          if (keep.has(`${hostId}:${internal}`)) continue;
          delete host.bindings[internal];
          context.update(hostTopic(context.state.packageId, hostId));
        }
      }
      return null;
    },
  }),
  "get-host-info": defineEffect({
    params: z.object({ ...packageParam, hostId: z.string() }),
    watch: (params, { state }) => hostTopic(params.packageId ?? state.packageId, params.hostId),
    run: (params, { state }) => {
      if ((params.packageId ?? state.packageId) !== state.packageId) return null;
      const host = state.hosts[params.hostId];
      if (!host) return null;
      const bindings = Object.fromEntries(
        Object.entries(host.bindings).map((
          [internal, binding],
        ) => [internal, bindInfo(state, params.hostId, internal, binding)]),
      );
      return {
        bindings,
        bindingRanges: host.bindingRanges,
        publicDomains: {},
        privateDomains: {},
        portForwards: [],
      };
    },
  }),
  "get-service-port-forward": defineEffect({
    params: z.object({ ...packageParam, hostId: z.string(), internalPort: port }),
    run: (params, { state }) => {
      const id = params.packageId ?? state.packageId;
      if (id !== state.packageId) throw notInstalled(id, state);
      const binding = state.hosts[params.hostId]?.bindings[params.internalPort];
      return binding?.net ?? { assignedPort: null, assignedSslPort: null };
    },
  }),
  "get-container-ip": defineEffect({
    params: z.object(packageParam),
    watch: (params, { state }) => `container-ip:${params.packageId ?? state.packageId}`,
    // Another package (a dependency) is not installed here: it has no address.
    run: (params, { state }) =>
      (params.packageId ?? state.packageId) === state.packageId ? CONTAINER_IP : null,
  }),
  "get-os-ip": defineEffect({ params: z.object({}), run: () => OS_IP }),
  "get-outbound-gateway": defineEffect({
    params: z.object({}),
    watch: () => "outbound-gateway",
    run: () => OUTBOUND_GATEWAY,
  }),
  "get-ssl-certificate": defineEffect({
    params: tlsParams,
    watch: ({ hostnames }) => `ssl:${hostnames.join(",")}`,
    run: ({ hostnames }) => [
      fakePem("CERTIFICATE", hostnames.join(", ")),
      fakePem("CERTIFICATE", "the dev intermediate CA"),
      fakePem("CERTIFICATE", "the dev root CA"),
    ],
  }),
  "get-ssl-key": defineEffect({
    params: tlsParams,
    run: ({ hostnames }) => fakePem("PRIVATE KEY", hostnames.join(", ")),
  }),
} satisfies EffectHandlers;
