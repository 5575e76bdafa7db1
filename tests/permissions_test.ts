import assert from "node:assert/strict";
import {
  ancestorReadGrants,
  defaultProfiles,
  denoPermissionArgs,
  effectAllowed,
  type Profile,
  PROFILE_NAMES,
} from "../lib/policy/permissions.ts";
import { PolicyError, policyWarnings } from "../lib/policy/policy.ts";
import { loadPolicy, parsePolicy } from "../lib/policy/policy_file.ts";

const VARS = { package: "/pkg/dir", root: "/media/startos" };
const SOCK = "/run/rt/worker.sock";
/** A lister that lists nothing: no directory above the grants is added (tested apart). */
const NONE = () => null;

/** The problems of the PolicyError that `fn` throws. */
function policyProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PolicyError, `expected a PolicyError, got ${error}`);
    return error.problems;
  }
  assert.fail("expected a PolicyError");
}

// ---------------------------------------------------------------------------------------------
// Default profiles → argv

/** The `--allow-sys` kinds every profile gets (what node:os and FileHelper ask for). */
const SYS = [
  "uid",
  "gid",
  "getegid",
  "systemMemoryInfo",
  "cpus",
  "loadavg",
  "hostname",
  "networkInterfaces",
  "osUptime",
  "osRelease",
  "homedir",
  "userInfo",
];
/** Loopback and the container's own addresses (`${container}`, replaced at startup). */
const OWN_NET = ["127.0.0.0/8", "localhost", "[::1]", "${container}"];

Deno.test("default profiles follow the table", () => {
  const p = defaultProfiles(VARS);
  assert.deepEqual(Object.keys(p).sort(), [...PROFILE_NAMES].sort());
  assert.deepEqual(p.init, {
    read: ["/pkg/dir", "/media/startos", "/etc/resolv.conf"],
    write: ["/media/startos/volumes", "/media/startos/subcontainers"],
    // The service's own daemons: init bootstraps through a temporary daemon's HTTP API.
    net: OWN_NET,
    // No program is granted to Deno: the spawn broker runs what SubContainer and Backups need.
    run: false,
    spawn: [
      "subcontainer-launch",
      "subcontainer-exec",
      "bind-mount",
      "rbind-shared",
      "rbind-backup",
      "rsync-restore",
      "file-utilities",
    ],
    env: true,
    sys: SYS,
    effects: "all",
    all: false,
    heapMb: 512,
  });
  // Every profile reaches the service's own daemons; main also the network.
  for (const name of ["run", "getInput", "backup", "sandbox"] as const) {
    assert.deepEqual(p[name].net, OWN_NET, name);
  }
  for (const name of PROFILE_NAMES) assert.deepEqual(p[name].sys, SYS, name);
  // TCP/UDP anywhere by address, service names, and no Unix socket (bare --allow-net covers all).
  assert.deepEqual(p.main.net, [
    "0.0.0.0/0",
    "[::]",
    "[::1]",
    "localhost",
    "*.startos",
    "*.embassy",
    "*.local",
    "*.onion",
    "${container}",
  ]);
  assert.equal(p.main.heapMb, 512);
  assert.equal(p.run.heapMb, 256);
  for (const name of PROFILE_NAMES) assert.equal(p[name].run, false, name);
  const container = ["subcontainer-launch", "subcontainer-exec", "bind-mount", "rbind-shared"];
  // Every profile that writes the volumes may run the file utilities there (migrations).
  assert.deepEqual(p.main.spawn, [...container, "file-utilities"]);
  assert.deepEqual(p.run.spawn, [...container, "file-utilities"]);
  assert.deepEqual(p.main.write, ["/media/startos/volumes", "/media/startos/subcontainers"]);
  assert.deepEqual(p.run.write, p.main.write);
  assert.deepEqual(p.backup.write, [
    "/media/startos/volumes",
    "/media/startos/backup",
    "/media/startos/subcontainers",
  ]);
  assert.deepEqual(p.backup.spawn, [
    ...container,
    "rbind-backup",
    "rsync-backup",
    "file-utilities",
  ]);
  // getInput runs read commands in subcontainers: volumes mounted read-only, mount points only.
  assert.deepEqual(p.getInput, {
    read: ["/pkg/dir", "/media/startos", "/etc/resolv.conf"],
    write: ["/media/startos/subcontainers"],
    net: OWN_NET,
    run: false,
    spawn: ["subcontainer-launch", "subcontainer-exec", "bind-mount-read-only", "rbind-shared"],
    env: true,
    sys: SYS,
    effects: "read-only",
    all: false,
    heapMb: 256,
  });
  // The sandbox has getInput's grants exactly: its getInput answers what execute's answers.
  assert.deepEqual(p.sandbox, p.getInput);
  assert.deepEqual(defaultProfiles({ package: "/p", root: "/" }).run.write, [
    "/volumes",
    "/subcontainers",
  ]);
  // Profiles share no arrays: a policy that edits one cannot change another.
  p.main.read.push("/x");
  assert.ok(!p.run.read.includes("/x"));
});

