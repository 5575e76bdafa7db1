/**
 * The JSONC policy file: overrides of the default permission profiles and of the warm pool
 * sizes, validated completely at startup so mistakes are startup errors, not first-use errors.
 *
 * ```jsonc
 * {
 *   // each profile key is optional; each field given replaces that field of the default
 *   "profiles": {
 *     "run": { "net": ["api.example.com:443", "127.0.0.0/8", "${container}"] },
 *     "sandbox": { "read": ["${package}"] },
 *     // the escape hatch: --allow-all for that profile (warned about at startup)
 *     "main": { "all": true },
 *   },
 *   // warm children per profile (0..8, at most children.maxPerProfile; default 0); init, main: 0
 *   "pool": { "run": 2 },
 *   // how procedure children are reused (defaults shown); "reuse": false = a fresh child per call
 *   "children": { "reuse": true, "maxPerProfile": 2, "idleMs": 5000, "maxCalls": 1000, "maxAgeMs": 600000 },
 * }
 * ```
 */

import * as z from "../zod.ts";
import {
  CONTAINER_ADDRESSES,
  defaultProfiles,
  EFFECT_ACCESS_LEVELS,
  type EffectAccess,
  type Profile,
  PROFILE_NAMES,
  type ProfileName,
  SYS_KINDS,
  withContainerAddresses,
} from "./permissions.ts";
import { SPAWN_OPERATIONS, type SpawnOperation } from "./spawn_rules.ts";

/** How procedure children are reused; the policy's `children` key. */
export interface ReuseLimits {
  /** False: a fresh child per call, killed after it (per-call isolation). */
  reuse: boolean;
  /** Children of one profile alive at once; more calls wait. */
  maxPerProfile: number;
  /** An idle child is retired after this long (ms). */
  idleMs: number;
  /** A child is retired after serving this many calls. */
  maxCalls: number;
  /** A child is retired at its first release after this age (ms). */
  maxAgeMs: number;
}

/** The defaults: reuse, 2 children per profile (a real package's child holds ~90 MB), retired after 5 s idle, 1000 calls or 10 min. */
export const DEFAULT_REUSE: Readonly<ReuseLimits> = Object.freeze({
  reuse: true,
  maxPerProfile: 2,
  idleMs: 5_000,
  maxCalls: 1_000,
  maxAgeMs: 600_000,
});

/** The effective permission policy: a profile and a warm pool size per profile name, and how procedure children are reused. */
export interface Policy {
  /** The grants of each profile. */
  profiles: Record<ProfileName, Profile>;
  /** Warm children kept ready per profile. */
  pool: Record<ProfileName, number>;
  /** How procedure children are reused. */
  children: ReuseLimits;
}

/** Variables substituted into policy paths: `${package}` (module directory) and `${root}`. */
export interface PolicyVars {
  /** The package module's directory (absolute). */
  package: string;
  /** The mount root (absolute). */
  root: string;
}

/** A policy that cannot be used; the message names the file, the key path and what is wrong. */
export class PolicyError extends Error {
  /** Each problem found, as `<file>: <key path>: <what is wrong>`. */
  readonly problems: string[];

  /** Builds the error from one or more problem lines. */
  constructor(problems: string[]) {
    super(
      problems.length === 1
        ? problems[0]
        : `${problems.length} problems in the permission policy:\n  ${problems.join("\n  ")}`,
    );
    this.name = "PolicyError";
    this.problems = problems;
  }
}

/** Warm children kept ready per profile when the policy does not say otherwise: none. */
export const DEFAULT_POOL: Readonly<Record<ProfileName, number>> = Object.freeze({
  init: 0,
  main: 0,
  run: 0,
  getInput: 0,
  backup: 0,
  sandbox: 0,
});

/** The largest pool size a policy may ask for. */
export const MAX_POOL = 8;

/** Profiles that are long-lived singletons and so never have a warm pool. */
const SINGLETONS: readonly ProfileName[] = ["init", "main"];

