/**
 * A package that does what published StartOS packages do (tests/fixtures/sdk-services: two
 * daemons in subcontainers with the data volume mounted, readiness by checkPortListening, a
 * FileHelper config file, actions that read/write it and exec in a subcontainer, a migration that
 * execs in a subcontainer, rsync backups), driven through its whole lifecycle from the host's
 * side the way StartOS drives it, with the runtime's default profiles.
 *
 * The runtime runs in a private mount namespace: a temp dir is /media/startos there, and
 * /usr/bin/start-container and /usr/bin/mount are the fakes of helpers/fake_container.ts (an
 * overlay of /usr/bin that only the runtime and its children see). The host makes subcontainer
 * filesystems under <root>/subcontainers.
 *
 * Diagnostics: `SDK_SERVICES_ALLOW_ALL=1` hands the runtime a policy giving every profile
 * `"all": true` (`--allow-all`), to tell harness problems from profile problems. Never a way to
 * make the suite pass: by default the runtime runs with its default profiles and no policy.
 */

import assert from "node:assert/strict";
import { bundlePackage } from "./helpers/bundle.ts";
import {
  type FakeContainer,
  type FakeEvent,
  writeFakeContainer,
} from "./helpers/fake_container.ts";
import { fixture, processExists, runAction } from "./helpers/package_runtime.ts";
import {
  onPath,
  overlayUnavailable,
  type SdkRuntime,
  startSdkRuntime,
} from "./helpers/sdk_runtime.ts";
import type { SdkHostState } from "./helpers/sdk_host.ts";
import { within } from "./helpers/sdk_within.ts";

// Bundled once for the whole file; removed when the test module unloads.
const bundleDir = await Deno.makeTempDir({ prefix: "startos-sdk-services-bundle-" });
globalThis.addEventListener("unload", () => Deno.removeSync(bundleDir, { recursive: true }));
const PACKAGE = await bundlePackage(fixture("sdk-services", "index.ts"), bundleDir);

const unavailable = overlayUnavailable() ??
  (onPath("rsync") ? null : "rsync is not installed (apt-get install rsync)");
if (unavailable) console.warn(`skipping the SDK services tests: ${unavailable}`);

const ALLOW_ALL = Deno.env.get("SDK_SERVICES_ALLOW_ALL") === "1";
if (ALLOW_ALL) {
  console.warn("SDK_SERVICES_ALLOW_ALL=1: every profile of the runtime gets --allow-all");
}

/** The package's current version (tests/fixtures/sdk-services/versions.ts). */
const CURRENT_VERSION = "1.1.0:0";
/** Bounded wait for every health check to report success after `start`. */
const HEALTHY_WITHIN_MS = 30_000;
/** The ids of main's health checks (two daemons and one extra check). */
const HEALTH_CHECKS = ["first", "second", "both-ports"];

/** One running package: runtime in its namespace, host, fakes, and the ports main will use. */
interface Services {
  rt: SdkRuntime;
  fakes: FakeContainer;
  ports: { first: number; second: number };
}

/** Two distinct TCP ports nothing listens on right now. */
function freePorts(): { first: number; second: number } {
  const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ports = { first: a.addr.port, second: b.addr.port };
  a.close();
  b.close();
  return ports;
}

