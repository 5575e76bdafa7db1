/**
 * Where the package's files are. The runtime does not tell package code its
 * mount root, so the package reads `STARTOS_ROOT` (set by `deno task dev`;
 * on StartOS it is unset and the root is `/media/startos`). The sandbox
 * profile may not read the environment at all: then the default is used.
 */

/** The mount root: `$STARTOS_ROOT`, else `/media/startos`. */
export function mountRoot(): string {
  try {
    return process.env.STARTOS_ROOT || "/media/startos";
  } catch {
    return "/media/startos"; // NotCapable: no env access in this profile
  }
}

/** The port the web server listens on: `$HELLO_PORT`, else 8080. */
export function webPort(): number {
  try {
    const port = Number(process.env.HELLO_PORT);
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : 8080;
  } catch {
    return 8080;
  }
}

/** The package's one volume, `main` (read-write for init, main, run and backup). */
export function volume(): string {
  return `${mountRoot()}/volumes/main`;
}

/** The file holding the current greeting. */
export function greetingFile(): string {
  return `${volume()}/greeting.txt`;
}

/** The file every greeting change is appended to. */
export function historyFile(): string {
  return `${volume()}/history.log`;
}
