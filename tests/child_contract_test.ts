/**
 * The child contract: the same cases run against the unit tests' `FakeChild` and a real `Child`
 * (a Deno process spawned by the `ChildLauncher`), so that what the pool and the process system
 * are tested against with fakes is what a real child does.
 */

import assert from "node:assert/strict";
import { SubcontainerLedger } from "../lib/effects/subcontainer_ledger.ts";
import { defaultProfiles } from "../lib/policy/permissions.ts";
import { resolveDeno, resolveDenoDir, resolveWorkerEntry } from "../lib/process/child_binary.ts";
import type { ChildHandle } from "../lib/process/child_handle.ts";
import { ChildLauncher } from "../lib/process/child_launcher.ts";
import { probeContainment } from "../lib/process/spawn.ts";
import { SpawnBroker } from "../lib/process/spawn_broker.ts";
import type { RunParams } from "../lib/protocol/channel.ts";
import { FakeChild, silentLog } from "./unit/fakes.ts";

const PACKAGE = new URL("./fixtures/contract/index.js", import.meta.url).pathname;

/** A run of the contract fixture's action `actionId` with `input`. */
function action(actionId: string, input: unknown, eventId = crypto.randomUUID()): RunParams {
  return { fn: "run", eventId, args: { actionId, input } };
}

/** Makes children of one implementation; `close` ends what it started. */
interface Implementation {
  make(): Promise<ChildHandle>;
  close(): Promise<void>;
}

/** Fakes that answer as the contract fixture does: `echo` answers its input, `hang` never. */
function fakes(): Implementation {
  return {
    make: () =>
      Promise.resolve(
        new FakeChild({
          answer: (params) =>
            params.args.actionId === "echo"
              ? params.args.input
              : new Promise(() => {}) as unknown as undefined,
        }),
      ),
    close: () => Promise.resolve(),
  };
}

/** Real children of the run profile, running the contract fixture. */
async function reals(): Promise<Implementation> {
  const env = (name: string) => Deno.env.get(name);
  const containment = await probeContainment();
  const subcontainers = new SubcontainerLedger();
  const launcher = await ChildLauncher.create({
    log: silentLog,
    denoPath: resolveDeno(env),
    workerEntry: resolveWorkerEntry(env),
    packagePath: PACKAGE,
    env: { DENO_DIR: resolveDenoDir(env) },
    containment: containment.mode,
    helloDeadlineMs: 30_000,
    spawnBroker: new SpawnBroker({
      log: silentLog,
      root: "/nonexistent",
      containment: containment.mode,
      canJoin: containment.canJoin,
      programDirs: [],
      subcontainers,
      env: {},
    }),
    admit: () => {},
    onEffect: () => Promise.resolve(null),
    onDropCallbacks: () => {},
    onExit: () => {},
  });
  const profile =
    defaultProfiles({ package: PACKAGE.slice(0, PACKAGE.lastIndexOf("/")), root: "/" })
      .run;
  return {
    make: () => Promise.resolve(launcher.spawn("run", profile)),
    close: () => launcher.shutdown(),
  };
}

/** The cases every `ChildHandle` must pass. */
const CASES: { name: string; run(child: ChildHandle): Promise<void> }[] = [
  {
    name: "a call made before it is ready waits for it and is answered",
    run: async (child) => {
      assert.equal(await child.run(action("echo", "early")), "early");
    },
  },
  {
    name: "becomes ready and answers a call with the package's result",
    run: async (child) => {
      await child.ready;
      assert.equal(child.hasExited, false);
      assert.deepEqual(await child.run(action("echo", { n: 1 })), { n: 1 });
      // One call at a time, then the next.
      assert.equal(await child.run(action("echo", 2)), 2);
    },
  },
  {
    name: "kill ends it: a pending call rejects, exited resolves, later calls reject",
    run: async (child) => {
      await child.ready;
      const pending = child.run(action("hang", null));
      const outcome = pending.then(() => "answered", () => "rejected");
      await child.kill();
      assert.equal(await outcome, "rejected");
      assert.equal(child.hasExited, true);
      const status = await child.exited;
      assert.equal(status.success, false);
      await assert.rejects(child.run(action("echo", 3)));
    },
  },
  {
    name: "terminate ends it on its own",
    run: async (child) => {
      await child.ready;
      child.terminate();
      await child.exited;
      assert.equal(child.hasExited, true);
    },
  },
];

for (const [label, implementation] of [["FakeChild", fakes], ["Child", reals]] as const) {
  for (const testCase of CASES) {
    Deno.test(`child contract (${label}): ${testCase.name}`, async () => {
      const made = await implementation();
      try {
        const child = await made.make();
        try {
          await testCase.run(child);
        } finally {
          if (!child.hasExited) await child.kill();
        }
      } finally {
        await made.close();
      }
    });
  }
}