Deno.test("denoPermissionArgs: exact argv of the default profiles", () => {
  const p = defaultProfiles(VARS);
  const argv = (name: keyof typeof p) => denoPermissionArgs(p[name], SOCK, NONE);
  const read = `--allow-read=/pkg/dir,/media/startos,/etc/resolv.conf,${SOCK}`;
  const write = `--allow-write=/media/startos/volumes,/media/startos/subcontainers,${SOCK}`;
  const sys = `--allow-sys=${SYS.join(",")}`;
  // `${container}` never reaches Deno: replaced at startup (withContainerAddresses) or dropped.
  const own = `--allow-net=unix:${SOCK},127.0.0.0/8,localhost,[::1]`;
  const base = ["--no-prompt", "--cached-only"];
  assert.deepEqual(argv("run"), [
    ...base,
    read,
    write,
    own,
    "--allow-env",
    sys,
  ]);
  assert.deepEqual(argv("getInput"), [
    ...base,
    read,
    `--allow-write=/media/startos/subcontainers,${SOCK}`,
    own,
    "--allow-env",
    sys,
  ]);
  assert.deepEqual(argv("sandbox"), argv("getInput"));
  assert.deepEqual(argv("init"), [
    ...base,
    read,
    write,
    own,
    "--allow-env",
    sys,
  ]);
  assert.deepEqual(argv("main"), [
    ...base,
    read,
    write,
    `--allow-net=unix:${SOCK},0.0.0.0/0,[::],[::1],localhost,*.startos,*.embassy,*.local,*.onion`,
    "--allow-env",
    sys,
  ]);
  assert.deepEqual(argv("backup"), [
    ...base,
    read,
    `--allow-write=/media/startos/volumes,/media/startos/backup,/media/startos/subcontainers,${SOCK}`,
    own,
    "--allow-env",
    sys,
  ]);
  for (const name of PROFILE_NAMES) {
    for (const arg of argv(name)) {
      assert.ok(
        !["-A", "--allow-all", "--allow-ffi", "--allow-sys", "--allow-import"].some((bad) =>
          arg === bad || arg.startsWith(`${bad}=`) && bad !== "--allow-sys"
        ),
        `${name}: ${arg}`,
      );
    }
  }
});

