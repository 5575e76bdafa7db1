/**
 * `bind-mount-read-only` (getInput, sandbox): the spawn broker runs `start-container bind-mount`,
 * then `mount -o remount,bind,ro <target>` before it reports the exit; when the remount fails, it
 * unmounts the target and the request fails. Programs here are stand-ins that record their
 * arguments; the broker runs without namespaces (`process-group`).
 */

import assert from "node:assert/strict";
import { defaultProfiles, type ProfileName } from "../../lib/policy/permissions.ts";
import { SPAWN_EXIT, SPAWN_OUTPUT, type SpawnExitParams } from "../../lib/protocol/channel.ts";
import { SubcontainerLedger } from "../../lib/effects/subcontainer_ledger.ts";
import { SpawnBroker, type SpawnChild } from "../../lib/process/spawn_broker.ts";
import { recordingLog } from "./fakes.ts";

/** A stand-in program: appends `<name> <args>` to the log, exits 1 when its args match `fail`. */
function standIn(log: string, name: string, fail?: string): string {
  const check = fail === undefined ? "" : `case "$*" in *${fail}*) exit 1 ;; esac\n`;
  return `#!/bin/sh\nprintf '%s %s\\n' ${name} "$*" >> '${log}'\n${check}exit 0\n`;
}

/** A child as the broker sees it, collecting what it is sent. */
function fakeChild(role: ProfileName, root: string): SpawnChild & { sent: [string, unknown][] } {
  const sent: [string, unknown][] = [];
  return {
    name: `${role}#1`,
    role,
    profile: defaultProfiles({ package: "/pkg", root })[role],
    pid: Deno.pid,
    eventId: "ev-1",
    inCall: true,
    notify: (method, params) => void sent.push([method, params]),
    logOutput: () => {},
    kill: () => Promise.resolve(),
    sent,
  };
}

/** Runs `start-container bind-mount` of the volume for `role`; returns the exit and the log. */
async function bindVolume(role: ProfileName, options: { failRemount?: boolean } = {}) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ro-mounts-" }));
  try {
    const root = `${dir}/root`;
    const rootfs = `${root}/subcontainers/g1`;
    for (const path of [`${root}/volumes/main`, `${rootfs}/data`, `${dir}/bin`]) {
      await Deno.mkdir(path, { recursive: true });
    }
    const log = `${dir}/programs.log`;
    await Deno.writeTextFile(log, "");
    const programs = {
      "start-container": standIn(log, "start-container"),
      mount: standIn(log, "mount", options.failRemount ? "remount" : undefined),
      umount: standIn(log, "umount"),
    };
    for (const [name, script] of Object.entries(programs)) {
      await Deno.writeTextFile(`${dir}/bin/${name}`, script, { mode: 0o755 });
    }
    const subcontainers = new SubcontainerLedger();
    const child = fakeChild(role, root);
    subcontainers.created(child, "ev-1", [rootfs, "g1"]);
    const { log: logger, lines } = recordingLog();
    const broker = new SpawnBroker({
      log: logger,
      root,
      containment: "process-group",
      canJoin: false,
      programDirs: [`${dir}/bin`],
      subcontainers,
      env: { PATH: "/usr/bin:/bin" },
    });
    const exited = new Promise<SpawnExitParams>((resolve) => {
      const notify = child.notify;
      child.notify = (method, params) => {
        notify(method, params);
        if (method === SPAWN_EXIT) resolve(params as SpawnExitParams);
      };
    });
    await broker.spawn(child, {
      command: "start-container",
      args: ["bind-mount", "--source", `${root}/volumes/main`, "--target", `${rootfs}/data`],
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const exit = await exited;
    const stderr = child.sent
      .filter(([method, p]) =>
        method === SPAWN_OUTPUT && (p as { stream: string }).stream === "stderr"
      )
      .map(([, p]) => atob((p as { data: string }).data)).join("");
    const programLog = (await Deno.readTextFile(log)).replaceAll(root, "<root>").trim().split("\n");
    return { exit, stderr, programLog, warnings: lines.filter((l) => l.level === "warn") };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const BIND = "start-container bind-mount --source <root>/volumes/main --target " +
  "<root>/subcontainers/g1/data";

Deno.test("SpawnBroker: a getInput or sandbox volume mount is made read-only before its exit is reported", async () => {
  for (const role of ["getInput", "sandbox"] as const) {
    const { exit, programLog } = await bindVolume(role);
    assert.equal(exit.code, 0, role);
    assert.deepEqual(programLog, [
      BIND,
      "mount -o remount,bind,ro <root>/subcontainers/g1/data",
    ]);
  }
});

Deno.test("SpawnBroker: run's volume mount stays writable", async () => {
  const { exit, programLog } = await bindVolume("run");
  assert.equal(exit.code, 0);
  assert.deepEqual(programLog, [BIND]);
});

Deno.test("SpawnBroker: a mount that cannot be made read-only is taken away and the request fails", async () => {
  const { exit, stderr, programLog, warnings } = await bindVolume("getInput", {
    failRemount: true,
  });
  assert.equal(exit.code, 1);
  assert.deepEqual(programLog, [
    BIND,
    "mount -o remount,bind,ro <root>/subcontainers/g1/data",
    "umount --lazy <root>/subcontainers/g1/data",
  ]);
  assert.match(stderr, /could not make .*\/subcontainers\/g1\/data read-only .*it was unmounted/);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0].msg, "a read-only bind mount could not be made read-only");
});

Deno.test("SpawnBroker: a command-less subcontainer exec fails as start-container's usage error would (59), not as a denial", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "usage-error-" }));
  const root = `${dir}/root`;
  const rootfs = `${root}/subcontainers/g1`;
  await Deno.mkdir(rootfs, { recursive: true });
  const subcontainers = new SubcontainerLedger();
  const child = fakeChild("main", root);
  subcontainers.created(child, null, [rootfs, "g1"]);
  const broker = new SpawnBroker({
    log: recordingLog().log,
    root,
    containment: "process-group",
    canJoin: false,
    programDirs: ["/nonexistent"],
    subcontainers,
    env: {},
  });
  // An image without entrypoint or cmd: `sdk.useEntrypoint()` gives no command after the rootfs.
  const refused = await broker.spawn(child, {
    command: "start-container",
    args: ["subcontainer", "exec", `--env-file=${root}/images/main.env`, rootfs],
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  }).then(() => null, (error) => error).finally(() => Deno.remove(dir, { recursive: true }));
  assert.equal(refused?.code, 59, String(refused?.message));
  assert.match(String(refused?.message), /no command given/);
});
