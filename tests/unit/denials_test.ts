/**
 * The denial watch (lib/worker/denials.ts) and the words of a denial (lib/worker/denial_kind.ts):
 * every denial is seen, also those package code catches; what each does to its call.
 */

import assert from "node:assert/strict";
import { denialKind, deniedWhat, policyKey } from "../../lib/worker/denial_kind.ts";
import { REPEAT_LIMIT } from "../../lib/worker/denials.ts";

Deno.test("denialKind reads Deno's messages, the spawn broker's and the effects broker's", () => {
  const cases: [string, { permission: string; target: string }][] = [
    [
      'Requires read access to "/etc/shadow", run again with the --allow-read flag',
      { permission: "read", target: "/etc/shadow" },
    ],
    [
      'Requires net access to "127.0.0.1:8080", run again with the --allow-net flag',
      { permission: "net", target: "127.0.0.1:8080" },
    ],
    [
      'Requires sys access to "systemMemoryInfo", run again with the --allow-sys flag',
      { permission: "sys", target: "systemMemoryInfo" },
    ],
    ['Requires all access to "/dev", run again with the --allow-all flag', {
      permission: "all",
      target: "/dev",
    }],
    ["Requires read access to <CWD>, run again with the --allow-read flag", {
      permission: "read",
      target: "<CWD>",
    }],
    [
      'the getInput profile does not allow this: running rsync: "-e" is not an option',
      { permission: "spawn", target: "rsync" },
    ],
    [
      'execFileSync("mount") cannot be served: the runtime runs mount for package code',
      { permission: "spawn", target: "mount" },
    ],
    [
      "the sandbox profile (effects: read-only) may not call set-health",
      { permission: "effect", target: "set-health" },
    ],
    ["something else", { permission: "other", target: "something else" }],
  ];
  for (const [message, kind] of cases) assert.deepEqual(denialKind(message), kind, message);
});

Deno.test("policyKey names the profile field that grants each permission", () => {
  assert.equal(policyKey("net", "init"), "profiles.init.net");
  assert.equal(policyKey("read", "getInput"), "profiles.getInput.read");
  assert.equal(policyKey("sys", "run"), "profiles.run.sys");
  assert.equal(policyKey("spawn", "run"), "profiles.run.spawn");
  assert.equal(policyKey("effect", "sandbox"), "profiles.sandbox.effects");
  // Only the escape hatch grants reserved paths, native code and remote imports.
  for (const permission of ["all", "ffi", "import", "other"]) {
    assert.equal(policyKey(permission, "run"), "profiles.run.all", permission);
  }
  assert.equal(
    deniedWhat("the run profile does not allow this: running x: y", "run"),
    "running x: y",
  );
  assert.equal(deniedWhat("Requires net access", "run"), "Requires net access");
});

/** Runs the watch probe as a child with `profile`: reads only its own directory, nothing else. */
async function probe(profile: string): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir({ prefix: "denials-probe-" });
  try {
    const script = new URL("../fixtures/denials/watch_probe.ts", import.meta.url).pathname;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", `--allow-read=${dir}`, script, profile, dir],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, `${stdout}\n${new TextDecoder().decode(output.stderr)}`);
    return JSON.parse(stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the watch sees every denial, those package code catches too; not the module loader's probes", async () => {
  const out = await probe("run");
  assert.equal(out.works, true, "NotCapable is no longer built through its constructor's name");
  // Deno's loader throws the denial of its probe up the tree (Node: MODULE_NOT_FOUND); the
  // optional-dependency pattern `try { require(x) } catch {}` must not count as one.
  assert.equal(out.require, "NotCapable");
  assert.equal(out.afterRequire, 0, "require()'s own probes counted as denials");
  // Outside a call: once per distinct denial, however often.
  assert.deepEqual(out.outside, [{ outcome: "outside", denials: ["/etc/hostname"] }]);
  // Caught by package code: the access reads as "missing", the fetch as failed; both seen.
  assert.equal(out.exists, false);
  assert.equal(out.fetch, "NotCapable");
  assert.match(String(out.first), /^Requires read access to "\/etc\/shadow"/);
  // A run call answers as the package did; its report says what it met and what grants it.
  assert.equal(out.answered, null);
  assert.deepEqual(out.report, [{
    eventId: "ev-1",
    fn: "getInput",
    outcome: "answered",
    denials: [
      {
        permission: "read",
        target: "/etc/shadow",
        message: 'Requires read access to "/etc/shadow", run again with the --allow-read flag',
        policyKey: "profiles.run.read",
        count: 1,
      },
      {
        permission: "net",
        target: "198.51.100.1:8080",
        message: 'Requires net access to "198.51.100.1:8080", run again with the --allow-net flag',
        policyKey: "profiles.run.net",
        count: 1,
      },
    ],
  }]);
  // A refusal recorded twice (by the watch and by the worker) counts once.
  assert.deepEqual(
    (out.refusal as { denials: { permission: string; target: string; count: number }[] }[])
      .map((r) => r.denials.map((d) => [d.permission, d.target, d.count])),
    [[["effect", "set-health", 1]]],
  );
});

Deno.test("a package's stack hook that reads files neither recurses nor adds denials", async () => {
  const out = await probe("getInput");
  const hooked = out.hooked as { details: string; debug: string };
  assert.match(hooked.details, /Requires read access to "\/etc\/shadow"/);
  assert.match(hooked.debug, /\(hooked\)$/);
  assert.deepEqual(out.hookedReport, [["/etc/shadow"]]);
});

Deno.test("the same denial met REPEAT_LIMIT times fails the call at once with 34", async () => {
  const out = await probe("init");
  assert.equal(out.tries, REPEAT_LIMIT);
  const stopped = out.stopped as { code: number; data: { details: string; denials: unknown[] } };
  assert.equal(stopped.code, 34);
  assert.match(
    stopped.data.details,
    /^the init profile does not allow this: Requires net access to "127\.0\.0\.1:9".*\(policy key: profiles\.init\.net\); the call met this denial 5 times/,
  );
  assert.deepEqual(out.limitReport, [{
    outcome: "failed",
    counts: [{
      permission: "net",
      target: "127.0.0.1:9",
      message: 'Requires net access to "127.0.0.1:9", run again with the --allow-net flag',
      policyKey: "profiles.init.net",
      count: REPEAT_LIMIT,
    }],
  }]);
});

Deno.test("a getInput or sandbox call that caught a denial is answered 34 naming it", async () => {
  for (const profile of ["getInput", "sandbox"]) {
    const out = await probe(profile);
    const answered = out.answered as { code: number; data: { details: string } };
    assert.equal(answered.code, 34, profile);
    assert.match(
      answered.data.details,
      new RegExp(
        `^the ${profile} profile does not allow this: Requires read access to "/etc/shadow".*` +
          `\\(policy key: profiles\\.${profile}\\.read\\); package code caught the denial`,
      ),
    );
    assert.equal((out.report as { outcome: string }[])[0].outcome, "failed");
  }
});
