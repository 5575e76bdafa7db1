/** The spawn broker's table: the forms start-sdk 2.0.9 uses pass, everything else is refused. */

import assert from "node:assert/strict";
import { checkSpawn, type SpawnContext, type SpawnDecision } from "../../lib/policy/spawn_rules.ts";
import { defaultProfiles } from "../../lib/policy/permissions.ts";

const ROOT = "/media/startos";
const ROOTFS = `${ROOT}/subcontainers/g1`;
const profiles = defaultProfiles({ package: "/pkg", root: ROOT });

/** Paths that exist; a value other than the key is where a symlink there points. */
const FILES: Record<string, string> = {
  [`${ROOT}/volumes/main`]: `${ROOT}/volumes/main`,
  [`${ROOT}/volumes/main/link`]: "/etc",
  [`${ROOT}/assets`]: `${ROOT}/assets`,
  [`${ROOT}/backup`]: `${ROOT}/backup`,
  [`${ROOT}/backup/volumes/main`]: `${ROOT}/backup/volumes/main`,
  [ROOTFS]: ROOTFS,
  [`${ROOTFS}/data`]: `${ROOTFS}/data`,
  [`${ROOTFS}/dev`]: `${ROOTFS}/dev`,
  [`${ROOTFS}/backup-target`]: `${ROOTFS}/backup-target`,
  [`${ROOTFS}/etc/x.conf`]: `${ROOTFS}/etc/x.conf`,
  [`${ROOTFS}/escape`]: "/usr/bin",
  [`${ROOT}/subcontainers/other`]: `${ROOT}/subcontainers/other`,
  [`${ROOT}/subcontainers/other/dev`]: `${ROOT}/subcontainers/other/dev`,
};

function context(
  profile: keyof typeof profiles,
  extra: Partial<SpawnContext> = {},
): SpawnContext {
  return {
    root: ROOT,
    profile,
    allowed: profiles[profile].spawn,
    rootfs: [ROOTFS],
    mounts: [],
    // Paths outside the root exist as they are (/, /etc, /dev); inside it only FILES do.
    realPath: (path) => FILES[path] ?? (path.startsWith(`${ROOT}/`) ? null : path),
    listDir: () => null,
    ...extra,
  };
}

function ok(decision: SpawnDecision): string {
  assert.ok(decision.ok, decision.ok ? "" : `${decision.argument}: ${decision.reason}`);
  return decision.operation;
}

function refused(decision: SpawnDecision, reason: RegExp): void {
  assert.ok(!decision.ok, `allowed: ${JSON.stringify(decision)}`);
  assert.match(`${decision.argument}: ${decision.reason}`, reason);
}

Deno.test("checkSpawn allows the SubContainer forms start-sdk runs", () => {
  const run = context("run");
  assert.equal(
    ok(checkSpawn("start-container", ["subcontainer", "launch", ROOTFS], run)),
    "subcontainer-launch",
  );
  assert.equal(
    ok(checkSpawn("start-container", [
      "subcontainer",
      "exec",
      `--env-file=${ROOT}/images/main.env`,
      "--user=root",
      "--workdir=/",
      "--env=TARGET=/data",
      ROOTFS,
      "sh",
      "-c",
      "echo --not-an-option",
    ], run)),
    "subcontainer-exec",
  );
  const bind = checkSpawn("start-container", [
    "bind-mount",
    "--source",
    `${ROOT}/volumes/main`,
    "--target",
    `${ROOTFS}/data`,
    "--recursive",
    "--idmap",
    "0:100000:65536",
  ], run);
  assert.equal(ok(bind), "bind-mount");
  assert.deepEqual(bind.ok && bind.mount, {
    source: `${ROOT}/volumes/main`,
    target: `${ROOTFS}/data`,
  });
  // Assets are bound from `/media/startos/assets/${subpath}`: a doubled slash is the same path.
  assert.equal(
    ok(
      checkSpawn("/usr/bin/start-container", [
        "bind-mount",
        "--source",
        `${ROOT}/assets//`,
        "--target",
        `${ROOTFS}/etc/x.conf`,
        "--recursive",
        "--file",
      ], run),
    ),
    "bind-mount",
  );
  assert.equal(ok(checkSpawn("mount", ["--rbind", "/dev", `${ROOTFS}/dev`], run)), "rbind-shared");
});