/** The image description and env file StartOS puts beside each image. */
async function writeImages(root: string): Promise<void> {
  await Deno.mkdir(`${root}/images/main`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/images/main.json`,
    JSON.stringify({ user: "root", workdir: "/" }),
  );
  await Deno.writeTextFile(
    `${root}/images/main.env`,
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nIMAGE_FLAVOR=fake\n",
  );
}

/** The diagnostic policy: every profile gets `--allow-all` (the policy's escape hatch). */
const ALLOW_ALL_POLICY = JSON.stringify({
  profiles: Object.fromEntries(
    ["init", "main", "run", "getInput", "backup", "sandbox"].map((name) => [name, { all: true }]),
  ),
});

/** Live processes whose command line contains one of `needles`. */
function processesMatching(needles: string[]): { pid: number; cmdline: string }[] {
  const found = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (pid === Deno.pid) continue;
    let cmdline: string;
    try {
      cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ").trim();
    } catch {
      continue; // gone meanwhile
    }
    if (needles.some((needle) => cmdline.includes(needle)) && processExists(pid)) {
      found.push({ pid, cmdline });
    }
  }
  return found;
}

/** What identifies processes the fakes started: the fakes' log path and every rootfs made. */
function fakeNeedles(services: Services): string[] {
  return [services.fakes.log, ...services.rt.state.subcontainersMade.map((fs) => fs.guid)];
}

/** Starts the package in its namespace and runs `body`; always stops and removes everything. */
async function withServices(
  options: { hostState?: Partial<SdkHostState> },
  body: (services: Services) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "startos-sdk-services-" });
  let services: Services | undefined;
  try {
    const fakes = await writeFakeContainer(dir);
    const ports = freePorts();
    const env: Record<string, string> = {
      SDK_SERVICES_FIRST_PORT: String(ports.first),
      SDK_SERVICES_SECOND_PORT: String(ports.second),
    };
    const rt = await startSdkRuntime({
      package: PACKAGE,
      mediaStartos: true,
      fakeBin: fakes.bin,
      prepareRoot: writeImages,
      env,
      hostState: options.hostState,
      policy: ALLOW_ALL ? ALLOW_ALL_POLICY : undefined,
    });
    services = { rt, fakes, ports };
    await body(services);
  } finally {
    if (services) {
      await services.rt.close();
      // Whatever the runtime left behind (a failure) must not outlive the test.
      for (const { pid } of processesMatching(fakeNeedles(services))) {
        try {
          Deno.kill(pid, "SIGKILL");
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

/** Asserts `outcome` is `{result: null}`, showing the runtime's log when not. */
function assertNullResult(rt: SdkRuntime, outcome: unknown, what: string): void {
  assert.deepEqual(outcome, { result: null }, `${what}; runtime log:\n${logTail(rt)}`);
}

/** The fakes' events of one kind. */
function eventsOf(events: FakeEvent[], event: string): FakeEvent[] {
  return events.filter((e) => e.event === event);
}

/** Asserts every subcontainer the host made was destroyed again, directory included. */
async function assertAllSubcontainersDestroyed(rt: SdkRuntime): Promise<void> {
  assert.deepEqual(
    [...rt.state.subcontainers.values()].map((fs) => fs.name),
    [],
    "subcontainers left without destroy-fs",
  );
  const left = [];
  try {
    for await (const entry of Deno.readDir(`${rt.root}/subcontainers`)) left.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  assert.deepEqual(left, [], "subcontainer directories left under <root>/subcontainers");
}

/** Asserts init ran the setupOnInit step's command in a temporary subcontainer, set up as the SDK does. */
async function assertInitSubcontainer(services: Services, eventId: string): Promise<void> {
  const { rt, fakes } = services;
  const made = rt.state.subcontainersMade.filter((fs) => fs.eventId === eventId);
  const init = made.find((fs) => fs.name === "init");
  assert.ok(init, `no create-fs named init for ${eventId}: ${JSON.stringify(made)}`);
  assert.equal(init.imageId, "main");
  assert.ok(
    rt.host.callsOf("subcontainer.destroy-fs").some((c) =>
      c.params.guid === init.guid && c.params.eventId === eventId
    ),
    "the init subcontainer was not destroyed with init's eventId",
  );
  const events = await fakes.events();
  const about = (e: FakeEvent) => e.detail.includes(init.rootfs);
  assert.deepEqual(eventsOf(events, "refused"), [], "a fake refused a call");
  assert.equal(eventsOf(events, "leader").filter(about).length, 1, "one leader for init");
  assert.equal(eventsOf(events, "leader-exit").filter(about).length, 1, "init's leader stopped");
  assert.ok(
    eventsOf(events, "bind-mount").some((e) =>
      e.detail === `--source /media/startos/volumes/main/ --target ${init.rootfs}/data --recursive`
    ),
    `volume main not bind-mounted on ${init.rootfs}/data: ${JSON.stringify(events)}`,
  );
  for (const shared of ["dev", "sys"]) {
    assert.ok(
      eventsOf(events, "mount").some((e) =>
        e.detail === `--rbind /${shared} ${init.rootfs}/${shared}`
      ),
      `/${shared} was not rbind-mounted into the init subcontainer`,
    );
  }
  const exec = eventsOf(events, "exec").find(about);
  assert.equal(
    exec?.detail,
    `exec user=root workdir=/ ${init.rootfs} sh -c echo "prepared $IMAGE_FLAVOR data"`,
  );
  // The command's stdout reached the package (the image's env file was applied).
  assert.ok(
    rt.runtime.stderr.some((l) => /init \((install|update)\): prepared fake data/.test(l)),
    `no init output in the runtime log:\n${logTail(rt)}`,
  );
}

/** Reads the package's config file from the volume, as the test sees it. */
async function readConfig(rt: SdkRuntime): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(`${rt.root}/volumes/main/config.json`));
}

/** What each exported action must do: the getInput answer and the run input and answer. */
const ACTIONS: Record<
  string,
  {
    checkInput(result: { spec: Record<string, unknown>; value: unknown }): void;
    input(value: unknown): unknown;
    checkRun(services: Services, result: unknown): Promise<void>;
  }
> = {
  configure: {
    checkInput: ({ spec, value }) => {
      assert.deepEqual(Object.keys(spec), ["name"]);
      // Prefilled from config.json (FileHelper read in the getInput child).
      assert.deepEqual(value, { name: "Services" });
    },
    input: (value) => ({ ...(value as object), name: "Renamed by the test" }),
    checkRun: async ({ rt, ports }, result) => {
      assert.deepEqual(result, {
        version: "1",
        title: "Saved",
        message: "config.json now names Renamed by the test",
        result: null,
      });
      // FileHelper.merge wrote the file; the ports init wrote are kept.
      assert.deepEqual(await readConfig(rt), { name: "Renamed by the test", ports });
    },
  },
  probe: {
    checkInput: ({ spec, value }) => {
      assert.deepEqual(spec, {});
      assert.equal(value, null);
    },
    input: () => null,
    checkRun: async ({ rt, fakes }, result) => {
      // The command ran through the fake start-container with the --env the package passed.
      assert.deepEqual((result as { result: unknown }).result, {
        type: "single",
        value: "probe: hello Renamed by the test",
        copyable: true,
        qr: false,
        masked: false,
      });
      const probe = rt.state.subcontainersMade.find((fs) => fs.name === "probe");
      assert.equal(probe?.eventId, "act-probe");
      assert.ok(
        !rt.state.subcontainers.has(probe.guid),
        "the probe subcontainer was not destroyed",
      );
      const events = await fakes.events();
      assert.ok(eventsOf(events, "exec").some((e) => e.detail.includes(probe.rootfs)));
    },
  },
};

Deno.test({
  name:
    "SDK services: install, actions, start until healthy, stop, backup and exit, as StartOS drives them",
  ignore: unavailable !== null,
  fn: async (t) => {
    await withServices({}, async (services) => {
      const { rt, fakes, ports } = services;
      const call = (method: string, params: unknown) => rt.client.call(method, params);

      const installed = await t.step("init {kind: install} runs the init steps", async () => {
        assertNullResult(rt, await call("init", { id: "init-1", kind: "install" }), "init");
        assert.deepEqual(rt.state.dataVersions, [CURRENT_VERSION]);
        await assertInitSubcontainer(services, "init-1");
        // setupOnInit wrote the FileHelper config file into the volume.
        assert.deepEqual(await readConfig(rt), { name: "Services", ports });
        // setInterfaces read it: one binding per daemon port, each exported.
        const binds = rt.host.callsOf("bind").map((c) => [c.params.id, c.params.internalPort]);
        assert.deepEqual(binds, [["first-multi", ports.first], ["second-multi", ports.second]]);
        assert.deepEqual(
          rt.host.callsOf("export-service-interface").map((c) => c.params.id),
          ["first", "second"],
        );
        await assertAllSubcontainersDestroyed(rt);
      });
      if (!installed) return;

      const acted = await t.step(
        "every exported action: getInput then run with the same id",
        async () => {
          const exported = rt.host.callsOf("action.export")
            .filter((c) => c.params.eventId === "init-1")
            .map((c) => String(c.params.id));
          assert.deepEqual(exported, Object.keys(ACTIONS));
          for (const id of exported) {
            const expected = ACTIONS[id];
            const eventId = `act-${id}`;
            const input = await call("execute", {
              id: eventId,
              procedure: `/actions/${id}/getInput`,
              input: { prefill: null },
              timeout: 30_000,
            });
            assert.ok(
              input.result,
              `getInput ${id}: ${JSON.stringify(input.error)}\n${logTail(rt)}`,
            );
            const answer = input.result as {
              eventId: string;
              spec: Record<string, unknown>;
              value: unknown;
            };
            assert.equal(answer.eventId, eventId);
            expected.checkInput(answer);
            const run = await call(
              "execute",
              runAction(id, expected.input(answer.value), eventId, 120_000),
            );
            assert.equal(
              run.error,
              undefined,
              `run ${id}: ${JSON.stringify(run.error)}\n${logTail(rt)}`,
            );
            await expected.checkRun(services, run.result);
          }
          await assertAllSubcontainersDestroyed(rt);
        },
      );
      if (!acted) return;

      const started = await t.step("start: every health check reports success", async () => {
        assertNullResult(rt, await call("start", {}), "start");
        const answeredAt = performance.now();
        const healthy = HEALTH_CHECKS.map((id) =>
          rt.host.waitFor("set-health", (p) => p.id === id && p.result === "success")
        );
        try {
          await within(Promise.all(healthy), HEALTHY_WITHIN_MS, "success from every health check");
        } catch (error) {
          const last = Object.values(rt.state.health).map((h) =>
            `${h.id}: ${h.result} ${h.message}`
          );
          throw new Error(
            `${(error as Error).message}\nlast health reports:\n${last.join("\n")}\n` +
              `runtime log:\n${logTail(rt)}`,
          );
        }
        const ms = Math.round(performance.now() - answeredAt);
        console.log(
          `all ${HEALTH_CHECKS.length} health checks reported success ${ms} ms after start answered`,
        );
        const events = await fakes.events();
        assert.deepEqual(eventsOf(events, "refused"), [], "a fake refused a call");
        // Each daemon's command ran in its own subcontainer, through `subcontainer exec`.
        const servers = eventsOf(events, "server").map((e) => Number(e.detail));
        assert.deepEqual(servers, [ports.first, ports.second]); // second requires first
        for (const name of ["first", "second"]) {
          const fs = rt.state.subcontainersMade.find((s) => s.name === name);
          assert.ok(fs, `no subcontainer named ${name}`);
          assert.equal(fs.eventId, undefined); // main's effects carry no eventId
          const port = ports[name as "first" | "second"];
          assert.ok(
            eventsOf(events, "exec").some((e) =>
              e.detail === `exec user=root workdir=/ ${fs.rootfs} fake-server ${port}`
            ),
            `no fake-server ${port} in ${name}'s subcontainer`,
          );
        }
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports.second });
        conn.close();
      });
      if (!started) return;

      const stopped = await t.step("stop: nothing main started is left", async () => {
        assertNullResult(rt, await call("stop", {}), "stop");
        const left = processesMatching(fakeNeedles(services));
        assert.deepEqual(left, [], "processes main started are still running");
        const events = await fakes.events();
        for (const e of [...eventsOf(events, "leader"), ...eventsOf(events, "server")]) {
          assert.equal(processExists(e.pid), false, `${e.event} ${e.pid} is still running`);
        }
        // The daemons were terminated the way the SDK does it (SIGTERM), not only killed.
        assert.deepEqual(
          eventsOf(events, "server-exit").map((e) => Number(e.detail)).sort(),
          [ports.first, ports.second].sort(),
        );
        for (const port of [ports.first, ports.second]) {
          await assert.rejects(
            Deno.connect({ hostname: "127.0.0.1", port }),
            Deno.errors.ConnectionRefused,
          );
        }
        await assertAllSubcontainersDestroyed(rt);
      });
      if (!stopped) return;

      const backedUp = await t.step(
        "/backup/create copies the volume into the backup",
        async () => {
          const outcome = await call("execute", {
            id: "backup-1",
            procedure: "/backup/create",
            input: null,
            timeout: null,
          });
          assertNullResult(rt, outcome, "backup");
          assert.deepEqual(
            JSON.parse(await Deno.readTextFile(`${rt.root}/backup/volumes/main/config.json`)),
            await readConfig(rt),
          );
          assert.equal(
            await Deno.readTextFile(`${rt.root}/backup/dataVersion.txt`),
            CURRENT_VERSION,
          );
        },
      );
      if (!backedUp) return;

      await t.step("exit {target: null}: the runtime exits 0 and removes its socket", async () => {
        assertNullResult(rt, await call("exit", { id: "exit-1", target: null }), "exit");
        // uninit with a null target (uninstall) cleared the data version.
        assert.equal(rt.state.dataVersions.at(-1), null);
        const status = await within(rt.runtime.status, 30_000, "runtime exit");
        assert.equal(status.code, 0, logTail(rt));
        await assert.rejects(Deno.lstat(`${rt.root}/rpc/service.sock`), Deno.errors.NotFound);
        assert.deepEqual(processesMatching(fakeNeedles(services)), []);
        await assertAllSubcontainersDestroyed(rt);
      });
    });
  },
});

