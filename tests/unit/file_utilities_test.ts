/**
 * The file utilities the spawn broker runs for package code (lib/policy/file_utilities.ts): what
 * published packages' migrations run passes, rebuilt with every word quoted; anything a shell
 * would do beyond simple commands of those utilities on the volumes is refused, naming it.
 */

import assert from "node:assert/strict";
import {
  checkFileUtility,
  type FileUtilityRun,
  type FileView,
  MAX_GLOB_MATCHES,
} from "../../lib/policy/file_utilities.ts";
import { checkSpawn } from "../../lib/policy/spawn_rules.ts";
import { defaultProfiles } from "../../lib/policy/permissions.ts";

const ROOT = "/media/startos";
const V = `${ROOT}/volumes`;

/** Paths that exist (a value other than the key: a symlink to it), and directory listings. */
const FILES: Record<string, string> = {
  [ROOT]: ROOT,
  [V]: V,
  [`${V}/main`]: `${V}/main`,
  [`${V}/main/data`]: `${V}/main/data`,
  [`${V}/main/data/a.db`]: `${V}/main/data/a.db`,
  [`${V}/main/data/b.db`]: `${V}/main/data/b.db`,
  [`${V}/main/data/.hidden`]: `${V}/main/data/.hidden`,
  [`${V}/main/data/lnk`]: "/etc/shadow",
  [`${V}/main/etc-link`]: "/etc",
  [`${V}/main/dir-link`]: `${V}/db`,
  [`${V}/db`]: `${V}/db`,
  [`${ROOT}/assets`]: `${ROOT}/assets`,
  [`${ROOT}/assets/defaults`]: `${ROOT}/assets/defaults`,
};
const DIRS: Record<string, string[]> = {
  [`${V}/main/data`]: ["b.db", "a.db", ".hidden", "lnk"],
  [`${V}/big`]: Array.from({ length: MAX_GLOB_MATCHES + 1 }, (_, i) => `f${i}`),
};

const view: FileView = {
  root: ROOT,
  realPath: (path) => FILES[path] ?? (path.startsWith(`${ROOT}/`) ? null : path),
  listDir: (path) => DIRS[path] ?? null,
};

function sh(script: string): FileUtilityRun {
  return checkFileUtility("sh", ["-c", script], view);
}

/** Asserts that `run` throws a refusal whose argument and reason match. */
function refused(run: () => unknown, reason: RegExp): void {
  try {
    run();
  } catch (error) {
    const { argument, message } = error as { argument: string | null; message: string };
    assert.match(`${argument}: ${message}`, reason);
    return;
  }
  assert.fail(`not refused (expected ${reason})`);
}

Deno.test("sh -c of a migration's mv: the glob expanded (no dot files), the script rebuilt quoted", () => {
  const run = sh(`mv ${V}/main/data/*.db ${V}/db`);
  assert.deepEqual(run, {
    program: "sh",
    args: [
      "-c",
      `PATH=/usr/bin:/bin; 'mv' '${V}/main/data/a.db' '${V}/main/data/b.db' '${V}/db' ;`,
    ],
  });
  // A symlink matched by a glob is moved as a link (mv acts on the link).
  assert.match(
    sh(`mv ${V}/main/data/* ${V}/db`).args[1],
    /'\/media\/startos\/volumes\/main\/data\/lnk' '/,
  );
  // Nothing matches: the word stays as written (the utility then says the file is missing).
  assert.match(
    sh(`rm -f ${V}/main/data/*.tmp`).args[1],
    /'rm' '-f' '\/media\/startos\/volumes\/main\/data\/\*\.tmp'/,
  );
});

