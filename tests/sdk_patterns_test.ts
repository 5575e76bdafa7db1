/**
 * What published packages do beyond the basics (tests/fixtures/sdk-patterns, start-sdk 2.0.9),
 * with the runtime's default profiles: a getInput that execs in a subcontainer to prefill its
 * form, an init that bootstraps through a temporary daemon's HTTP API (`checkWebUrl` on
 * 127.0.0.1) and sizes the service to the machine (`os.totalmem()`, `os.cpus()`,
 * `os.hostname()`), an action that calls the service's own API on `localhost`; every sandbox
 * getInput answered as execute's; denials package code catches never turn into a silent answer or
 * a wait for the host's timeout.
 *
 * The runtime runs in a private mount namespace (a temp dir is /media/startos there) with the
 * fakes of helpers/fake_container.ts on /usr/bin: a daemon's command runs on this machine (not
 * chrooted), so the service's API is a `deno eval` HTTP server on 127.0.0.1.
 */

import assert from "node:assert/strict";
import * as os from "node:os";
import { bundlePackage } from "./helpers/bundle.ts";
import { type FakeContainer, writeFakeContainer } from "./helpers/fake_container.ts";
import { fixture, processExists, runAction } from "./helpers/package_runtime.ts";
import {
  onPath,
  overlayUnavailable,
  type SdkRuntime,
  startSdkRuntime,
} from "./helpers/sdk_runtime.ts";
import { within } from "./helpers/sdk_within.ts";

const bundleDir = await Deno.makeTempDir({ prefix: "startos-sdk-patterns-bundle-" });
globalThis.addEventListener("unload", () => Deno.removeSync(bundleDir, { recursive: true }));
const PACKAGE = await bundlePackage(fixture("sdk-patterns", "index.ts"), bundleDir);

const unavailable = overlayUnavailable() ??
  (onPath("rsync") ? null : "rsync is not installed (apt-get install rsync)");
if (unavailable) console.warn(`skipping the SDK patterns tests: ${unavailable}`);

/** The system SMTP settings the host hands out (a secret: `get-system-smtp`). */
const SMTP = {
  host: "smtp.example.com",
  port: 587,
  from: "service@example.com",
  username: "service",
  password: "hunter2",
  security: "starttls",
};

/** One running package: runtime in its namespace, host, fakes, and the ports its daemons use. */
interface Patterns {
  rt: SdkRuntime;
  fakes: FakeContainer;
  ports: { api: number; bootstrap: number };
}

/** Two TCP ports nothing listens on right now. */
function freePorts(): { api: number; bootstrap: number } {
  const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ports = { api: a.addr.port, bootstrap: b.addr.port };
  a.close();
  b.close();
  return ports;
}

/** The asset init copies into the volume (`fs.cp` from assets/ to volumes/main). */
const MOTD = "Welcome to the patterns service\n";

/** The image description and env file StartOS puts beside each image, and the package's assets. */
async function writeImages(root: string): Promise<void> {
  await Deno.mkdir(`${root}/assets/defaults`, { recursive: true });
  await Deno.writeTextFile(`${root}/assets/defaults/motd.txt`, MOTD);
  await Deno.mkdir(`${root}/images/main`, { recursive: true });
  await Deno.writeTextFile(`${root}/images/main.json`, JSON.stringify({ user: "root" }));
  await Deno.writeTextFile(
    `${root}/images/main.env`,
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
  );
}