/** Replaces `${package}`/`${root}`, collapses `//`, `/./` and a trailing `/`; or says what is wrong. */
function resolvePath(raw: string, vars: PolicyVars): string | { error: string } {
  let unknown: string | null = null;
  const substituted = raw.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
    if (name === "package") return vars.package;
    if (name === "root") return vars.root;
    unknown ??= whole;
    return whole;
  });
  const shown = JSON.stringify(raw);
  if (unknown !== null) {
    return { error: `${shown}: unknown variable ${unknown} (known: \${package}, \${root})` };
  }
  const after = substituted === raw ? "" : ` (${JSON.stringify(substituted)} after substitution)`;
  if (substituted.includes("\0")) return { error: `${shown}${after} contains a NUL character` };
  if (substituted.includes(",")) {
    return { error: `${shown}${after} contains a comma, which Deno's flags cannot express` };
  }
  if (!substituted.startsWith("/")) return { error: `${shown}${after} is not an absolute path` };
  const parts = substituted.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) {
    return { error: `${shown}${after} is not normalized: it contains a '..' segment` };
  }
  return "/" + parts.join("/");
}

const HOSTNAME = /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/;
const IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;

/**
 * Says what is wrong with a `net` entry (host, host:port, IPv4[/cidr], [IPv6], or
 * `${container}`: the container's own addresses, found at startup), or null.
 */
