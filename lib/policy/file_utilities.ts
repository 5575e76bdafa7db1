/**
 * The file utilities the spawn broker runs for package code: `mv`, `cp`, `rm`, `mkdir`, `chown`,
 * `chmod`, `touch` on paths in the service's volumes, called directly or as `sh -c SCRIPT`.
 *
 * Published packages move their data between volumes in migrations
 * (`execFile('sh', ['-c', 'mv /media/startos/volumes/main/data/* /media/startos/volumes/db'])`)
 * and hand files to a daemon's user; the Node runtime runs those as root with no check. Here a
 * script is parsed, never given to a shell as written: it may only be simple commands of these
 * utilities (and `true`, `echo`) joined by `&&`, `||`, `;` or newlines, words plain or quoted
 * (`'…'`, `"…"` without `$`, backquote or backslash), output thrown away (`2>/dev/null`,
 * `>/dev/null 2>&1`, `&>/dev/null`), globs (`*`, `?`, `[…]`) only in the last component of an
 * absolute path; anything else (a variable, a substitution, another redirection, a pipe, a
 * background job, `cd`, another program) is refused. Each utility takes only the options listed in
 * {@linkcode UTILITY_OPTIONS} (none that dereferences a symlink the utility would otherwise leave
 * alone, none that reads a reference file). Every path is absolute, free of `.`/`..`, below
 * `${root}/volumes` (a `cp` source may also be below `${root}/assets`), and the directories on its
 * way exist without a symlink; a path that is itself a symlink is accepted only where the utility
 * acts on the link (`mv`, `rm`, `cp -P|-d|-a`, `chown -h`). Globs are expanded by the runtime
 * when it checks (each match checked like any path) and the script it runs is rebuilt from the
 * checked words, each single-quoted.
 *
 * Pure: the file system comes in through {@link FileView}.
 * @module
 */

import { below, parentOf } from "./paths.ts";
import { normalizePath, SpawnRefusal } from "./spawn_refusal.ts";

/** The utilities, by name. */
export const FILE_UTILITIES = Object.freeze(
  ["mv", "cp", "rm", "mkdir", "chown", "chmod", "touch"] as const,
);
/** One of {@linkcode FILE_UTILITIES}. */
export type FileUtility = typeof FILE_UTILITIES[number];

/** Shell builtins a script may use besides the utilities (`… || true`, `echo done`). */
export const SCRIPT_BUILTINS: readonly string[] = Object.freeze(["true", "echo"]);

/** The shells whose `-c SCRIPT` is served (parsed, then run rebuilt). */
export const SHELLS = Object.freeze(["sh", "bash"] as const);
/** One of {@linkcode SHELLS}. */
export type Shell = typeof SHELLS[number];

/**
 * The single-letter options each utility accepts (GNU coreutils), and the long ones. None
 * follows a symlink the utility would not follow anyway (`cp -L|-H`, `chown -L|-H`), reads a
 * reference file (`--reference`, `touch -r`) or names another program.
 */
export const UTILITY_OPTIONS: Readonly<Record<FileUtility, { short: string; long: string[] }>> =
  Object.freeze({
    mv: { short: "fnvTu", long: ["--force", "--no-clobber", "--verbose"] },
    cp: {
      short: "rRapfnvPdTu",
      long: [
        "--recursive",
        "--archive",
        "--force",
        "--no-clobber",
        "--verbose",
        "--no-dereference",
      ],
    },
    rm: { short: "rRfvd", long: ["--recursive", "--force", "--verbose", "--dir"] },
    mkdir: { short: "pvm", long: ["--parents", "--verbose"] },
    chown: { short: "Rhvfc", long: ["--recursive", "--no-dereference", "--verbose"] },
    chmod: { short: "Rvfc", long: ["--recursive", "--verbose"] },
    touch: { short: "c", long: ["--no-create"] },
  });

/** What the checks read of the file system. */
export interface FileView {
  /** The mount root (`/media/startos`). */
  root: string;
  /** The canonical path of an existing path (symlinks resolved), or null when it is missing. */
  realPath(path: string): string | null;
  /** The names in a directory, or null when it cannot be listed. */
  listDir(path: string): string[] | null;
}

/** An accepted request: the program to run and its arguments, as checked. */
export interface FileUtilityRun {
  /** `sh` for a script (rebuilt), else the utility. */
  program: Shell | FileUtility;
  /** Its arguments: `["-c", rebuilt]` for a script. */
  args: string[];
}

/** The most paths one glob may expand to. */
export const MAX_GLOB_MATCHES = 10_000;