/** Starts the package in its namespace and runs `body`; always stops and removes everything. */
async function withPatterns(
  options: { policy?: string },
  body: (patterns: Patterns) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "startos-sdk-patterns-" });
  let patterns: Patterns | undefined;
  try {
    const fakes = await writeFakeContainer(dir);
    const ports = freePorts();
    const rt = await startSdkRuntime({
      package: PACKAGE,
      mediaStartos: true,
      fakeBin: fakes.bin,
      prepareRoot: writeImages,
      policy: options.policy,
      env: {
        SDK_PATTERNS_DENO: Deno.execPath(),
        SDK_PATTERNS_API_PORT: String(ports.api),
        SDK_PATTERNS_BOOTSTRAP_PORT: String(ports.bootstrap),
      },
    });
    rt.host.handlers.set("get-system-smtp", () => SMTP);
    patterns = { rt, fakes, ports };
    await body(patterns);
  } finally {
    await patterns?.rt.close();
    // A daemon the runtime left behind (a failure) must not outlive the test.
    for (const event of (await patterns?.fakes.events()) ?? []) {
      if (event.event === "exec" && processExists(event.pid)) {
        try {
          Deno.kill(event.pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
    }
    await Deno.remove(dir, { recursive: true });
  }
}

/** The runtime's log, for failure messages. */
function logTail(rt: SdkRuntime, lines = 40): string {
  return rt.runtime.stderr.slice(-lines).join("\n");
}

/** The runtime's warnings about denials package code met (lib/worker/denials.ts). */
function denialLines(rt: SdkRuntime): string[] {
  return rt.runtime.stderr.filter((line) => /permission denial/.test(line));
}

/** `execute` or `sandbox` of an action's getInput. */
function getInput(id: string, eventId: string, prefill: unknown = null) {
  return {
    id: eventId,
    procedure: `/actions/${id}/getInput`,
    input: { prefill },
    timeout: 30_000,
  };
}

/** The settings file on the volume, as the test sees it. */
async function readSettings(rt: SdkRuntime): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(`${rt.root}/volumes/main/settings.json`));
}

/** init {kind: install}, which must succeed. */
async function install(rt: SdkRuntime): Promise<void> {
  const outcome = await within(
    rt.client.call("init", { id: "init-1", kind: "install" }),
    60_000,
    "init's answer",
  );
  assert.deepEqual(outcome, { result: null }, `init; runtime log:\n${logTail(rt)}`);
}

/** What each action's getInput answers after install, and the input its run gets. */
const ACTIONS: Record<
  string,
  { value(patterns: Patterns): unknown; input(value: unknown): unknown }
> = {
  "list-admins": {
    // The first line of what the CLI printed in the subcontainer.
    value: () => ({ admin: "alice" }),
    input: (value) => value,
  },
  settings: {
    value: () => ({
      label: null,
      cacheMb: Math.floor(os.totalmem() / 2 ** 20 / 4),
      smtpHost: SMTP.host,
    }),
    input: (value) => ({ ...(value as object), label: "from the test" }),
  },
  "own-api": { value: () => null, input: () => null },
  "check-file": {
    value: () => ({ path: "/media/startos/volumes/main/settings.json", exists: true }),
    input: (value) => value,
  },
};