Deno.test("ancestorReadGrants: the directories above the writes, each alone (other entries denied), never /", () => {
  const tree: Record<string, string[]> = {
    "/media": ["startos"],
    "/srv": ["a", "other"],
    "/srv/a": ["root", "pkg"],
    "/big": ["root", ...Array.from({ length: 33 }, (_, i) => `e${i}`)],
    "/comma": ["root", "a,b"],
  };
  const list = (dir: string) => tree[dir] ?? null;
  const p = defaultProfiles(VARS);
  // In a container /media holds only the root: fs.cp's walk up from a volume may stat it.
  for (const name of PROFILE_NAMES) {
    assert.deepEqual(ancestorReadGrants(p[name], [SOCK], list), { read: ["/media"], deny: [] });
  }
  assert.deepEqual(denoPermissionArgs(p.run, SOCK, list).filter((a) => a.includes("-read")), [
    `--allow-read=/pkg/dir,/media/startos,/etc/resolv.conf,/media,${SOCK}`,
  ]);
  // The dev namespace keeps a stash beside the root: denied, so /media shows nothing else.
  tree["/media"] = ["startos", ".startos-dev"];
  assert.deepEqual(denoPermissionArgs(p.run, SOCK, list).filter((a) => a.includes("-read")), [
    `--allow-read=/pkg/dir,/media/startos,/etc/resolv.conf,/media,${SOCK}`,
    "--deny-read=/media/.startos-dev",
  ]);
  // Up the tree to /, skipping what a read grant covers; an entry that leads to a grant (the
  // package beside the root) is not denied.
  const at = (root: string, ...read: string[]) => ({
    read: [root, ...read],
    write: [`${root}/volumes`],
  });
  assert.deepEqual(ancestorReadGrants(at("/srv/a/root", "/srv/a/pkg"), [], list), {
    read: ["/srv/a", "/srv"],
    deny: ["/srv/other"],
  });
  assert.deepEqual(ancestorReadGrants(at("/srv/a/root"), [], list), {
    read: ["/srv/a", "/srv"],
    deny: ["/srv/a/pkg", "/srv/other"],
  });
  // Not granted: a directory that cannot be listed, a shared one (more than 32 others), a name
  // with a comma; nor anything above it. Never /.
  for (const root of ["/nothing/root", "/big/root", "/comma/root", "/root"]) {
    assert.deepEqual(ancestorReadGrants(at(root), [], list), { read: [], deny: [] }, root);
  }
  assert.deepEqual(ancestorReadGrants({ read: [], write: [] }, [], list), { read: [], deny: [] });
});

Deno.test("denoPermissionArgs: all: true is --allow-all and nothing else", () => {
  const p = defaultProfiles(VARS);
  assert.deepEqual(denoPermissionArgs({ ...p.sandbox, all: true }, SOCK), [
    "--no-prompt",
    "--cached-only",
    "--allow-all",
  ]);
});

Deno.test("denoPermissionArgs: lists, booleans, dedupe and empty lists", () => {
  const profile: Profile = {
    read: [SOCK, "/a"],
    write: ["/a", "/a"],
    net: ["api.example.com:443", "10.0.0.1"],
    run: true,
    spawn: [],
    env: ["HOME", "FOO_*"],
    sys: true,
    effects: "all",
    all: false,
    heapMb: 256,
  };
  assert.deepEqual(denoPermissionArgs(profile, SOCK, NONE), [
    "--no-prompt",
    "--cached-only",
    `--allow-read=${SOCK},/a`,
    `--allow-write=/a,${SOCK}`,
    `--allow-net=unix:${SOCK},api.example.com:443,10.0.0.1`,
    "--allow-run",
    "--allow-env=HOME,FOO_*",
    "--allow-sys",
  ]);
  // Deno refuses to start on `--allow-run=` / `--allow-env=`: empty lists mean no flag.
  const none = denoPermissionArgs({ ...profile, net: [], run: [], env: [], sys: [] }, SOCK, NONE);
  assert.ok(none.includes(`--allow-net=unix:${SOCK}`));
  assert.ok(
    !none.some((arg) =>
      ["--allow-run", "--allow-env", "--allow-sys"].some((f) => arg.startsWith(f))
    ),
  );
});

Deno.test("denoPermissionArgs rejects what Deno's flags cannot express", () => {
  const base = defaultProfiles(VARS).run;
  assert.throws(() => denoPermissionArgs({ ...base, read: ["/a,b"] }, SOCK), /comma/);
  assert.throws(() => denoPermissionArgs({ ...base, write: ["/x/a,b"] }, SOCK), /comma/);
  assert.throws(() => denoPermissionArgs(base, "/run/a,b.sock"), /comma/);
  assert.throws(() => denoPermissionArgs({ ...base, read: ["relative"] }, SOCK), /absolute/);
  assert.throws(() => denoPermissionArgs({ ...base, run: ["a,b"] }, SOCK), /comma/);
  assert.throws(() => denoPermissionArgs({ ...base, run: [""] }, SOCK), /empty/);
  assert.throws(() => denoPermissionArgs({ ...base, net: ["a.com,b.com"] }, SOCK), /comma/);
  assert.throws(() => denoPermissionArgs({ ...base, env: ["A=B"] }, SOCK), /=/);
  assert.throws(() => denoPermissionArgs({ ...base, sys: ["uidd"] }, SOCK), /unknown/);
});

// ---------------------------------------------------------------------------------------------
// Effect allowlists