Deno.test({
  name: "SDK services: init's .const() watch on config.json survives 30 action writes and still " +
    "re-binds when the ports change",
  ignore: unavailable !== null,
  fn: async () => {
    await withServices({}, async ({ rt, ports }) => {
      assertNullResult(rt, await rt.client.call("init", { id: "init-w", kind: "install" }), "init");
      // Each run merges config.json (FileHelper: truncate, then write) in the run child while the
      // package host watches it: it must never read the file half written.
      for (let i = 0; i < 30; i++) {
        const run = await rt.client.call(
          "execute",
          runAction("configure", { name: `Name ${i}` }, `act-w-${i}`),
        );
        assert.equal(run.error, undefined, JSON.stringify(run.error));
      }
      assert.equal((await readConfig(rt)).name, "Name 29");
      // Then the ports change (written whole: a rename over the file): the step re-runs and binds.
      const moved = ports.second + 7;
      const path = `${rt.root}/volumes/main/config.json`;
      await Deno.writeTextFile(
        `${path}.new`,
        JSON.stringify({ ...(await readConfig(rt)), ports: { ...ports, second: moved } }),
      );
      await Deno.rename(`${path}.new`, path);
      await within(
        rt.host.waitFor("bind", (p) => p.internalPort === moved),
        15_000,
        `a bind of the new port (the watch died?)\n${logTail(rt)}`,
      );
    });
  },
});