function netEntryProblem(entry: string): string | null {
  if (entry === CONTAINER_ADDRESSES) return null;
  const shown = JSON.stringify(entry);
  if (entry.startsWith("unix:")) {
    return `${shown}: a Unix socket is granted only below \${root}/volumes (a daemon's own ` +
      "socket); children talk to the runtime over their channel only";
  }
  if (entry.includes("://")) return `${shown}: give a host, not a URL`;
  let host = entry;
  const port = /:(\d+)$/.exec(entry);
  if (port && !(entry.startsWith("[") && !entry.includes("]:"))) {
    const value = Number(port[1]);
    if (value < 1 || value > 65535) return `${shown}: port must be 1..65535`;
    host = entry.slice(0, port.index);
  }
  if (IPV6.test(host) || IPV4.test(host) || HOSTNAME.test(host)) return null;
  return `${shown}: not a host name, host:port, IPv4 address or [IPv6] address`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;
const PROGRAM_NAME = /^[A-Za-z0-9_+@.-]+$/;

/** A string checked and rewritten by `resolve`, which returns the value or what is wrong with it. */
function checkedString(error: string, resolve: (raw: string) => string | { error: string }) {
  return z.pipe(
    z.string({ error }),
    z.transform((raw: string, ctx) => {
      const resolved = resolve(raw);
      if (typeof resolved === "string") return resolved;
      ctx.issues.push({ code: "custom", message: resolved.error, input: raw });
      return z.NEVER;
    }),
  );
}

/** A whole number in `min..max`, every problem said as one message. */
function wholeNumber(min: number, max: number, what = "a whole number") {
  const range = { error: `must be ${min}..${max}` };
  return z.int({ error: `expected ${what}` }).check(z.gte(min, range), z.lte(max, range));
}

/** The zod schema of a policy file; paths are substituted and checked as it parses. */
function policySchema(vars: PolicyVars) {
  const path = checkedString("expected a path string", (raw) => resolvePath(raw, vars));
  const paths = z.array(path, { error: "expected a list of absolute paths" });

  const volumes = `${vars.root === "/" ? "" : vars.root}/volumes`;
  const host = checkedString("expected a host string", (value) => {
    // A daemon's own Unix socket in a volume (tor's control socket), by exact path.
    if (value.startsWith("unix:")) {
      const resolved = resolvePath(value.slice("unix:".length), vars);
      if (typeof resolved === "string" && resolved.startsWith(`${volumes}/`)) {
        return `unix:${resolved}`;
      }
    }
    const problem = netEntryProblem(value);
    return problem === null ? value : { error: problem };
  });
  const program = checkedString("expected a program name or absolute path", (raw) => {
    if (raw.includes("/")) return resolvePath(raw, vars);
    if (PROGRAM_NAME.test(raw) && raw !== "." && raw !== "..") return raw;
    return {
      error: `${
        JSON.stringify(raw)
      }: not a program name (letters, digits, '_', '+', '@', '.', '-') or absolute path`,
    };
  });
  const envName = z.string({ error: "expected a variable name" }).check(z.regex(ENV_NAME, {
    error: (issue) =>
      `${
        JSON.stringify(issue.input)
      }: not an environment variable name (letters, digits, '_', optional trailing '*')`,
  }));
  const grant = <T extends z.ZodMiniType>(entry: T, what: string) =>
    z.union([z.boolean(), z.array(entry)], {
      error: `expected true, false or a list of ${what}`,
    });

  const profile = z.partial(z.strictObject({
    read: paths,
    write: paths,
    net: grant(host, "hosts"),
    run: grant(program, "programs"),
    spawn: z.array(
      z.enum(SPAWN_OPERATIONS as [SpawnOperation, ...SpawnOperation[]], {
        error: (issue) =>
          `${JSON.stringify(issue.input)}: not an operation of the spawn broker (${
            SPAWN_OPERATIONS.join(", ")
          })`,
      }),
      { error: "expected a list of spawn operations" },
    ),
    env: grant(envName, "variable names"),
    sys: grant(
      z.enum(SYS_KINDS as [string, ...string[]], {
        error: (issue) =>
          `${JSON.stringify(issue.input)}: not a kind Deno's --allow-sys knows (${
            SYS_KINDS.join(", ")
          })`,
      }),
      "system information kinds",
    ),
    all: z.boolean({ error: "expected true or false" }),
    heapMb: wholeNumber(16, 16384, "a whole number of MB"),
    effects: z.enum(EFFECT_ACCESS_LEVELS as [EffectAccess, ...EffectAccess[]], {
      error: `expected one of ${EFFECT_ACCESS_LEVELS.map((l) => JSON.stringify(l)).join(", ")}`,
    }),
  }));

  const poolSize = wholeNumber(0, MAX_POOL);
  const singletonPool = z.number({ error: "expected a whole number" }).check(
    z.refine((n) => n === 0, { error: "must be 0 (a long-lived singleton is never pooled)" }),
  );

  const profileShape = Object.fromEntries(PROFILE_NAMES.map((name) => [name, profile]));
  const poolShape = Object.fromEntries(
    PROFILE_NAMES.map((name) => [name, SINGLETONS.includes(name) ? singletonPool : poolSize]),
  );
  const children = z.partial(z.strictObject({
    reuse: z.boolean({ error: "expected true or false" }),
    maxPerProfile: wholeNumber(1, 64),
    idleMs: wholeNumber(0, 86_400_000),
    maxCalls: wholeNumber(1, 1_000_000_000),
    maxAgeMs: wholeNumber(0, 86_400_000 * 365),
  }, { error: "expected an object" }));
  return z.partial(z.strictObject({
    profiles: z.partial(z.strictObject(profileShape, { error: "expected an object" })),
    pool: z.partial(z.strictObject(poolShape, { error: "expected an object" })),
    children,
  }, { error: "expected an object" }));
}

/** A zod issue path as `profiles.run.read[0]`. */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "(top level)" : out;
}

/** Turns a zod issue into `<key path>: <what is wrong>` lines. */
function describeIssue(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]): string[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys") {
    const parent = path.length === 1 ? path[0] : null;
    return issue.keys.map((key) =>
      parent === "profiles" || parent === "pool"
        ? `${keyPath([...path, key])}: unknown profile (expected one of ${
          PROFILE_NAMES.join(", ")
        })`
        : `${keyPath([...path, key])}: unknown key`
    );
  }
  if (issue.code === "invalid_union") {
    // When one branch got the right shape but a bad element, report that element, not the union.
    const deep = issue.errors.find((branch) =>
      branch.some((inner) => inner.path.length > 0 || inner.code !== "invalid_type")
    );
    if (deep) return deep.flatMap((inner) => describeIssue(inner, path));
  }
  return [`${keyPath(path)}: ${issue.message}`];
}