Deno.test("effectAllowed: read-only, secrets, all", () => {
  const readOnly = [
    "get-status",
    "list-service-interfaces",
    "check-dependencies",
  ];
  // action.get-input reads by its name but makes the host run another package's code.
  const writes = [
    "set-health",
    "bind",
    "restart",
    "action.run",
    "set-main-status",
    "action.get-input",
  ];
  for (const method of [...readOnly, "get-ssl-key", ...writes, "clear-callbacks"]) {
    assert.equal(effectAllowed("all", method), true, method);
  }
  for (const method of [...readOnly, "get-ssl-key", "get-system-smtp"]) {
    assert.equal(effectAllowed("read-only", method), true, method);
  }
  for (const method of readOnly) {
    assert.equal(effectAllowed("read-only-no-secrets", method), true, method);
  }
  for (const method of ["get-ssl-key", "get-system-smtp"]) {
    assert.equal(effectAllowed("read-only-no-secrets", method), false, method);
  }
  for (const method of writes) {
    assert.equal(effectAllowed("read-only", method), false, method);
    assert.equal(effectAllowed("read-only-no-secrets", method), false, method);
  }
  // The runtime clears callbacks itself, whatever the profile.
  assert.equal(effectAllowed("read-only", "clear-callbacks"), true);
  assert.equal(effectAllowed("read-only-no-secrets", "clear-callbacks"), true);
  // Look-alikes are not read-only.
  assert.equal(effectAllowed("read-only", "target-get-status"), false);
  assert.equal(effectAllowed("read-only", "forget-status"), false);
});

// ---------------------------------------------------------------------------------------------
// Policy parsing

Deno.test("parsePolicy: empty object gives the defaults and default pools", () => {
  const policy = parsePolicy("{}", "p.jsonc", VARS);
  assert.deepEqual(policy.profiles, defaultProfiles(VARS));
  // Nothing idle by default: no warm children; children are reused while healthy.
  assert.deepEqual(policy.pool, { init: 0, main: 0, run: 0, getInput: 0, backup: 0, sandbox: 0 });
  assert.deepEqual(policy.children, {
    reuse: true,
    maxPerProfile: 2,
    idleMs: 5000,
    maxCalls: 1000,
    maxAgeMs: 600000,
  });
});

Deno.test("parsePolicy: comments, trailing commas and partial overrides", () => {
  const text = `{
    // each profile key is optional
    "profiles": {
      "run": { "net": ["api.example.com:443",], "run": ["start-container", "mount", "curl"], },
      /* block comment */
      "sandbox": { "read": ["\${package}", "\${root}/volumes/shared/"] },
      "getInput": { "effects": "read-only-no-secrets", "env": ["LANG"] },
    },
    "pool": { "run": 2, },
    "children": { "reuse": false, "idleMs": 100 },
  }`;
  const policy = parsePolicy(text, "p.jsonc", VARS);
  const defaults = defaultProfiles(VARS);
  assert.deepEqual(policy.profiles.run, {
    ...defaults.run,
    net: ["api.example.com:443"],
    run: ["start-container", "mount", "curl"],
  });
  assert.deepEqual(policy.profiles.sandbox, {
    ...defaults.sandbox,
    read: ["/pkg/dir", "/media/startos/volumes/shared"],
  });
  assert.deepEqual(policy.profiles.getInput, {
    ...defaults.getInput,
    effects: "read-only-no-secrets",
    env: ["LANG"],
  });
  assert.deepEqual(policy.profiles.main, defaults.main);
  assert.deepEqual(policy.pool, { init: 0, main: 0, run: 2, getInput: 0, backup: 0, sandbox: 0 });
  assert.deepEqual(policy.children, {
    reuse: false,
    maxPerProfile: 2,
    idleMs: 100,
    maxCalls: 1000,
    maxAgeMs: 600000,
  });
});