Deno.test("sh -c: && || ; and newlines, quotes, every utility with its usual options", () => {
  const script = [
    `mkdir -p ${V}/db/new && chown -R 1000:1000 ${V}/db/new || chmod -R u+rwX,go-w ${V}/db`,
    `cp -a ${ROOT}/assets/defaults '${V}/db/with space'; touch "${V}/db/.migrated"`,
    `rm -rf ${V}/main/start9 ; chmod 700 ${V}/db`,
    `mkdir -m 0750 ${V}/db/x; mv -f -- ${V}/main/data/a.db ${V}/db/a.db`,
  ].join("\n");
  const rebuilt = sh(script).args[1];
  assert.equal(
    rebuilt,
    "PATH=/usr/bin:/bin; " +
      `'mkdir' '-p' '${V}/db/new' && 'chown' '-R' '1000:1000' '${V}/db/new' || ` +
      `'chmod' '-R' 'u+rwX,go-w' '${V}/db' ; ` +
      `'cp' '-a' '${ROOT}/assets/defaults' '${V}/db/with space' ; 'touch' '${V}/db/.migrated' ; ` +
      `'rm' '-rf' '${V}/main/start9' ; 'chmod' '700' '${V}/db' ; ` +
      `'mkdir' '-m' '0750' '${V}/db/x' ; 'mv' '-f' '--' '${V}/main/data/a.db' '${V}/db/a.db' ;`,
  );
  // A quote in a name is kept inside one quoted word.
  assert.match(sh(`touch "${V}/db/it's"`).args[1], /'\/media\/startos\/volumes\/db\/it'\\''s'/);
  // bash is served the same way; direct calls keep their arguments.
  assert.equal(checkFileUtility("bash", ["-c", `rm ${V}/db/x`], view).program, "sh");
  assert.deepEqual(checkFileUtility("/usr/bin/chown", ["-R", "app:app", `${V}/db`], view), {
    program: "chown",
    args: ["-R", "app:app", `${V}/db`],
  });
});

Deno.test("sh -c: output thrown away to /dev/null, `|| true` and `echo`, as idempotent migrations write them", () => {
  assert.equal(
    sh(`mv ${V}/main/data/*.db ${V}/db 2>/dev/null || true`).args[1],
    `PATH=/usr/bin:/bin; 'mv' '${V}/main/data/a.db' '${V}/main/data/b.db' '${V}/db' 2>/dev/null || ` +
      `'true' ;`,
  );
  assert.equal(
    sh(`rm -rf ${V}/main/start9 >/dev/null 2>&1; echo 'moved' &> /dev/null`).args[1],
    `PATH=/usr/bin:/bin; 'rm' '-rf' '${V}/main/start9' >/dev/null 2>&1 ; 'echo' 'moved' >/dev/null 2>&1 ;`,
  );
  assert.match(
    sh(`touch ${V}/db/x 1>>/dev/null`).args[1],
    /'touch' '\/media\/startos\/volumes\/db\/x' 1>>\/dev\/null ;$/,
  );
  for (
    const [script, reason] of [
      [`touch ${V}/db/x 2>/tmp/log`, /a redirection \(>\) of anything but output to \/dev\/null/],
      [`touch ${V}/db/x >&3`, /to anything but 1 or 2/],
      [`touch ${V}/db/x'2'>/dev/null`, /a redirection/],
      [`echo ${V}/main/data/*`, /is a glob given to echo/],
      [`2>/dev/null`, /follows no command/],
    ] as [string, RegExp][]
  ) refused(() => sh(script), reason);
});

Deno.test("sh -c refuses every construct beyond simple commands of the file utilities", () => {
  const cases: [string, RegExp][] = [
    [`mv $(ls ${V}) ${V}/db`, /a variable or substitution/],
    [`mv \`ls\` ${V}/db`, /command substitution/],
    [`mv "${V}/$X" ${V}/db`, /inside double quotes/],
    [`touch ${V}/db/a > /etc/passwd`, /a redirection/],
    [`rm ${V}/db/a | tee`, /a pipe/],
    [`rm ${V}/db/a &`, /a background job/],
    [`(rm ${V}/db/a)`, /a subshell/],
    [`rm ${V}/db/a\\ b`, /a backslash/],
    [`cat /etc/shadow`, /^cat: is not one of the file utilities/],
    [`cd ${V} && rm -rf db`, /^cd: is not one of the file utilities/],
    [`FOO=1 rm ${V}/db/a`, /^FOO=1: is not one of the file utilities/],
    [`/usr/local/bin/mv ${V}/db/a ${V}/db/b`, /is not one of the file utilities/],
    [`rm ${V}/db/a &&`, /ends with &&/],
    [`&& rm ${V}/db/a`, /&& follows no command/],
    [``, /has no command/],
    [`rm '${V}/db/a`, /does not end/],
    [`# rm -rf /`, /a comment/],
    [`rm ~/x`, /a home directory/],
    [`rm ${V}/*/data`, /glob outside its last component/],
    [`rm ${V}/big/*`, /matches more than/],
  ];
  for (const [script, reason] of cases) refused(() => sh(script), reason);
  refused(() => checkFileUtility("sh", ["-c", "true", "x"], view), /only `sh -c SCRIPT` is run/);
  refused(() => checkFileUtility("sh", ["-e", "-c", "true"], view), /only `sh -c SCRIPT` is run/);
});

Deno.test("every path is below the volumes (a cp source also the assets), without . or .. or a symlink on the way", () => {
  const cases: [string, string[], RegExp][] = [
    ["rm", ["-rf", "/"], /^\/: is not below \/media\/startos\/volumes/],
    ["rm", ["-rf", V], /is not below/],
    ["mv", [`${ROOT}/rpc/host.sock`, `${V}/db`], /host\.sock: is not below/],
    ["cp", [`${V}/db/a`, `${ROOT}/assets/x`], /assets\/x: is not below \/media\/startos\/volumes$/],
    ["chown", ["root", `${V}/../../etc/shadow`], /contains a '\.' or '\.\.' segment/],
    ["touch", ["db/relative"], /not an absolute path/],
    [
      "touch",
      [`${V}/main/etc-link/cron.d/x`],
      /goes through a symlink \(\/media\/startos\/volumes\/main\/etc-link is \/etc\)/,
    ],
    [
      "chmod",
      ["777", `${V}/main/data/lnk`],
      /is a symlink \(to \/etc\/shadow\), which the utility would follow/,
    ],
    ["chown", ["root", `${V}/main/data/lnk`], /is a symlink/],
    ["mv", [`${V}/db/a`, `${V}/main/dir-link`], /dir-link: is a symlink/],
    ["cp", [`${V}/main/data/lnk`, `${V}/db/x`], /lnk: is a symlink/],
    ["mkdir", [`${V}/main/etc-link`], /is a symlink/],
  ];
  for (const [utility, args, reason] of cases) {
    refused(() => checkFileUtility(utility, args, view), reason);
  }
  // Where the utility acts on the link itself, a symlink is fine.
  for (
    const [utility, args] of [
      ["rm", [`${V}/main/data/lnk`]],
      ["mv", [`${V}/main/data/lnk`, `${V}/db/lnk`]],
      ["chown", ["-h", "root", `${V}/main/data/lnk`]],
      ["cp", ["-P", `${V}/main/data/lnk`, `${V}/db/lnk`]],
    ] as [string, string[]][]
  ) {
    assert.equal(checkFileUtility(utility, args, view).program, utility, args.join(" "));
  }
});

Deno.test("only the options the table lists: nothing that follows links or reads a reference", () => {
  const cases: [string, string[], RegExp][] = [
    ["cp", ["-L", `${V}/db/a`, `${V}/db/b`], /^-L: is not an option the runtime passes to cp/],
    ["cp", ["-rL", `${V}/db/a`, `${V}/db/b`], /^-rL: is not an option/],
    ["chown", ["-L", "root", `${V}/db`], /^-L: is not an option/],
    ["chown", [`--reference=${V}/db/a`, `${V}/db`], /--reference=.*is not an option/],
    ["touch", ["-r", "/etc/shadow", `${V}/db/a`], /^-r: is not an option/],
    ["mkdir", ["-m", "u+x", `${V}/db/a`], /takes an octal mode/],
    ["chmod", ["-w", `${V}/db/a`], /^-w: is not an option/],
    ["chown", ["root;id", `${V}/db`], /is not an owner/],
    ["chmod", ["7777777", `${V}/db`], /is not a mode/],
    ["rm", ["-rf"], /rm names no path/],
    ["ln", ["-s", "/etc", `${V}/db/etc`], /^ln: is not a file utility/],
  ];
  for (const [utility, args, reason] of cases) {
    refused(() => checkFileUtility(utility, args, view), reason);
  }
});

Deno.test("checkSpawn: the file utilities for every profile that writes the volumes, never getInput or sandbox", () => {
  const profiles = defaultProfiles({ package: "/pkg", root: ROOT });
  for (const name of ["init", "main", "run", "backup", "getInput", "sandbox"] as const) {
    const decision = checkSpawn("sh", ["-c", `rm -rf ${V}/main/start9`], {
      root: ROOT,
      profile: name,
      allowed: profiles[name].spawn,
      rootfs: [],
      mounts: [],
      realPath: view.realPath,
      listDir: view.listDir,
    });
    const writes = name !== "getInput" && name !== "sandbox";
    assert.equal(decision.ok, writes, name);
    if (!decision.ok) assert.match(decision.reason, /may not run sh at all/);
    else assert.equal(decision.operation, "file-utilities");
  }
});