Deno.test({
  name: "SDK patterns: init bootstraps through a daemon on 127.0.0.1 and sizes itself; every " +
    "getInput answers the same in the sandbox; an action calls the service's own API",
  ignore: unavailable !== null,
  fn: async (t) => {
    await withPatterns({}, async (patterns) => {
      const { rt, fakes, ports } = patterns;
      const call = (method: string, params: unknown) => rt.client.call(method, params);

      const installed = await t.step("init: bootstrap daemon, checkWebUrl, os.*", async () => {
        await install(rt);
        const settings = await readSettings(rt);
        const memoryMb = Math.floor(os.totalmem() / 2 ** 20);
        assert.deepEqual(settings, {
          cacheMb: Math.floor(memoryMb / 4),
          memoryMb,
          cpus: os.cpus().length,
          hostname: os.hostname(),
          // What the oneshot read from the temporary daemon's API before init stopped it.
          bootstrapped: `api on ${ports.bootstrap}: ok`,
        });
        // fs.cp from the assets: Node's walk up from the destination stats /media.
        assert.equal(await Deno.readTextFile(`${rt.root}/volumes/main/motd.txt`), MOTD);
        // The shell script the runtime checked and ran: moved, and the old directory gone.
        assert.deepEqual(
          [...Deno.readDirSync(`${rt.root}/volumes/main/moved`)].map((e) => e.name).sort(),
          ["a.txt", "b.txt"],
        );
        await assert.rejects(Deno.stat(`${rt.root}/volumes/main/legacy`), Deno.errors.NotFound);
        const events = await fakes.events();
        const bootstrap = events.filter((e) =>
          e.event === "exec" && e.detail.includes(String(ports.bootstrap))
        );
        assert.equal(bootstrap.length, 1, JSON.stringify(events));
        assert.equal(processExists(bootstrap[0].pid), false, "the bootstrap daemon is still up");
      });
      if (!installed) return;

      await t.step("the host retires although the bootstrap left its timers", async () => {
        // runUntilSuccess(60_000) leaves its timeout, the daemon's stop its SIGKILL escalation.
        const dropped = await within(
          rt.runtime.waitForLog(/timers init left did not fire/),
          20_000,
          "the leftover timers' line",
        );
        assert.match(dropped ?? "", /delaysMs=\S*\b60000\b/);
        assert.ok(
          rt.runtime.stderr.some((line) => /package host holds nothing after init/.test(line)),
          "retired",
        );
      });

      const acted = await t.step(
        "every action: sandbox getInput = execute getInput, then run",
        async () => {
          const exported = rt.host.callsOf("action.export").map((c) => String(c.params.id));
          assert.deepEqual(exported, Object.keys(ACTIONS));
          for (const id of exported) {
            const eventId = `act-${id}`;
            const executed = await call("execute", getInput(id, eventId));
            const sandboxed = await call("sandbox", getInput(id, eventId));
            assert.equal(executed.error, undefined, `${id}: ${JSON.stringify(executed.error)}`);
            assert.deepEqual(sandboxed, executed, `sandbox getInput of ${id}`);
            const answer = executed.result as { eventId: string; value: unknown };
            assert.equal(answer.eventId, eventId);
            assert.deepEqual(answer.value, ACTIONS[id].value(patterns), id);
            if (id === "own-api") continue; // only while main runs (below)
            const run = await call(
              "execute",
              runAction(id, ACTIONS[id].input(answer.value), eventId),
            );
            assert.equal(run.error, undefined, `run ${id}: ${JSON.stringify(run.error)}`);
          }
          assert.equal((await readSettings(rt)).label, "from the test");
        },
      );
      if (!acted) return;

      await t.step(
        "getInput's subcontainer mounts the volume read-only; run's does not",
        async () => {
          const made = rt.state.subcontainersMade.filter((fs) => fs.name === "list-admins");
          // execute getInput, sandbox getInput, and the getInput the run computed first.
          assert.equal(made.length, 3);
          const events = await fakes.events();
          const remounted = (rootfs: string) =>
            events.some((e) =>
              e.event === "mount" && e.detail === `-o remount,bind,ro ${rootfs}/data`
            );
          const mounted = (rootfs: string) =>
            events.some((e) =>
              e.event === "bind-mount" && e.detail.includes(`--target ${rootfs}/data`)
            );
          for (const fs of made) assert.ok(mounted(fs.rootfs), `no bind-mount in ${fs.rootfs}`);
          assert.deepEqual(made.map((fs) => remounted(fs.rootfs)), [true, true, false]);
          assert.deepEqual([...rt.state.subcontainers.keys()], [], "subcontainers left");
        },
      );

      const started = await t.step("start: the API daemon reports healthy", async () => {
        assert.deepEqual(await call("start", {}), { result: null });
        await within(
          rt.host.waitFor("set-health", (p) => p.id === "api" && p.result === "success"),
          30_000,
          "the API's health",
        );
      });
      if (!started) return;

      await t.step("an action calls the service's own API on localhost", async () => {
        const run = await call("execute", runAction("own-api", null, "act-own-api-2"));
        assert.equal(run.error, undefined, `${JSON.stringify(run.error)}\n${logTail(rt)}`);
        const result = (run.result as { result: { value: string } }).result;
        assert.equal(result.value, `api on ${ports.api}: ok`);
        assert.deepEqual(await call("stop", {}), { result: null });
      });

      await t.step("nothing met a permission denial", () => {
        assert.deepEqual(denialLines(rt), []);
      });
    });
  },
});