/** A word of a script: its text, and whether it has unquoted glob characters. */
interface Word {
  text: string;
  glob: boolean;
}

/** One simple command of a script, its redirections (to /dev/null only), the operator after it. */
interface Command {
  words: Word[];
  redirects: string[];
  next: "&&" | "||" | ";" | null;
}

/** Characters with a meaning to the shell that a script may not use outside quotes. */
const REFUSED: Readonly<Record<string, string>> = Object.freeze({
  "$": "a variable or substitution ($)",
  "`": "a command substitution (`)",
  "\\": "a backslash escape",
  "<": "a redirection (<)",
  "(": "a subshell or function (()",
  ")": "a subshell or function ())",
  "{": "a group or brace ({)",
  "}": "a group or brace (})",
});

/**
 * The simple commands of `script`, or a refusal naming the first construct it may not use.
 * @param script what follows `sh -c`
 * @returns the commands, in order
 */
function parseScript(script: string): Command[] {
  const commands: Command[] = [];
  let words: Word[] = [];
  let redirects: string[] = [];
  let text = "";
  let glob = false;
  let quoted = false;
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push({ text, glob });
    text = "";
    glob = quoted = inWord = false;
  };
  const endCommand = (next: Command["next"]) => {
    endWord();
    if (words.length === 0) {
      if (next === ";" && redirects.length === 0) return; // empty lines and stray separators
      throw new SpawnRefusal(null, `${next} follows no command`);
    }
    commands.push({ words, redirects, next });
    words = [];
    redirects = [];
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    if (c === " " || c === "\t") endWord();
    else if (c === "\n" || c === ";") endCommand(";");
    else if (c === ">" || (c === "&" && script[i + 1] === ">")) {
      // Output thrown away (`2>/dev/null`, `>/dev/null 2>&1`, `&>/dev/null`): nothing else.
      let fd = "";
      if (c === "&") {
        fd = "&";
        i++;
      } else if (inWord) {
        if (quoted || (text !== "1" && text !== "2")) {
          throw new SpawnRefusal(
            null,
            "a redirection (>) of anything but output to /dev/null",
          );
        }
        fd = text;
        text = "";
        inWord = glob = false;
      }
      let op = ">";
      if (script[i + 1] === ">") {
        op = ">>";
        i++;
      }
      if (script[i + 1] === "&" && fd !== "&") {
        const onto = script[i + 2];
        if (onto !== "1" && onto !== "2") {
          throw new SpawnRefusal(null, "a redirection (>&) to anything but 1 or 2");
        }
        redirects.push(`${fd}${op}&${onto}`);
        i += 2;
        continue;
      }
      let start = i + 1;
      while (script[start] === " " || script[start] === "\t") start++;
      let end = start;
      while (end < script.length && !" \t\n;&|<>".includes(script[end])) end++;
      if (script.slice(start, end) !== "/dev/null") {
        throw new SpawnRefusal(null, "a redirection (>) of anything but output to /dev/null");
      }
      // bash's `&>` is `>… 2>&1` (sh, which runs the rebuilt script, reads `&` as a background job).
      if (fd === "&") redirects.push(`${op}/dev/null`, "2>&1");
      else redirects.push(`${fd}${op}/dev/null`);
      i = end - 1;
    } else if (c === "&" || c === "|") {
      if (script[i + 1] !== c) {
        throw new SpawnRefusal(null, c === "&" ? "a background job (&)" : "a pipe (|)");
      }
      endCommand(c === "&" ? "&&" : "||");
      i++;
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1);
      if (end === -1) throw new SpawnRefusal(null, "a quote (') that does not end");
      text += script.slice(i + 1, end);
      inWord = quoted = true;
      i = end;
    } else if (c === '"') {
      const end = script.indexOf('"', i + 1);
      if (end === -1) throw new SpawnRefusal(null, 'a quote (") that does not end');
      const inside = script.slice(i + 1, end);
      const bad = [...inside].find((q) => q === "$" || q === "`" || q === "\\");
      if (bad) throw new SpawnRefusal(null, `${REFUSED[bad]} inside double quotes`);
      text += inside;
      inWord = quoted = true;
      i = end;
    } else if (REFUSED[c]) throw new SpawnRefusal(null, REFUSED[c]);
    else if (!inWord && (c === "#" || c === "~")) {
      throw new SpawnRefusal(null, c === "#" ? "a comment (#)" : "a home directory (~)");
    } else {
      if (c === "*" || c === "?" || c === "[") glob = true;
      text += c;
      inWord = true;
    }
  }
  endCommand(";");
  const last = commands.at(-1);
  if (last && last.next !== ";" && last.next !== null) {
    throw new SpawnRefusal(null, `the script ends with ${last.next}`);
  }
  if (commands.length === 0) throw new SpawnRefusal(null, "the script has no command");
  return commands;
}

