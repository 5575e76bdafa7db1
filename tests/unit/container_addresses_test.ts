/**
 * The container's own addresses (lib/process/container_addresses.ts) and how they reach the
 * profiles' net grants (`${container}`, lib/policy/permissions.ts).
 */

import assert from "node:assert/strict";
import {
  containerAddresses,
  formatIpv6,
  readContainerAddresses,
} from "../../lib/process/container_addresses.ts";
import {
  CONTAINER_ADDRESSES,
  defaultProfiles,
  denoPermissionArgs,
  PROFILE_NAMES,
} from "../../lib/policy/permissions.ts";
import { defaultPolicy, withOwnAddresses } from "../../lib/policy/policy.ts";
import { parsePolicy } from "../../lib/policy/policy_file.ts";

/** `/proc/net/fib_trie` of an LXC container at 10.0.3.2 (both tables, as the kernel prints). */
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.3.0/24 2 0 2
        +-- 10.0.3.0/30 2 0 2
           |-- 10.0.3.0
              /24 link UNICAST
           |-- 10.0.3.2
              /32 host LOCAL
        |-- 10.0.3.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     +-- 10.0.3.0/24 2 0 2
           |-- 10.0.3.2
              /32 host LOCAL
`;

/** `/proc/net/if_inet6`: a global, a unique-local, a link-local and the loopback address. */
const IF_INET6 = `20010db8000000000000000000000002 04 40 00 80     eth0
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
`;

Deno.test("containerAddresses lists the container's addresses, not loopback or link-local", () => {
  assert.deepEqual(containerAddresses(FIB_TRIE, IF_INET6), [
    "10.0.3.2",
    "[2001:db8::2]",
    "[fd00::2]",
  ]);
  assert.deepEqual(containerAddresses("", ""), []);
});

Deno.test("formatIpv6 writes RFC 5952 form", () => {
  assert.equal(formatIpv6("00000000000000000000000000000001"), "::1");
  assert.equal(formatIpv6("00000000000000000000000000000000"), "::");
  assert.equal(formatIpv6("20010db8000000000001000000000001"), "2001:db8::1:0:0:1");
  assert.equal(formatIpv6("20010db8000100000000000000000000"), "2001:db8:1::");
  // A single zero group is not shortened.
  assert.equal(formatIpv6("20010db8000000010001000100010001"), "2001:db8:0:1:1:1:1:1");
});

Deno.test("readContainerAddresses finds this machine's own addresses", async () => {
  const addresses = await readContainerAddresses();
  const mine = Deno.networkInterfaces()
    .filter((i) => i.family === "IPv4" && !i.address.startsWith("127."))
    .map((i) => i.address);
  for (const address of mine) assert.ok(addresses.includes(address), `${address}: ${addresses}`);
});

Deno.test("${container} becomes the container's addresses in every net list; none: dropped", () => {
  const vars = { package: "/pkg", root: "/media/startos" };
  const policy = withOwnAddresses(defaultPolicy(vars), ["10.0.3.2", "[fd00::2]"]);
  assert.deepEqual(policy.profiles.run.net, [
    "127.0.0.0/8",
    "localhost",
    "[::1]",
    "10.0.3.2",
    "[fd00::2]",
  ]);
  assert.deepEqual((policy.profiles.main.net as string[]).slice(-2), ["10.0.3.2", "[fd00::2]"]);
  assert.deepEqual(policy.profiles.getInput.net, policy.profiles.run.net);
  // The defaults are not changed by it.
  assert.ok((defaultProfiles(vars).run.net as string[]).includes(CONTAINER_ADDRESSES));
  const none = withOwnAddresses(defaultPolicy(vars), []);
  for (const name of PROFILE_NAMES) {
    const net = none.profiles[name].net;
    assert.ok(!Array.isArray(net) || !net.includes(CONTAINER_ADDRESSES), name);
  }
  // A list that was never replaced grants no address for it.
  const argv = denoPermissionArgs(defaultProfiles(vars).init, "/run/c.sock", () => null);
  assert.ok(
    argv.includes("--allow-net=unix:/run/c.sock,127.0.0.0/8,localhost,[::1]"),
    argv.join(" "),
  );
});

Deno.test("a policy may name ${container} in a net list", () => {
  const text = `{ "profiles": { "run": { "net": ["\${container}", "api.example.com:443"] } } }`;
  const policy = parsePolicy(text, "inline", { package: "/pkg", root: "/media/startos" });
  assert.deepEqual(withOwnAddresses(policy, ["10.0.3.2"]).profiles.run.net, [
    "10.0.3.2",
    "api.example.com:443",
  ]);
});
