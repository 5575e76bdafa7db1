/**
 * The container's own IP addresses, for the net grants of the profiles that reach the service's
 * own daemons (`${container}` in a `net` list, see lib/policy/permissions.ts). Runtime side: the
 * service reads them once at startup (lib/service/service.ts).
 *
 * Found once at startup from the kernel's view of the container's network namespace, which the
 * runtime and every child share: the IPv4 addresses the local routing table marks `host LOCAL`
 * (`/proc/net/fib_trie`) and the IPv6 addresses of `/proc/net/if_inet6`. Loopback is left out
 * (the profiles grant `127.0.0.0/8` and `[::1]` by themselves), and so are IPv6 link-local
 * addresses (unreachable without a zone, which a grant cannot name). Deno 2.9 lets only
 * `--allow-all` read /proc and the runtime has no `--allow-sys` (`Deno.networkInterfaces()`), so
 * `cat` (by absolute path, system_programs.ts) reads the two files, as for proc_net.ts.
 * @module
 */

import { readProcFile } from "./system_programs.ts";

/** IPv4 addresses the routing table marks as this host's (`/32 host LOCAL`), in table order. */
export function localIpv4(fibTrie: string): string[] {
  const found: string[] = [];
  let last: string | null = null;
  for (const line of fibTrie.split("\n")) {
    const leaf = /^[\s|+-]*--\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$/.exec(line);
    if (leaf) {
      last = leaf[1];
      continue;
    }
    if (last !== null && /^\s*\/32 host LOCAL\s*$/.test(line) && !found.includes(last)) {
      found.push(last);
    }
  }
  return found;
}

/** One IPv6 address from 32 hex digits, in RFC 5952 form (lowercase, longest zero run as `::`). */
export function formatIpv6(hex: string): string {
  const groups = hex.toLowerCase().match(/.{4}/g)!.map((group) => group.replace(/^0+(?=.)/, ""));
  let best = { start: -1, length: 0 };
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start === -1) return groups.join(":");
  const head = groups.slice(0, best.start).join(":");
  const tail = groups.slice(best.start + best.length).join(":");
  return `${head}::${tail}`;
}

/** The IPv6 addresses of `/proc/net/if_inet6`, without loopback and link-local ones. */
export function localIpv6(ifInet6: string): string[] {
  const found: string[] = [];
  for (const line of ifInet6.split("\n")) {
    const hex = /^([0-9a-fA-F]{32})\s/.exec(line)?.[1];
    if (hex === undefined) continue;
    const address = formatIpv6(hex);
    if (address === "::1" || /^fe[89ab]/.test(address)) continue;
    if (!found.includes(address)) found.push(address);
  }
  return found;
}

/**
 * The container's own addresses as `--allow-net` entries (`10.0.3.2`, `[fd00::2]`).
 * @param fibTrie the text of `/proc/net/fib_trie`
 * @param ifInet6 the text of `/proc/net/if_inet6`
 * @returns IPv4 addresses then bracketed IPv6 ones, loopback and link-local left out
 * @example
 * ```ts
 * containerAddresses("  |-- 10.0.3.2\n     /32 host LOCAL\n", "fd000000000000000000000000000002 04 40 00 80 eth0\n");
 * // ["10.0.3.2", "[fd00::2]"]
 * ```
 */
export function containerAddresses(fibTrie: string, ifInet6: string): string[] {
  const v4 = localIpv4(fibTrie).filter((address) => !address.startsWith("127."));
  return [...v4, ...localIpv6(ifInet6).map((address) => `[${address}]`)];
}

/** The text of a /proc file read by `cat`, or "" when it cannot be read (no IPv6, say). */
function readProc(path: string): Promise<string> {
  return readProcFile(path).catch(() => "");
}

/**
 * Reads the container's own addresses (see {@link containerAddresses}); never throws.
 * @returns the addresses, or an empty list when neither file can be read
 */
export async function readContainerAddresses(): Promise<string[]> {
  const [fibTrie, ifInet6] = await Promise.all([
    readProc("/proc/net/fib_trie"),
    readProc("/proc/net/if_inet6"),
  ]);
  return containerAddresses(fibTrie, ifInet6);
}