Deno.test("checkSpawn allows Backups' rbind and rsync forms only to backup and init", () => {
  const rsyncArgs = (src: string, dst: string) => [
    "--delete",
    "--exclude=cache",
    "-rlptgoAXH",
    "--partial",
    "--inplace",
    "--timeout=300",
    "--info=progress2",
    src,
    dst,
  ];
  const toBackup = rsyncArgs(`${ROOT}/volumes/main/`, `${ROOT}/backup/volumes/main/`);
  const toVolume = rsyncArgs(`${ROOT}/backup/volumes/main/`, `${ROOT}/volumes/main/`);
  assert.equal(ok(checkSpawn("rsync", toBackup, context("backup"))), "rsync-backup");
  assert.equal(ok(checkSpawn("rsync", toVolume, context("init"))), "rsync-restore");
  refused(checkSpawn("rsync", toVolume, context("backup")), /may not rsync-restore/);
  refused(checkSpawn("rsync", toBackup, context("init")), /may not rsync-backup/);
  refused(checkSpawn("rsync", toBackup, context("run")), /may not run rsync at all/);
  const rbind = ["--rbind", `${ROOT}/backup`, `${ROOTFS}/backup-target`];
  assert.equal(ok(checkSpawn("mount", rbind, context("backup"))), "rbind-backup");
  refused(checkSpawn("mount", rbind, context("main")), /may not rbind-backup/);
});

Deno.test("checkSpawn refuses options that run programs, read file lists or reach other hosts", () => {
  const backup = context("backup");
  const src = `${ROOT}/volumes/main/`;
  const dst = `${ROOT}/backup/volumes/main/`;
  for (
    const option of [
      "-e",
      "--rsh=sh",
      "--rsync-path=sh",
      "--files-from=/etc/passwd",
      "-L",
      "--daemon",
    ]
  ) {
    refused(
      checkSpawn("rsync", [option, src, dst], backup),
      /is not an option start-sdk's Backups passes/,
    );
  }
  refused(
    checkSpawn("rsync", [src, "localhost:/tmp"], backup),
    /localhost:\/tmp: not an absolute path/,
  );
  refused(checkSpawn("rsync", ["/etc/", dst], backup), /rsync copies only between/);
  refused(checkSpawn("rsync", [src, dst, "/tmp/x"], backup), /exactly a source and a destination/);
});

Deno.test("checkSpawn refuses paths outside the form's places, through symlinks or with '..'", () => {
  const run = context("run");
  const bind = (source: string, target: string) =>
    checkSpawn("start-container", ["bind-mount", "--source", source, "--target", target], run);
  refused(
    bind("/", `${ROOTFS}/data`),
    /is not under \/media\/startos\/volumes or \/media\/startos\/assets/,
  );
  refused(bind(`${ROOT}/volumes/main/../../rpc`, `${ROOTFS}/data`), /'\.' or '\.\.' segment/);
  refused(
    bind(`${ROOT}/volumes/main/link`, `${ROOTFS}/data`),
    /goes through a symlink \(it resolves to \/etc\)/,
  );
  refused(bind(`${ROOT}/volumes/main`, `${ROOTFS}/escape`), /goes through a symlink/);
  refused(
    bind(`${ROOT}/volumes/main`, "/usr/bin/mount"),
    /does not exist|not inside a subcontainer/,
  );
  refused(bind(`${ROOT}/volumes/main`, ROOTFS), /not inside a subcontainer this child created/);
  refused(
    checkSpawn("mount", ["--rbind", "/dev", `${ROOT}/subcontainers/other/dev`], run),
    /not inside a subcontainer this child created/,
  );
  refused(checkSpawn("mount", ["--rbind", "/", `${ROOTFS}/dev`], run), /only \/dev, \/sys, \/run/);
  refused(checkSpawn("mount", ["--bind", "/dev", `${ROOTFS}/dev`], run), /only `mount --rbind/);
  refused(checkSpawn("mount", ["-o", "remount,rw", "/"], run), /only `mount --rbind/);
  // Below an earlier brokered mount, the path is checked where it really is (the mount's source).
  const mounted = context("run", {
    mounts: [{ target: `${ROOTFS}/data`, source: `${ROOT}/volumes/main` }],
  });
  refused(
    checkSpawn("mount", ["--rbind", "/dev", `${ROOTFS}/data/link`], mounted),
    /goes through a symlink \(it resolves to \/etc\)/,
  );
});