Deno.test("parsePolicy: sys, all and children are checked; all: true is warned about", () => {
  const text = `{
    "profiles": { "run": { "sys": ["uid", "uidd"], "all": 1 }, "main": { "all": true } },
    "children": { "reuse": "yes", "maxPerProfile": 0, "idleMs": -1, "extra": 1 },
  }`;
  assert.deepEqual(policyProblems(() => parsePolicy(text, "f", VARS)), [
    `f: profiles.run.sys[1]: "uidd": not a kind Deno's --allow-sys knows (hostname, osRelease, ` +
    "osUptime, loadavg, networkInterfaces, systemMemoryInfo, uid, gid, cpus, homedir, getegid, " +
    "username, statfs, getPriority, setPriority, userInfo)",
    "f: profiles.run.all: expected true or false",
    "f: children.reuse: expected true or false",
    "f: children.maxPerProfile: must be 1..64",
    "f: children.idleMs: must be 0..86400000",
    "f: children.extra: unknown key",
  ]);
  const policy = parsePolicy(`{"profiles": {"main": {"all": true}}}`, "f", VARS);
  assert.equal(policy.profiles.main.all, true);
  assert.deepEqual(policyWarnings(policy), [
    `the policy gives the main profile all permissions ("all": true): its package code runs ` +
    "with --allow-all, unconfined by the profile's grants",
  ]);
  assert.deepEqual(policyWarnings(parsePolicy("{}", "f", VARS)), []);
});

Deno.test("parsePolicy: unknown keys and unknown profiles name the key path", () => {
  assert.deepEqual(
    policyProblems(() =>
      parsePolicy(`{"profiles": {"run": {"nett": true}}}`, "/etc/p.jsonc", VARS)
    ),
    ["/etc/p.jsonc: profiles.run.nett: unknown key"],
  );
  assert.deepEqual(policyProblems(() => parsePolicy(`{"pools": {}}`, "f", VARS)), [
    "f: pools: unknown key",
  ]);
  const problems = policyProblems(() =>
    parsePolicy(`{"profiles": {"runn": {}}, "pool": {"foo": 1}}`, "f", VARS)
  );
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^f: profiles\.runn: unknown profile \(expected one of init, main/);
  assert.match(problems[1], /^f: pool\.foo: unknown profile/);
});

Deno.test("parsePolicy: bad paths are named", () => {
  const text = JSON.stringify({
    profiles: {
      run: { read: ["rel/x", "/a/../b", "/a,b", "${package}/../x", "${nope}/x"] },
      backup: { write: ["/ok", "/nul\0x"] },
    },
  });
  const problems = policyProblems(() => parsePolicy(text, "f", VARS));
  assert.deepEqual(problems, [
    `f: profiles.run.read[0]: "rel/x" is not an absolute path`,
    `f: profiles.run.read[1]: "/a/../b" is not normalized: it contains a '..' segment`,
    `f: profiles.run.read[2]: "/a,b" contains a comma, which Deno's flags cannot express`,
    `f: profiles.run.read[3]: "\${package}/../x" ("/pkg/dir/../x" after substitution) ` +
    `is not normalized: it contains a '..' segment`,
    `f: profiles.run.read[4]: "\${nope}/x": unknown variable \${nope} (known: \${package}, \${root})`,
    `f: profiles.backup.write[1]: "/nul\\u0000x" contains a NUL character`,
  ]);
  // A comma that only appears after substitution is caught too.
  const viaVar = policyProblems(() =>
    parsePolicy(`{"profiles": {"run": {"read": ["\${package}"]}}}`, "f", {
      package: "/a,b",
      root: "/r",
    })
  );
  assert.deepEqual(viaVar, [
    `f: \${package}: "/a,b" contains a comma, which Deno's flags cannot express`,
  ]);
});

