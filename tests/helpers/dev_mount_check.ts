/**
 * Test helper, run by tests/dev_test.ts inside `unshare --mount --propagation private` (so every
 * mount it makes ends with it): builds a subcontainer rootfs under `<dir>` with a tmpfs standing in
 * for an rbind of /dev and a bind mount of a volume, then checks that `removeTree` refuses to
 * cross them and that the dev host's `destroy-fs` unmounts them before removing the rootfs. Prints
 * one JSON object.
 *
 * argv: <dir>
 */

import { createLogger } from "../../lib/log.ts";
import { MountPointError, removeTree } from "../../lib/dev/remove_tree.ts";
import { Subcontainers } from "../../lib/dev/subcontainers.ts";

const dir = Deno.args[0];
const sh = async (script: string) => {
  const out = await new Deno.Command("/bin/sh", { args: ["-c", script, dir] }).output();
  if (!out.success) throw new Error(`${script}: ${new TextDecoder().decode(out.stderr)}`);
};
const exists = (path: string) => {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

const guid = "g1";
const rootfs = `${dir}/subcontainers/${guid}`;
await sh([
  'mkdir -p "$0/fake-dev" "$0/volumes/main" "$0/subcontainers/g1/dev" "$0/subcontainers/g1/data"',
  'mount -t tmpfs startos-dev-test "$0/fake-dev"',
  'echo device > "$0/fake-dev/sentinel"',
  'echo data > "$0/volumes/main/sentinel"',
  'echo rootfs > "$0/subcontainers/g1/own-file"',
  'mount --rbind "$0/fake-dev" "$0/subcontainers/g1/dev"',
].join(" && "));

// 1. Only the other-device mount is there: the walk stops at it.
let crossDevice = "";
try {
  await removeTree(rootfs);
} catch (error) {
  if (error instanceof MountPointError) crossDevice = error.path;
  else throw error;
}
const deviceKept1 = exists(`${dir}/fake-dev/sentinel`);

// 2. A same-device bind mount the caller names: refused too.
await sh(
  'mkdir -p "$0/subcontainers/g1/data" && mount --bind "$0/volumes/main" "$0/subcontainers/g1/data"',
);
let named = "";
try {
  await removeTree(rootfs, new Set([`${rootfs}/data`, `${rootfs}/dev`]));
} catch (error) {
  if (error instanceof MountPointError) named = error.path;
  else throw error;
}

// 3. destroy-fs: unmounts both, then removes the rootfs; the volume and the device are untouched.
const subcontainers = new Subcontainers({
  root: dir,
  seenRoot: dir,
  images: new Set(),
  log: createLogger({ write: () => {} }),
});
await subcontainers.destroy(guid);

console.log(JSON.stringify({
  crossDevice,
  deviceKept1,
  named,
  rootfsGone: !exists(rootfs),
  volumeKept: Deno.readTextFileSync(`${dir}/volumes/main/sentinel`),
  deviceKept: Deno.readTextFileSync(`${dir}/fake-dev/sentinel`),
}));
