/** The mount guard's reading of mount tables: what counts as a stray mount. */

import assert from "node:assert/strict";
import { mountPoints, strayMounts } from "../../lib/process/mount_guard.ts";

const TABLE = [
  "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
  "23 22 0:22 / /proc rw,nosuid - proc proc rw",
  "40 22 0:30 / /media/startos/subcontainers/g1/dev rw - devtmpfs udev rw",
  "41 22 0:31 / /media/with\\040space rw - tmpfs x rw",
  "",
].join("\n");

Deno.test("mountPoints reads field 5 of each line and undoes octal escapes", () => {
  assert.deepEqual(mountPoints(TABLE), [
    "/",
    "/proc",
    "/media/startos/subcontainers/g1/dev",
    "/media/with space",
  ]);
});

Deno.test("strayMounts keeps only what is neither the runtime's nor inside the child's rootfs", () => {
  const runtime = ["/", "/proc"];
  const rootfs = ["/media/startos/subcontainers/g1"];
  assert.deepEqual(strayMounts(mountPoints(TABLE), runtime, rootfs), ["/media/with space"]);
  // The rootfs itself is not "inside" it, and a sibling with the same prefix is not either.
  assert.deepEqual(
    strayMounts(
      ["/media/startos/subcontainers/g1", "/media/startos/subcontainers/g10/x"],
      [],
      rootfs,
    ),
    ["/media/startos/subcontainers/g1", "/media/startos/subcontainers/g10/x"],
  );
  assert.deepEqual(strayMounts(["/usr/bin"], runtime, rootfs), ["/usr/bin"]);
});