Deno.test("parsePolicy: a daemon's own Unix socket in a volume may be granted by exact path, with a warning", () => {
  const text = JSON.stringify({
    profiles: {
      init: { net: ["${container}", "unix:${root}/volumes/tor/control.sock"] },
      main: { net: ["unix:/media/startos/volumes/tor//control.sock"] },
    },
  });
  const policy = parsePolicy(text, "f", VARS);
  assert.deepEqual(policy.profiles.init.net, [
    "${container}",
    "unix:/media/startos/volumes/tor/control.sock",
  ]);
  assert.deepEqual(policy.profiles.main.net, ["unix:/media/startos/volumes/tor/control.sock"]);
  assert.ok(
    denoPermissionArgs(policy.profiles.init, SOCK, NONE).includes(
      `--allow-net=unix:${SOCK},unix:/media/startos/volumes/tor/control.sock`,
    ),
  );
  assert.deepEqual(
    policyWarnings(policy).filter((w) => w.includes("Unix socket")),
    ["init", "main"].map((name) =>
      `the policy grants the ${name} profile the Unix socket ` +
      "/media/startos/volumes/tor/control.sock: a daemon that replaces it with a symlink gives " +
      "this profile whatever socket the link names (host.sock included)"
    ),
  );
  // Anywhere else (the runtime's own sockets included), or with a '..': refused.
  for (
    const entry of [
      "unix:${root}/rpc/host.sock",
      "unix:${root}/volumes",
      "unix:${root}/volumes/../rpc/host.sock",
      "unix:/run/systemd/private",
    ]
  ) {
    const bad = JSON.stringify({ profiles: { run: { net: [entry] } } });
    assert.equal(policyProblems(() => parsePolicy(bad, "f", VARS)).length, 1, entry);
  }
});

Deno.test("parsePolicy: grants, effects and pools are checked", () => {
  const text = JSON.stringify({
    profiles: {
      run: {
        net: ["http://x.com", "unix:/tmp/s", "a b", 7],
        run: ["", "./x"],
        env: ["A=B"],
        effects: "everything",
      },
      main: { net: "yes" },
    },
    pool: { init: 1, run: 9, getInput: 1.5, sandbox: -1, backup: "2" },
  });
  // Problems come in schema order (profiles in table order, then pools), not file order.
  assert.deepEqual(policyProblems(() => parsePolicy(text, "f", VARS)), [
    `f: profiles.main.net: expected true, false or a list of hosts`,
    `f: profiles.run.net[0]: "http://x.com": give a host, not a URL`,
    `f: profiles.run.net[1]: "unix:/tmp/s": a Unix socket is granted only below \${root}/volumes (a daemon's own socket); children talk to the runtime over their channel only`,
    `f: profiles.run.net[2]: "a b": not a host name, host:port, IPv4 address or [IPv6] address`,
    `f: profiles.run.net[3]: expected a host string`,
    `f: profiles.run.run[0]: "": not a program name (letters, digits, '_', '+', '@', '.', '-') or absolute path`,
    `f: profiles.run.run[1]: "./x" is not an absolute path`,
    `f: profiles.run.env[0]: "A=B": not an environment variable name (letters, digits, '_', optional trailing '*')`,
    `f: profiles.run.effects: expected one of "all", "read-only", "read-only-no-secrets"`,
    "f: pool.init: must be 0 (a long-lived singleton is never pooled)",
    "f: pool.run: must be 0..8",
    "f: pool.getInput: expected a whole number",
    "f: pool.backup: expected a whole number",
    "f: pool.sandbox: must be 0..8",
  ]);
  assert.deepEqual(
    policyProblems(() => parsePolicy(`{"pool": {"main": 2}}`, "f", VARS)),
    ["f: pool.main: must be 0 (a long-lived singleton is never pooled)"],
  );
  const eight = `{"pool": {"run": 8, "backup": 0}, "children": {"maxPerProfile": 8}}`;
  assert.equal(parsePolicy(eight, "f", VARS).pool.run, 8);
  // A warm pool larger than the per-profile cap could never be kept: refused, naming the key.
  assert.deepEqual(
    policyProblems(() => parsePolicy(`{"pool": {"run": 3}}`, "f", VARS)),
    [
      "f: pool.run: 3 warm children exceed children.maxPerProfile (2); lower the pool or " +
      "raise the cap",
    ],
  );
});

Deno.test("parsePolicy: syntax errors carry line:column; non-objects and duplicates fail", () => {
  const text = `{\n  "pool": {\n    "run": 1\n    "sandbox": 2 }\n}`;
  assert.deepEqual(policyProblems(() => parsePolicy(text, "/etc/p.jsonc", VARS)), [
    "/etc/p.jsonc:4:5: syntax error: CommaExpected",
  ]);
  assert.deepEqual(policyProblems(() => parsePolicy("", "f", VARS)), [
    "f:1:1: syntax error: ValueExpected",
  ]);
  assert.deepEqual(policyProblems(() => parsePolicy("[]", "f", VARS)), [
    "f: (top level): expected an object",
  ]);
  assert.deepEqual(policyProblems(() => parsePolicy(`{"pool": {"run": 1, "run": 2}}`, "f", VARS)), [
    "f: pool.run: duplicate key",
  ]);
});

