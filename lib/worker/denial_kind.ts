/**
 * What a permission denial refused, read from its message, and the policy key that would grant
 * it: the words a 34 answer and the runtime's log use. Pure; shared by the error mapping
 * (errors.ts) and the denial watch (denials.ts).
 * @module
 */

/** What one denial refused. */
export interface DenialKind {
  /**
   * The permission: Deno's (`read`, `write`, `net`, `env`, `sys`, `run`, `ffi`, `import`, `all`
   * for the paths Deno reserves), `spawn` (the spawn broker refused a program), `effect` (the
   * effects broker refused an effect), or `other`.
   */
  permission: string;
  /** What was refused: a path, `host:port`, a variable, a sys kind, a program, an effect. */
  target: string;
}

/** Deno 2.9's message: `Requires net access to "127.0.0.1:8080", run again with …`. */
const DENO_MESSAGE = /^Requires (\w+) access to (?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/;
/** The spawn broker's refusal, as the compat layer raises it: `…: running mount: …`. */
const SPAWN_MESSAGE = /(?:^|: )running ([^\s:]+):/;
/** The effects broker's refusal: `the sandbox profile (effects: read-only) may not call bind`. */
const EFFECT_MESSAGE = /\) may not call (\S+)$/;
/** A sync spawn of a brokered program: `execFileSync("mount") cannot be served …`. */
const SYNC_SPAWN_MESSAGE = /^(?:execFileSync|execSync|spawnSync)\("([^"]*)"\)/;

/**
 * Reads what a denial refused from its message.
 * @param message a `NotCapable`'s message, or a refusal's details
 * @returns the permission and target; `other` with the message when it is none of the known forms
 * @example
 * ```ts
 * denialKind('Requires read access to "/etc/shadow", run again with the --allow-read flag');
 * // { permission: "read", target: "/etc/shadow" }
 * ```
 */
export function denialKind(message: string): DenialKind {
  const deno = DENO_MESSAGE.exec(message);
  if (deno) return { permission: deno[1], target: deno[2] ?? deno[3] };
  const effect = EFFECT_MESSAGE.exec(message);
  if (effect) return { permission: "effect", target: effect[1] };
  const spawn = SPAWN_MESSAGE.exec(message) ?? SYNC_SPAWN_MESSAGE.exec(message);
  if (spawn) return { permission: "spawn", target: spawn[1] };
  return { permission: "other", target: message.slice(0, 200) };
}

/** The profile field that grants each permission (Deno's flags, the broker's lists). */
const POLICY_FIELD: Readonly<Record<string, string>> = Object.freeze({
  read: "read",
  write: "write",
  net: "net",
  env: "env",
  sys: "sys",
  run: "run",
  spawn: "spawn",
  effect: "effects",
  // Only the escape hatch grants these: the paths Deno reserves, native code, remote imports.
  all: "all",
  ffi: "all",
  import: "all",
});

/**
 * The policy key that would grant a denial to a profile.
 * @param permission a {@link DenialKind}'s permission
 * @param profile the child's profile
 * @returns `profiles.<profile>.<field>` (`profiles.run.net`); `.all` when nothing narrower does
 */
export function policyKey(permission: string, profile: string): string {
  return `profiles.${profile}.${POLICY_FIELD[permission] ?? "all"}`;
}

/**
 * A denial's message as it follows "the <profile> profile does not allow this: " in an answer:
 * without that prefix when the message already has it (the spawn broker's refusals do).
 * @param message the denial's message
 * @param profile the child's profile
 * @returns the message without a leading prefix of this profile
 */
export function deniedWhat(message: string, profile: string): string {
  const prefix = `the ${profile} profile does not allow this: `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}