Deno.test({
  name: "SDK patterns: a swallowed denial fails getInput and sandbox (34), is logged for run",
  ignore: unavailable !== null,
  fn: async () => {
    await withPatterns({}, async ({ rt }) => {
      await install(rt);
      const prefill = { path: "/etc/shadow" };
      for (const method of ["execute", "sandbox"]) {
        const profile = method === "execute" ? "getInput" : "sandbox";
        const outcome = await rt.client.call(method, getInput("check-file", "cf-1", prefill));
        assert.equal(outcome.error?.code, 34, JSON.stringify(outcome));
        assert.match(
          outcome.error?.data?.details ?? "",
          new RegExp(
            `^the ${profile} profile does not allow this: Requires read access to "/etc/shadow".*` +
              `\\(policy key: profiles\\.${profile}\\.read\\); package code caught the denial`,
          ),
        );
      }
      // run answers as the package did ("missing"), and the runtime says why.
      const run = await rt.client.call(
        "execute",
        runAction("check-file", { path: "/etc/shadow", exists: false }, "cf-2"),
      );
      assert.equal((run.result as { message: string }).message, "/etc/shadow: missing");
      const lines = denialLines(rt).filter((line) => line.includes("/etc/shadow"));
      assert.ok(
        lines.some((line) =>
          /a call answered after a permission denial its package code caught/.test(line) &&
          /profile=run/.test(line) && /grant=profiles\.run\.read/.test(line) &&
          /event=cf-2/.test(line)
        ),
        lines.join("\n") || logTail(rt),
      );
    });
  },
});

Deno.test({
  name: "SDK patterns: init without net fails fast with 34 instead of retrying until the timeout",
  ignore: unavailable !== null,
  fn: async () => {
    const policy = `{ "profiles": { "init": { "net": false } } }`;
    await withPatterns({ policy }, async ({ rt, ports }) => {
      const started = performance.now();
      // The SDK's health loop swallows each refused fetch and tries again every second.
      const outcome = await within(
        rt.client.call("init", { id: "init-1", kind: "install" }),
        30_000,
        "init's answer",
      );
      const ms = performance.now() - started;
      assert.equal(outcome.error?.code, 34, JSON.stringify(outcome));
      assert.match(
        outcome.error?.data?.details ?? "",
        new RegExp(
          `Requires net access to "127\\.0\\.0\\.1:${ports.bootstrap}".*` +
            "\\(policy key: profiles\\.init\\.net\\); the call met this denial 5 times",
        ),
      );
      console.log(`init answered 34 after ${Math.round(ms)} ms`);
    });
  },
});

Deno.test({
  name: "SDK patterns: the sandbox answers a mutation with 34 naming it",
  ignore: unavailable !== null,
  fn: async () => {
    await withPatterns({}, async ({ rt }) => {
      await install(rt);
      const before = await readSettings(rt);
      const outcome = await rt.client.call(
        "sandbox",
        runAction("settings", { label: "x", cacheMb: 1, smtpHost: null }, "sb-1"),
      );
      assert.equal(outcome.error?.code, 34, JSON.stringify(outcome));
      assert.match(
        outcome.error?.data?.details ?? "",
        // FileHelper creates the file's directory first: that is the write refused.
        /^the sandbox profile does not allow this: Requires write access to "\/media\/startos\/volumes\/main".*\(policy key: profiles\.sandbox\.write\)/,
      );
      assert.deepEqual(await readSettings(rt), before);
    });
  },
});
