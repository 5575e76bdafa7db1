/** The command line of `deno task dev`. Pure: argv in, options or a usage error out. */

import { REPO_ROOT } from "./start_flags.ts";

/** What `deno task dev` runs. */
export interface DevOptions {
  /** The mount root: sockets, volumes, backup and the dev host's state live under it. */
  root: string;
  /** The package module the runtime loads. */
  package: string;
  /** A JSONC policy file handed to the runtime. */
  policy: string | null;
  logFormat: "text" | "json";
  logLevel: "debug" | "info" | "warn" | "error";
  /** Send `init` once the runtime listens (default true). */
  init: boolean;
  /** A folder of image root filesystems (`<dir>/<imageId>/`, optional `<imageId>.json`/`.env`). */
  images: string | null;
  /** Run the runtime in the dev namespace (`/media/startos` = the root); false: `--no-namespace`. */
  namespace: boolean;
}

/** The example package's bundle. */
export const EXAMPLE_PACKAGE = `${REPO_ROOT}examples/hello/dist/index.js`;

/** The help text. */
export const DEV_USAGE = `Usage: deno task dev [options]

Starts a dev host (an effects server with its state in <root>/dev-host/state.json)
and the runtime (main.ts --dev, with the permission flags of deno task start) on
sockets under <root>/rpc/, sends init, and prints what to try next. The runtime
runs in a private mount namespace where <root> is /media/startos (what start-sdk
packages use), with stand-ins for start-container and mount (see README, "Run your
own package"). Ctrl-C stops everything.

Options:
  --root DIR           mount root (default .dev in the repository); the package sees it
                       as /media/startos and as $STARTOS_ROOT
  --package PATH       package module to run, e.g. your javascript/index.js
                       (default examples/hello/dist/index.js)
  --images DIR         image root filesystems: DIR/<imageId>/ (e.g. docker export, unpacked),
                       optionally DIR/<imageId>.json (user, workdir, entrypoint, cmd) and
                       DIR/<imageId>.env; subcontainer commands then run inside them
  --no-namespace       run the runtime without the mount namespace (the root is used as
                       given; SDK packages, which write /media/startos, fail)
  --policy FILE        JSONC permission policy for the runtime (see README)
  --log-format FORMAT  text or json, for the runtime and the dev host (default text)
  --log-level LEVEL    debug, info, warn or error (default info)
  --no-init            do not send init (send it yourself: deno task rpc init install)
  --help               this text`;

/** Parsed command line. */
export type DevArgs =
  | { kind: "options"; options: DevOptions }
  | { kind: "help" }
  | { kind: "error"; message: string };

/** `path` made absolute against `cwd`, with `.`, `..` and repeated slashes resolved. */
function absolute(path: string, cwd: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${cwd}/${path}`).split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "" && part !== ".") parts.push(part);
  }
  return "/" + parts.join("/");
}

/**
 * Parses `argv` (`--name value` or `--name=value`). Relative paths given are taken from `cwd`
 * (where the user typed the command: `deno task` runs tasks in the repository and passes the
 * original directory as INIT_CWD); the defaults are in the repository.
 */
export function parseDevArgs(argv: readonly string[], cwd: string): DevArgs {
  const values = new Map<string, string>();
  let init = true;
  let namespace = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) return { kind: "error", message: `unexpected argument ${arg}` };
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (name === "help") return { kind: "help" };
    if (name === "no-init" || name === "no-namespace") {
      if (eq !== -1) return { kind: "error", message: `--${name} takes no value` };
      if (name === "no-init") init = false;
      else namespace = false;
      continue;
    }
    if (!["root", "package", "policy", "images", "log-format", "log-level"].includes(name)) {
      return { kind: "error", message: `unknown option --${name}` };
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (!value) return { kind: "error", message: `--${name} needs a value` };
    values.set(name, value);
  }
  const logFormat = values.get("log-format") ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    return { kind: "error", message: `--log-format expects text or json, got ${logFormat}` };
  }
  const logLevel = values.get("log-level") ?? "info";
  if (logLevel !== "debug" && logLevel !== "info" && logLevel !== "warn" && logLevel !== "error") {
    return {
      kind: "error",
      message: `--log-level expects debug, info, warn or error, got ${logLevel}`,
    };
  }
  const policy = values.get("policy");
  const images = values.get("images");
  return {
    kind: "options",
    options: {
      root: absolute(values.get("root") ?? `${REPO_ROOT}.dev`, cwd),
      package: absolute(values.get("package") ?? EXAMPLE_PACKAGE, cwd),
      policy: policy === undefined ? null : absolute(policy, cwd),
      logFormat,
      logLevel,
      init,
      images: images === undefined ? null : absolute(images, cwd),
      namespace,
    },
  };
}