/** A glob's last component as a regular expression (`*`, `?`, `[…]`, `[!…]`). */
function globPattern(component: string, word: string): RegExp {
  let source = "";
  for (let i = 0; i < component.length; i++) {
    const c = component[i];
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const end = component.indexOf("]", i + 2);
      if (end === -1) throw new SpawnRefusal(word, "has a [ that does not end");
      let set = component.slice(i + 1, end);
      const negated = set.startsWith("!");
      if (negated) set = set.slice(1);
      source += `[${negated ? "^" : ""}${set.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "s");
}

/**
 * A word with glob characters expanded as the shell would (the last component only; names that
 * start with `.` only when the pattern does; sorted; the word itself when nothing matches).
 */
function expand(word: Word, view: FileView): string[] {
  if (!word.glob) return [word.text];
  const path = normalizePath(word.text);
  const dir = parentOf(path);
  if (/[*?[]/.test(dir)) {
    throw new SpawnRefusal(word.text, "has a glob outside its last component");
  }
  const component = path.slice(dir === "/" ? 1 : dir.length + 1);
  const pattern = globPattern(component, word.text);
  const names = (view.listDir(dir) ?? [])
    .filter((name) => pattern.test(name) && (component.startsWith(".") || !name.startsWith(".")))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length > MAX_GLOB_MATCHES) {
    throw new SpawnRefusal(word.text, `matches more than ${MAX_GLOB_MATCHES} paths`);
  }
  return names.length === 0
    ? [word.text]
    : names.map((name) => `${dir === "/" ? "" : dir}/${name}`);
}

/** The options and operands of one utility's arguments, checked against its table. */
function splitOptions(
  utility: FileUtility,
  args: string[],
): { flags: Set<string>; operands: string[] } {
  const allowed = UTILITY_OPTIONS[utility];
  const flags = new Set<string>();
  const operands: string[] = [];
  let options = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (options && arg === "--") {
      options = false;
    } else if (options && arg.startsWith("--")) {
      if (!allowed.long.includes(arg)) {
        throw new SpawnRefusal(arg, `is not an option the runtime passes to ${utility}`);
      }
      flags.add(arg);
    } else if (options && arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j];
        if (!allowed.short.includes(letter)) {
          throw new SpawnRefusal(arg, `is not an option the runtime passes to ${utility}`);
        }
        flags.add(letter);
        // mkdir -m MODE / -mMODE
        if (letter === "m") {
          const mode = arg.slice(j + 1) || args[++i];
          if (mode === undefined || !/^[0-7]{3,4}$/.test(mode)) {
            throw new SpawnRefusal(arg, "takes an octal mode");
          }
          break;
        }
      }
    } else operands.push(arg);
  }
  return { flags, operands };
}

/** Owners `chown` takes: `user`, `user:group`, `:group`, names or numbers. */
const OWNER =
  /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:([A-Za-z0-9_][A-Za-z0-9_.-]*)?)?$|^:[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** Modes `chmod` takes: octal, or symbolic clauses (`u+rwx,go-w`). */
const MODE = /^([0-7]{3,4}|[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*)$/;

/**
 * Checks one path operand: below `bases`, the directories on its way real (no symlink), and, when
 * it is itself a symlink, only where `linkOk` (the utility acts on the link).
 */
function checkPath(
  operand: string,
  bases: readonly string[],
  linkOk: boolean,
  view: FileView,
): string {
  const path = normalizePath(operand);
  if (!bases.some((base) => below(path, base))) {
    throw new SpawnRefusal(operand, `is not below ${bases.join(" or ")}`);
  }
  // The longest existing ancestor must be where it says (no symlink on the way).
  let dir = parentOf(path);
  while (dir !== "/" && view.realPath(dir) === null) dir = parentOf(dir);
  const real = view.realPath(dir);
  if (real !== dir) {
    throw new SpawnRefusal(operand, `goes through a symlink (${dir} is ${real})`);
  }
  const target = view.realPath(path);
  if (target !== null && target !== path && !linkOk) {
    throw new SpawnRefusal(
      operand,
      `is a symlink (to ${target}), which the utility would follow`,
    );
  }
  return path;
}

/**
 * Checks one call of a utility (its words after any glob expansion).
 * @returns its arguments, as given
 */
function checkUtility(utility: FileUtility, args: string[], view: FileView): string[] {
  const volumes = `${view.root === "/" ? "" : view.root}/volumes`;
  const assets = `${view.root === "/" ? "" : view.root}/assets`;
  const { flags, operands } = splitOptions(utility, args);
  let paths = operands;
  if (utility === "chown" || utility === "chmod") {
    const [value, ...rest] = operands;
    const shape = utility === "chown" ? OWNER : MODE;
    if (value === undefined || !shape.test(value)) {
      throw new SpawnRefusal(
        value ?? null,
        `is not ${utility === "chown" ? "an owner" : "a mode"}`,
      );
    }
    paths = rest;
  }
  if (paths.length === 0) throw new SpawnRefusal(null, `${utility} names no path`);
  const noDeref = flags.has("P") || flags.has("d") || flags.has("a") || flags.has("--archive") ||
    flags.has("--no-dereference");
  paths.forEach((operand, index) => {
    // mv and cp write into their last operand: a symlink there would take them elsewhere.
    const destination = (utility === "mv" || utility === "cp") && paths.length > 1 &&
      index === paths.length - 1;
    if (utility === "cp") {
      // Sources may come from the assets; what cp writes is in a volume.
      checkPath(
        operand,
        destination ? [volumes] : [volumes, assets],
        !destination && noDeref,
        view,
      );
    } else {
      const linkOk = !destination && (utility === "mv" || utility === "rm" ||
        (utility === "chown" && (flags.has("h") || flags.has("--no-dereference"))));
      checkPath(operand, [volumes], linkOk, view);
    }
  });
  return args;
}

/** The utility a program name or standard path names, or null. */
function utilityOf(command: string): FileUtility | null {
  const name = command.slice(command.lastIndexOf("/") + 1);
  if (command.includes("/") && !["/usr/bin", "/bin"].includes(parentOf(command))) return null;
  return (FILE_UTILITIES as readonly string[]).includes(name) ? name as FileUtility : null;
}

/** `text` as one single-quoted shell word. */
function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * Checks a request to run a file utility, or a shell with `-c SCRIPT`, and says what to run.
 * @example
 * ```ts
 * const view = { root: "/media/startos", realPath: (p: string) => p, listDir: () => ["a", "b"] };
 * checkFileUtility("sh", ["-c", "mv /media/startos/volumes/main/data/* /media/startos/volumes/db"], view);
 * // { program: "sh", args: ["-c", "'mv' '/media/startos/volumes/main/data/a' … ;"] }
 * ```
 * @param program the utility or shell, as the request names it (checked by the caller)
 * @param args its arguments
 * @param view the root and the file system
 * @returns what to run; throws {@linkcode SpawnRefusal} naming what failed
 */
export function checkFileUtility(program: string, args: string[], view: FileView): FileUtilityRun {
  const name = program.slice(program.lastIndexOf("/") + 1);
  if ((SHELLS as readonly string[]).includes(name)) {
    if (args.length !== 2 || args[0] !== "-c") {
      throw new SpawnRefusal(args[0] ?? null, `only \`${name} -c SCRIPT\` is run`);
    }
    const rebuilt = parseScript(args[1]).map((command) => {
      const [first, ...rest] = command.words;
      let words: string[];
      if (!first.glob && SCRIPT_BUILTINS.includes(first.text)) {
        // `|| true`, `echo done`: words as written (a glob would list a directory).
        const globbed = rest.find((word) => word.glob);
        if (globbed) throw new SpawnRefusal(globbed.text, `is a glob given to ${first.text}`);
        words = [first.text, ...rest.map((word) => word.text)];
      } else {
        const utility = first.glob ? null : utilityOf(first.text);
        if (utility === null) {
          throw new SpawnRefusal(
            first.text,
            `is not one of the file utilities the runtime runs (${FILE_UTILITIES.join(", ")})`,
          );
        }
        const operands = rest.flatMap((word) => expand(word, view));
        checkUtility(utility, operands, view);
        words = [utility, ...operands];
      }
      const line = [...words.map(quote), ...command.redirects].join(" ");
      return command.next === null ? line : `${line} ${command.next}`;
    });
    // The utilities from the system's directories only, whatever the runtime's PATH holds.
    return { program: "sh", args: ["-c", `PATH=/usr/bin:/bin; ${rebuilt.join(" ")}`] };
  }
  const utility = utilityOf(program);
  if (utility === null) {
    throw new SpawnRefusal(program, "is not a file utility the runtime runs");
  }
  return { program: utility, args: checkUtility(utility, args, view) };
}