/** Checks and normalises the path variables; a bad root or package directory is a startup error. */
export function resolveVars(vars: PolicyVars, source: string): PolicyVars {
  const resolvedVars = { package: "", root: "" };
  const badVars: string[] = [];
  for (const name of ["package", "root"] as const) {
    const resolved = resolvePath(vars[name], { package: "", root: "" });
    if (typeof resolved === "string") resolvedVars[name] = resolved;
    else badVars.push(`${source}: \${${name}}: ${resolved.error}`);
  }
  if (badVars.length > 0) throw new PolicyError(badVars);
  return resolvedVars;
}

/**
 * Validates a parsed policy value (with problems the parser already found,
 * e.g. duplicate keys) and merges it over the defaults; `source` names the
 * file in errors.
 */
export function validatePolicy(
  value: unknown,
  source: string,
  vars: PolicyVars,
  parserProblems: string[] = [],
): Policy {
  const resolvedVars = resolveVars(vars, source);
  const parsed = policySchema(resolvedVars).safeParse(value);
  const problems = [
    ...parserProblems,
    ...(parsed.success ? [] : parsed.error.issues.flatMap((issue) => describeIssue(issue, []))),
  ];
  if (problems.length > 0 || !parsed.success) {
    throw new PolicyError(problems.map((problem) => `${source}: ${problem}`));
  }
  const defaults = defaultProfiles(resolvedVars);
  const overrides: Partial<Record<ProfileName, Partial<Profile>>> = parsed.data.profiles ?? {};
  const profiles = {} as Record<ProfileName, Profile>;
  for (const name of PROFILE_NAMES) profiles[name] = { ...defaults[name], ...overrides[name] };
  const pool = { ...DEFAULT_POOL, ...parsed.data.pool };
  const children = { ...DEFAULT_REUSE, ...parsed.data.children };
  // Warm children count against the cap: more warm than the cap could never all be alive.
  const overCap = PROFILE_NAMES.filter((name) => pool[name] > children.maxPerProfile).map(
    (name) =>
      `${source}: ${keyPath(["pool", name])}: ${pool[name]} warm children exceed ` +
      `children.maxPerProfile (${children.maxPerProfile}); lower the pool or raise the cap`,
  );
  if (overCap.length > 0) throw new PolicyError(overCap);
  return { profiles, pool, children };
}

/**
 * Warnings to log at startup: each profile the policy gives every permission (`"all": true`) or
 * programs by name (`"run"`), the escape hatches that give up the broker's checks.
 */
export function policyWarnings(policy: Policy): string[] {
  const warnings: string[] = [];
  for (const name of PROFILE_NAMES) {
    const profile = policy.profiles[name];
    if (profile.all) {
      warnings.push(
        `the policy gives the ${name} profile all permissions ("all": true): its package code ` +
          "runs with --allow-all, unconfined by the profile's grants",
      );
    } else if (profile.run !== false && (profile.run === true || profile.run.length > 0)) {
      const what = profile.run === true ? "every program" : profile.run.join(", ");
      warnings.push(
        `the policy grants the ${name} profile programs by name (${what}): its package code ` +
          "runs them directly, with any arguments, unchecked by the spawn broker",
      );
    }
    if (profile.all || !Array.isArray(profile.net)) continue;
    for (const entry of profile.net.filter((entry) => entry.startsWith("unix:"))) {
      warnings.push(
        `the policy grants the ${name} profile the Unix socket ${entry.slice("unix:".length)}: ` +
          "a daemon that replaces it with a symlink gives this profile whatever socket the link " +
          "names (host.sock included)",
      );
    }
  }
  return warnings;
}

/**
 * The policy with `${container}` in every profile's `net` list replaced by the container's own
 * addresses (read once at startup, lib/process/container_addresses.ts).
 * @param policy an effective policy (the defaults, or a policy file's)
 * @param addresses the container's addresses as net entries (`10.0.3.2`, `[fd00::2]`)
 * @returns a new policy; `policy` is not changed
 */
export function withOwnAddresses(policy: Policy, addresses: readonly string[]): Policy {
  return { ...policy, profiles: withContainerAddresses(policy.profiles, addresses) };
}

/** The policy when no file is given: the default profiles and pool sizes. */
export function defaultPolicy(vars: PolicyVars): Policy {
  return validatePolicy({}, "(default policy)", vars);
}