Deno.test("PolicyError with several problems lists them all in its message", () => {
  const problems = policyProblems(() => parsePolicy(`{"a": 1, "b": 2}`, "f", VARS));
  assert.equal(problems.length, 2);
  try {
    parsePolicy(`{"a": 1, "b": 2}`, "f", VARS);
  } catch (error) {
    assert.ok(error instanceof PolicyError);
    assert.match(error.message, /2 problems/);
    assert.match(error.message, /f: a: unknown key\n {2}f: b: unknown key/);
  }
});

Deno.test("loadPolicy: null file gives defaults; a missing file is a clear error", async () => {
  const policy = await loadPolicy(null, VARS);
  assert.deepEqual(policy.profiles, defaultProfiles(VARS));
  const dir = await Deno.makeTempDir();
  try {
    const missing = `${dir}/nope.jsonc`;
    await assert.rejects(loadPolicy(missing, VARS), (error: unknown) => {
      assert.ok(error instanceof PolicyError);
      assert.equal(error.message, `${missing}: cannot read the permission policy: file not found`);
      return true;
    });
    const file = `${dir}/policy.jsonc`;
    await Deno.writeTextFile(file, `{ "pool": { "run": 2 }, } // trailing`);
    assert.equal((await loadPolicy(file, VARS)).pool.run, 2);
    await Deno.writeTextFile(file, `{ "pool": { "rnu": 3 } }`);
    await assert.rejects(loadPolicy(file, VARS), new RegExp(`^PolicyError: ${file}: pool.rnu`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Real enforcement: spawn `deno run` with the generated flags

/**
 * A probe run as a child: connects to the channel socket, then tries each step given as an
 * argument (`write:PATH`, `read:PATH`, `env:NAME`, `run:PROGRAM`) and prints one JSON object
 * mapping each step to "ok" or the error's name.
 */
const PROBE = `
const [socket, ...steps] = Deno.args;
const out: Record<string, string> = {};
try {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  conn.close();
  out.connect = "ok";
} catch (error) {
  out.connect = (error as Error).name;
}
for (const step of steps) {
  const [kind, arg] = [step.slice(0, step.indexOf(":")), step.slice(step.indexOf(":") + 1)];
  try {
    if (kind === "write") await Deno.writeTextFile(arg, "x");
    else if (kind === "read") await Deno.readTextFile(arg);
    else if (kind === "env") Deno.env.get(arg);
    else if (kind === "run") await new Deno.Command(arg).output();
    out[step] = "ok";
  } catch (error) {
    out[step] = (error as Error).name;
  }
}
console.log(JSON.stringify(out));
`;

interface Sandbox {
  dir: string;
  pkg: string;
  root: string;
  socket: string;
  script: string;
}

/** A temp package dir, root (with volumes/), probe script OUTSIDE both, and a listening socket. */
async function withSandbox(fn: (s: Sandbox) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "perm_test_" });
  const s: Sandbox = {
    dir,
    pkg: `${dir}/pkg`,
    root: `${dir}/root`,
    socket: `${dir}/rt/worker.sock`,
    script: `${dir}/scripts/probe.ts`,
  };
  for (const d of [s.pkg, `${s.root}/volumes`, `${dir}/rt`, `${dir}/scripts`]) {
    await Deno.mkdir(d, { recursive: true });
  }
  await Deno.writeTextFile(`${s.root}/volumes/data.txt`, "data");
  await Deno.writeTextFile(`${s.root}/outside-volumes.txt`, "root file");
  await Deno.writeTextFile(s.script, PROBE);
  const listener = Deno.listen({ transport: "unix", path: s.socket });
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  try {
    await fn(s);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the probe with `profile`'s flags and the given environment; returns its JSON report. */
async function probe(
  s: Sandbox,
  profile: Profile,
  steps: string[],
  env: Record<string, string>,
): Promise<Record<string, string>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...denoPermissionArgs(profile, s.socket),
      "--no-config",
      s.script,
      s.socket,
      ...steps,
    ],
    cwd: s.dir,
    clearEnv: true,
    env,
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `probe failed:\n${stdout}\n${stderr}`);
  return JSON.parse(stdout);
}

Deno.test("enforcement: getInput and sandbox read the root, write only subcontainer mount points", async () => {
  await withSandbox(async (s) => {
    await Deno.mkdir(`${s.root}/subcontainers/g1`, { recursive: true });
    for (const name of ["getInput", "sandbox"] as const) {
      const profile = defaultProfiles({ package: s.pkg, root: s.root })[name];
      const report = await probe(s, profile, [
        `write:${s.root}/volumes/new.txt`,
        `write:${s.root}/subcontainers/g1/mountpoint`,
        `write:${s.dir}/elsewhere.txt`,
        `read:${s.root}/volumes/data.txt`,
        `read:${s.root}/outside-volumes.txt`,
        `read:${s.dir}/scripts/probe.ts`,
        "env:HOME",
      ], { HOME: "/home/test", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" });
      assert.deepEqual(report, {
        connect: "ok",
        [`write:${s.root}/volumes/new.txt`]: "NotCapable",
        [`write:${s.root}/subcontainers/g1/mountpoint`]: "ok",
        [`write:${s.dir}/elsewhere.txt`]: "NotCapable",
        [`read:${s.root}/volumes/data.txt`]: "ok",
        [`read:${s.root}/outside-volumes.txt`]: "ok",
        [`read:${s.dir}/scripts/probe.ts`]: "NotCapable",
        "env:HOME": "ok",
      }, name);
      await assert.rejects(Deno.stat(`${s.root}/volumes/new.txt`), Deno.errors.NotFound);
    }
  });
});

Deno.test("enforcement: run may write volumes; a missing --allow-run program does not stop it", async () => {
  await withSandbox(async (s) => {
    const profile = defaultProfiles({ package: s.pkg, root: s.root }).run;
    // start-container is not on this PATH: the child must still start (Deno only logs "Info").
    const report = await probe(s, profile, [
      `write:${s.root}/volumes/new.txt`,
      `write:${s.root}/not-volumes.txt`,
      "run:start-container",
      "run:sh",
    ], { PATH: "/usr/bin:/bin" });
    assert.deepEqual(report, {
      connect: "ok",
      [`write:${s.root}/volumes/new.txt`]: "ok",
      [`write:${s.root}/not-volumes.txt`]: "NotCapable",
      "run:start-container": "NotFound",
      "run:sh": "NotCapable",
    });
  });
});

Deno.test("enforcement: a sandbox narrowed by policy (no env, package only) reads neither", async () => {
  await withSandbox(async (s) => {
    const text = JSON.stringify({ profiles: { sandbox: { env: false, read: ["${package}"] } } });
    const profile = parsePolicy(text, "inline", { package: s.pkg, root: s.root }).profiles.sandbox;
    // The launcher gives env=false children an empty environment; even if a variable leaked in,
    // the child could not read it.
    const report = await probe(s, profile, [
      "env:SECRET",
      `read:${s.root}/volumes/data.txt`,
      `write:${s.pkg}/x.txt`,
    ], { SECRET: "hunter2" });
    assert.deepEqual(report, {
      connect: "ok",
      "env:SECRET": "NotCapable",
      [`read:${s.root}/volumes/data.txt`]: "NotCapable",
      [`write:${s.pkg}/x.txt`]: "NotCapable",
    });
  });
});

Deno.test("enforcement: every entry form a policy accepts is accepted by Deno", async () => {
  await withSandbox(async (s) => {
    const text = JSON.stringify({
      profiles: {
        run: {
          net: ["api.example.com:443", "*.example.org", "10.0.0.1", "10.0.0.0/8", "[::1]:8080"],
          run: ["start-container", "/opt/does-not-exist/tool", "${package}/bin/helper"],
          env: ["HOME", "STARTOS_*"],
          read: ["${package}", "${root}/volumes/", "/does/not/exist"],
        },
      },
    });
    const policy = parsePolicy(text, "inline", { package: s.pkg, root: s.root });
    const report = await probe(s, policy.profiles.run, [`read:${s.root}/volumes/data.txt`], {});
    assert.deepEqual(report, { connect: "ok", [`read:${s.root}/volumes/data.txt`]: "ok" });
  });
});