Deno.test("checkSpawn refuses subcontainers this child did not create and commands start-sdk never runs", () => {
  const run = context("run");
  refused(
    checkSpawn("start-container", ["subcontainer", "exec", "/", "sh"], run),
    /not a subcontainer this child created/,
  );
  refused(
    checkSpawn(
      "start-container",
      ["subcontainer", "exec", `${ROOT}/subcontainers/other`, "sh"],
      run,
    ),
    /not a subcontainer this child created/,
  );
  refused(
    checkSpawn("start-container", [
      "subcontainer",
      "exec",
      "--env-file=/etc/shadow",
      ROOTFS,
      "true",
    ], run),
    /the env file must be \/media\/startos\/images\/<image>\.env/,
  );
  refused(
    checkSpawn("start-container", ["subcontainer", "exec", "--privileged", ROOTFS, "true"], run),
    /is not an option start-sdk passes/,
  );
  refused(checkSpawn("start-container", ["rebuild"], run), /only `start-container subcontainer/);
  refused(
    checkSpawn("start-container", ["subcontainer", "destroy", ROOTFS], run),
    /only `subcontainer launch`/,
  );
  refused(
    checkSpawn("/tmp/mount", ["--rbind", "/dev", `${ROOTFS}/dev`], run),
    /is not a program the runtime runs/,
  );
  refused(checkSpawn("sh", ["-c", "id"], run), /^id: is not one of the file utilities/);
  refused(checkSpawn("python3", ["-c", "1"], run), /is not a program the runtime runs/);
  // A usage error of start-container, not a denial: marked so the broker answers it as one.
  const usage = checkSpawn("start-container", ["subcontainer", "exec", ROOTFS], run);
  assert.deepEqual(usage, {
    ok: false,
    argument: null,
    reason: "no command given",
    malformed: true,
  });
  // A procedure child without a subcontainer of its own call has nothing to launch.
  refused(
    checkSpawn(
      "start-container",
      ["subcontainer", "launch", ROOTFS],
      context("run", { rootfs: [] }),
    ),
    /not a subcontainer this child created/,
  );
  // getInput and sandbox run read commands in subcontainers, but never rsync or the backup.
  for (const profile of ["getInput", "sandbox"] as const) {
    refused(
      checkSpawn(
        "rsync",
        ["-rlptgoAXH", `${ROOT}/volumes/main`, `${ROOT}/backup`],
        context(profile),
      ),
      /may not run rsync at all/,
    );
    refused(
      checkSpawn(
        "mount",
        ["--rbind", `${ROOT}/backup`, `${ROOTFS}/backup-target`],
        context(profile),
      ),
      /may not rbind-backup/,
    );
  }
});

Deno.test("checkSpawn makes volume mounts read-only for getInput and sandbox, not for run", () => {
  const args = ["bind-mount", "--source", `${ROOT}/volumes/main`, "--target", `${ROOTFS}/data`];
  for (const profile of ["getInput", "sandbox"] as const) {
    const decision = checkSpawn("start-container", args, context(profile));
    assert.ok(decision.ok);
    assert.equal(decision.operation, "bind-mount-read-only");
    assert.equal(decision.readOnly, true);
    assert.deepEqual(decision.mount, { target: `${ROOTFS}/data`, source: `${ROOT}/volumes/main` });
    // The rest of what SubContainer runs is the same as for run.
    assert.equal(
      ok(checkSpawn("mount", ["--rbind", "/dev", `${ROOTFS}/dev`], context(profile))),
      "rbind-shared",
    );
    assert.equal(
      ok(checkSpawn("start-container", ["subcontainer", "exec", ROOTFS, "ls"], context(profile))),
      "subcontainer-exec",
    );
  }
  const run = checkSpawn("start-container", args, context("run"));
  assert.ok(run.ok);
  assert.equal(run.operation, "bind-mount");
  assert.equal(run.readOnly, undefined);
  // A profile allowed both mounts gets the writable one; one allowed neither, none.
  const both = context("run", { allowed: ["bind-mount", "bind-mount-read-only"] });
  assert.equal(ok(checkSpawn("start-container", args, both)), "bind-mount");
  refused(
    checkSpawn("start-container", args, context("run", { allowed: ["subcontainer-exec"] })),
    /may not bind-mount/,
  );
});