Deno.test({
  name: "SDK services: the package host watching config.json is retired; a port change replays " +
    "init in a fresh child, which re-binds",
  ignore: unavailable !== null,
  fn: async () => {
    await withServices({}, async ({ rt, ports }) => {
      assertNullResult(rt, await rt.client.call("init", { id: "init-r", kind: "install" }), "init");
      const retired = await within(
        rt.runtime.waitForLog(/but what it watches: retired/),
        15_000,
        `the host's retirement\n${logTail(rt)}`,
      );
      assert.match(retired ?? "", /watches=1/);
      assert.match(retired ?? "", /polls=2/, "the settings store and its -wal, polled");
      const moved = ports.second + 11;
      const path = `${rt.root}/volumes/main/config.json`;
      await Deno.writeTextFile(
        `${path}.new`,
        JSON.stringify({ ...(await readConfig(rt)), ports: { ...ports, second: moved } }),
      );
      await Deno.rename(`${path}.new`, path);
      const bound = await within(
        rt.host.waitFor("bind", (p) => p.internalPort === moved),
        15_000,
        `a bind of the new port\n${logTail(rt)}`,
      );
      assert.equal(bound.params.eventId, "init-r", "the replay speaks for the init it replays");
      assert.ok(rt.runtime.stderr.some((l) => /init replayed/.test(l)), logTail(rt));
      // A replay is no install: no progress of it reaches the host after init's own.
      const boundAt = rt.host.calls.indexOf(bound);
      const progressAt = rt.host.calls.findLastIndex((c) => c.method === "set-init-progress");
      assert.ok(progressAt !== -1 && progressAt < boundAt, "init progress sent by the replay");
      assertNullResult(rt, await rt.client.call("exit", { id: "exit-r", target: null }), "exit");
    });
  },
});

