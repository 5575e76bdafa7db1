/**
 * Mount points as the kernel lists them (`/proc/<pid>/mountinfo`), seen from one mount namespace:
 * the dev host's own, or the runtime's (the dev namespace) through its pid.
 */

/** Decodes the octal escapes mountinfo uses for space, tab, newline and backslash. */
function unescapeMountPath(text: string): string {
  return text.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** The mount points (field 5) of a mountinfo text. */
export function mountPoints(mountinfo: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    if (fields.length >= 5) points.push(unescapeMountPath(fields[4]));
  }
  return points;
}

/** The mount points at `path` or below it, outermost first, each listed once. */
export function mountsAtOrUnder(points: readonly string[], path: string): string[] {
  const base = path.replace(/\/+$/, "");
  const found = [...new Set(points.filter((p) => p === base || p.startsWith(`${base}/`)))];
  return found.sort((a, b) => a.length - b.length);
}

/** The outermost of `points` (those not below another one of them). */
export function outermost(points: readonly string[]): string[] {
  return points.filter((p) => !points.some((q) => q !== p && p.startsWith(`${q}/`)));
}

/** The mount points of the namespace of process `pid` ("self": this process); [] when gone. */
export async function readMountPoints(pid: number | "self"): Promise<string[]> {
  try {
    return mountPoints(await Deno.readTextFile(`/proc/${pid}/mountinfo`));
  } catch {
    return [];
  }
}
