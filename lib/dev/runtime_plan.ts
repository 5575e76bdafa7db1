/**
 * How `deno task dev` starts the runtime: inside the dev namespace (the root seen as
 * `/media/startos`, the stand-ins over `/usr/bin`) or, where that is not possible or
 * `--no-namespace` asks, directly with the root as given. Pure: decisions in, a plan out.
 */

import type { DevOptions } from "./dev_args.ts";
import type { DevRoot, ImageSource } from "./dev_root.ts";
import {
  DEFAULT_PROGRAM_DIRS,
  type Isolation,
  MEDIA_STARTOS,
  NAMESPACE_STASH,
  namespaceArgv,
  underMedia,
  unusableInLists,
} from "./namespace.ts";
import type { StandinSettings } from "./standins/install.ts";
import { REPO_ROOT } from "./start_flags.ts";

/** What the dev session starts and tells the user. */
export interface RuntimePlan {
  /** The root as the runtime and the package see it. */
  seenRoot: string;
  /** The runtime's arguments after `main.ts`. */
  args: string[];
  /** The runtime's extra environment. */
  env: Record<string, string>;
  /** Wraps the runtime's command line (inside the namespace), if at all. */
  wrap: ((command: string[]) => string[]) | undefined;
  /** The namespace, when there is one. */
  namespace: { user: boolean } | null;
  /** The stand-ins' settings. */
  standins: Omit<StandinSettings, "deno" | "denoDir">;
  /** What to tell the user at startup. */
  notes: { level: "info" | "warn"; message: string }[];
}

/** What `planRuntime` decides from. */
export interface PlanInput {
  options: DevOptions;
  isolation: Isolation;
  paths: DevRoot;
  images: ImageSource[];
  /** The current PATH. */
  path: string;
}

/** Plans the runtime's start, or says why it cannot start (a path the namespace would hide). */
export function planRuntime(input: PlanInput): RuntimePlan | { error: string } {
  const { options, paths } = input;
  const useNamespace = options.namespace && input.isolation.kind === "namespace";
  const notes: RuntimePlan["notes"] = [];
  if (useNamespace) {
    const hidden = [
      ["--root", options.root],
      ["--package", options.package],
      ["--policy", options.policy],
      ["--images", options.images],
      ["the repository", REPO_ROOT.replace(/\/$/, "")],
    ].filter((entry): entry is [string, string] => entry[1] !== null && underMedia(entry[1]));
    if (hidden.length > 0) {
      return {
        error: `${hidden.map(([what, path]) => `${what} ${path}`).join(", ")} is under /media, ` +
          "which the dev namespace replaces with its own; move it elsewhere, or run with --no-namespace",
      };
    }
    if (unusableInLists(paths.root)) {
      return { error: `--root ${paths.root} contains ':' or ','; pick a plainer path` };
    }
  }
  const isolation = input.isolation;
  const overlay = useNamespace && isolation.kind === "namespace" && isolation.overlay;
  const seenRoot = useNamespace ? MEDIA_STARTOS : paths.root;
  const seenBin = `${seenRoot}/dev-host/bin`;
  const args = [
    "--dev",
    "--root",
    seenRoot,
    "--socket",
    `${seenRoot}/rpc/service.sock`,
    "--host-socket",
    `${seenRoot}/rpc/host.sock`,
    "--package",
    options.package,
    "--log-format",
    options.logFormat,
    "--log-level",
    options.logLevel,
    ...(options.policy ? ["--policy", options.policy] : []),
  ];
  const env: Record<string, string> = {
    STARTOS_ROOT: seenRoot,
    STARTOS_PROGRAM_DIRS: `${seenBin}:${DEFAULT_PROGRAM_DIRS}`,
    // Programs run by name from PATH (start-sdk's spawns in children that may run them) find the
    // stand-ins first too; spawns without PATH search /usr/bin, where the overlay put them.
    PATH: `${seenBin}:${input.path}`,
  };
  const sources = input.images.filter((image): image is { id: string; rootfs: string } =>
    "rootfs" in image
  );
  let wrap: RuntimePlan["wrap"];
  if (useNamespace && isolation.kind === "namespace") {
    const plan = { root: paths.root, overlayBin: overlay ? paths.bin : null, images: sources };
    wrap = (command) => namespaceArgv(isolation.user, plan, command);
    notes.push({
      level: "info",
      message:
        `dev namespace: ${MEDIA_STARTOS} is ${paths.root} for the runtime and everything it runs ` +
        `(${
          isolation.user ? "an unprivileged user namespace" : "unshare --mount"
        }; the machine's ` +
        `${MEDIA_STARTOS} is not touched)`,
    });
    if (!overlay) {
      notes.push({
        level: "warn",
        message:
          `the stand-ins cannot be laid over /usr/bin (${isolation.overlayProblem}): they are ` +
          "found through PATH and STARTOS_PROGRAM_DIRS only, so spawns without PATH miss them",
      });
    }
  } else {
    const reason = options.namespace
      ? (isolation.kind === "none" ? isolation.reason : "")
      : "--no-namespace";
    notes.push({
      level: "warn",
      message: `no dev namespace (${reason}): the runtime's root is ${paths.root}, but start-sdk ` +
        `packages use ${MEDIA_STARTOS} itself and fail there; run as root or where unprivileged ` +
        "user namespaces are allowed",
    });
  }
  for (const image of input.images) {
    if ("rootfs" in image && useNamespace) {
      notes.push({
        level: "info",
        message: `image ${image.id}: commands run inside ${image.rootfs}`,
      });
    } else if (options.images !== null) {
      const why = "rootfs" in image ? "no dev namespace" : image.missing;
      notes.push({ level: "warn", message: `image ${image.id}: commands stand in (${why})` });
    }
  }
  return {
    seenRoot,
    args,
    env,
    wrap,
    namespace: useNamespace && isolation.kind === "namespace" ? { user: isolation.user } : null,
    standins: {
      bin: paths.bin,
      log: paths.standinLog,
      state: paths.state,
      subcontainers: `${seenRoot}/subcontainers`,
      hostBin: useNamespace ? `${NAMESPACE_STASH}/host-bin` : "/usr/bin",
      images: useNamespace && sources.length > 0,
    },
    notes,
  };
}