Deno.test({
  name: "SDK services: the host polling its settings store every 3 s is retired; the runtime " +
    "polls instead, and a store written later (absent at init) replays init, which binds the API",
  ignore: unavailable !== null,
  fn: async () => {
    await withServices({}, async ({ rt, ports }) => {
      assertNullResult(rt, await rt.client.call("init", { id: "init-p", kind: "install" }), "init");
      const retired = await within(
        rt.runtime.waitForLog(/but what it watches: retired/),
        20_000,
        `the host's retirement after its timer's ticks\n${logTail(rt)}`,
      );
      assert.match(retired ?? "", /polls=2/);
      assert.equal(
        rt.host.calls.some((c) => c.method === "bind" && c.params.id === "api-multi"),
        false,
        "no API interface while the store does not exist",
      );
      const apiPort = ports.second + 21;
      await Deno.writeTextFile(`${rt.root}/volumes/main/settings.db`, JSON.stringify({ apiPort }));
      const bound = await within(
        rt.host.waitFor("bind", (p) => p.internalPort === apiPort),
        20_000,
        `a bind of the API port (the poll missed the store?)\n${logTail(rt)}`,
      );
      assert.equal(bound.params.eventId, "init-p", "the replay speaks for the init it replays");
      assertNullResult(rt, await rt.client.call("exit", { id: "exit-p", target: null }), "exit");
    });
  },
});

