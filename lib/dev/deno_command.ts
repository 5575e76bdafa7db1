/**
 * The command prefix a packager types to run this project's tasks: `deno` when a Deno they
 * installed is on PATH, else `npx -y deno@<version>` (the README's prefix). `npx -y deno@…` puts
 * a transient `deno` on PATH for the task it runs (`…/_npx/<hash>/node_modules/.bin`); that one
 * is gone in the packager's next shell, so it does not count.
 */

/** What `denoCommand` looks at (the real environment by default). */
export interface DenoCommandProbe {
  /** The PATH to search. */
  path: string | undefined;
  /** The Deno version to pin in the npx prefix. */
  version: string;
  /** Whether `path` names an existing regular file (or a link to one). */
  isFile(path: string): boolean;
}

/** Whether `dir` is a directory npm/npx puts on PATH only for the command it runs. */
export function isTransientBinDir(dir: string): boolean {
  return /\/_npx\//.test(dir) || /\/node_modules\/\.bin\/?$/.test(dir);
}

/** The prefix for `task …`: `deno`, or `npx -y deno@<version>` when no lasting deno is on PATH. */
export function denoCommand(probe: DenoCommandProbe = realProbe()): string {
  for (const dir of (probe.path ?? "").split(":")) {
    if (dir === "" || isTransientBinDir(dir)) continue;
    if (probe.isFile(`${dir}/deno`)) return "deno";
  }
  return `npx -y deno@${probe.version}`;
}

function realProbe(): DenoCommandProbe {
  return {
    path: Deno.env.get("PATH"),
    version: Deno.version.deno,
    isFile: (path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    },
  };
}