Deno.test({
  name: "SDK services: init with an older stored data version runs the subcontainer migration",
  ignore: unavailable !== null,
  fn: async () => {
    await withServices({ hostState: { dataVersion: "1.0.0:0" } }, async (services) => {
      const { rt } = services;
      assertNullResult(
        rt,
        await rt.client.call("init", { id: "init-u", kind: "update" }),
        "init update",
      );
      const line = rt.runtime.stderr.find((l) =>
        l.includes("migration: up to 1.1.0:0: moved data to /data")
      );
      assert.match(line ?? "", /child=init#\d+/, `no migration output:\n${logTail(rt)}`);
      assert.equal(rt.state.dataVersions.at(-1), CURRENT_VERSION);
      // The migration ran in its own temporary subcontainer, before the setupOnInit step.
      const names = rt.state.subcontainersMade.map((fs) => [fs.name, fs.eventId]);
      assert.deepEqual(names, [["migrate-1.1.0", "init-u"], ["init", "init-u"]]);
      const migrate = rt.state.subcontainersMade[0];
      const events = await services.fakes.events();
      assert.ok(
        eventsOf(events, "exec").some((e) =>
          e.detail ===
            `exec user=root workdir=/ ${migrate.rootfs} sh -c echo "moved data to $TARGET"`
        ),
        JSON.stringify(events),
      );
      await assertInitSubcontainer(services, "init-u");
      await assertAllSubcontainersDestroyed(rt);
    });
  },
});
