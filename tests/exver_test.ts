/**
 * Differential tests: lib/exver.ts against the ExVer classes of @start9labs/start-sdk@2.0.9
 * (a test-only dependency). Every comparison collects disagreements and asserts the list is
 * empty, so a failure prints the offending inputs.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as sdk from "@start9labs/start-sdk";
import {
  ExtendedVersion,
  ExVerSyntaxError,
  parseTarget,
  Version,
  VersionRange,
  type VersionRangeLike,
} from "../lib/exver/exver.ts";
import { EMVER_CORPUS, RANGE_CORPUS, VERSION_CORPUS } from "./exver_corpus.ts";

type SdkExtendedVersion = sdk.ExtendedVersion;
type SdkVersionRange = sdk.VersionRange;
const SdkVersion = sdk.Version;
const SdkExtendedVersion = sdk.ExtendedVersion;
const SdkVersionRange = sdk.VersionRange;

const ALL_STRINGS: readonly string[] = [
  ...new Set([...VERSION_CORPUS, ...RANGE_CORPUS, ...EMVER_CORPUS]),
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function attempt<T>(f: () => T): Outcome<T> {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

const show = (x: unknown): string => JSON.stringify(x);

/** Fails listing the first offending inputs (and how many there are in all). */
function assertNoDisagreements(out: readonly string[]): void {
  assert.deepEqual({ count: out.length, first: out.slice(0, 40) }, { count: 0, first: [] });
}

/** Peggy's description of one expectation, as its error messages print it. */
function describeExpectation(e: unknown): string {
  const x = e as { type?: string; text?: string; parts?: unknown[]; description?: string };
  switch (x.type) {
    case "literal":
      return `"${x.text}"`;
    case "class":
      return `[${
        (x.parts ?? []).map((p) => Array.isArray(p) ? `${p[0]}-${p[1]}` : String(p)).join("")
      }]`;
    case "end":
      return "end of input";
    case "other":
      return String(x.description);
    default:
      return "any character";
  }
}

/** Offset and sorted unique expectations of a peggy error from the SDK. */
function sdkErrorInfo(e: unknown): { offset: number | undefined; expected: string[] } {
  const x = e as { location?: { start?: { offset?: number } }; expected?: unknown[] };
  const expected = [...new Set((x.expected ?? []).map(describeExpectation))].sort();
  return { offset: x.location?.start?.offset, expected };
}

function ourErrorInfo(e: unknown): { offset: number | undefined; expected: string[] } {
  if (!(e instanceof ExVerSyntaxError)) return { offset: undefined, expected: [`not ours: ${e}`] };
  return { offset: e.offset, expected: [...e.expected] };
}

/**
 * Runs one parse entry point of both libraries on every input; records disagreements in
 * success/failure, `toString`, object shape (JSON) and, for failures, error offset and the
 * expected-token set.
 */
function diffParse(
  label: string,
  inputs: readonly string[],
  ours: (s: string) => unknown,
  theirs: (s: string) => unknown,
  out: string[],
): { ok: number; failed: number } {
  let ok = 0;
  let failed = 0;
  for (const s of inputs) {
    const o = attempt(() => ours(s));
    const t = attempt(() => theirs(s));
    if (o.ok && t.ok) {
      ok++;
      if (String(o.value) !== String(t.value)) {
        out.push(
          `${label}(${show(s)}): toString ${show(String(o.value))} vs ${show(String(t.value))}`,
        );
      }
      if (show(o.value) !== show(t.value)) {
        out.push(`${label}(${show(s)}): shape ${show(o.value)} vs ${show(t.value)}`);
      }
    } else if (!o.ok && !t.ok) {
      failed++;
      const oi = ourErrorInfo(o.error);
      const ti = sdkErrorInfo(t.error);
      if (oi.offset !== ti.offset || show(oi.expected) !== show(ti.expected)) {
        out.push(`${label}(${show(s)}): error ${show(oi)} vs ${show(ti)}`);
      }
    } else {
      out.push(
        `${label}(${show(s)}): ours ${o.ok ? `parsed ${show(String(o.value))}` : "failed"}, ` +
          `SDK ${t.ok ? `parsed ${show(String(t.value))}` : "failed"}`,
      );
    }
  }
  return { ok, failed };
}

type VersionPair = { text: string; ours: ExtendedVersion; theirs: SdkExtendedVersion };
type RangePair = { text: string; ours: VersionRange; theirs: SdkVersionRange };

function parseVersionPairs(inputs: readonly string[]): VersionPair[] {
  const seen = new Set<string>();
  const out: VersionPair[] = [];
  for (const text of inputs) {
    const t = attempt(() => SdkExtendedVersion.parse(text));
    if (!t.ok || seen.has(text)) continue;
    seen.add(text);
    out.push({ text, ours: ExtendedVersion.parse(text), theirs: t.value });
  }
  return out;
}

function parseRangePairs(inputs: readonly string[]): RangePair[] {
  const seen = new Set<string>();
  const out: RangePair[] = [];
  for (const text of inputs) {
    const t = attempt(() => SdkVersionRange.parse(text));
    if (!t.ok || seen.has(text)) continue;
    seen.add(text);
    out.push({ text, ours: VersionRange.parse(text), theirs: t.value });
  }
  return out;
}

/** Versions of every anchor in the ranges plus their next major/minor: the interesting edges. */
function anchorVersionStrings(ranges: readonly RangePair[]): string[] {
  const out = new Set<string>();
  const walk = (r: SdkVersionRange) => {
    const a = r.atom;
    switch (a.type) {
      case "Anchor":
        out.add(a.version.toString());
        out.add(a.version.incrementMajor().toString());
        out.add(a.version.incrementMinor().toString());
        break;
      case "And":
      case "Or":
        walk(a.left);
        walk(a.right);
        break;
      case "Not":
        walk(a.value);
        break;
    }
  };
  for (const r of ranges) walk(r.theirs);
  return [...out];
}

function diffCompare(versions: readonly VersionPair[], out: string[]): number {
  let n = 0;
  for (const a of versions) {
    for (const b of versions) {
      n++;
      const o = a.ours;
      const t = a.theirs;
      const results: [string, unknown, unknown][] = [
        ["compare", o.compare(b.ours), t.compare(b.theirs)],
        ["compareLexicographic", o.compareLexicographic(b.ours), t.compareLexicographic(b.theirs)],
        ["compareForSort", o.compareForSort(b.ours), t.compareForSort(b.theirs)],
        ["equals", o.equals(b.ours), t.equals(b.theirs)],
        ["greaterThan", o.greaterThan(b.ours), t.greaterThan(b.theirs)],
        ["greaterThanOrEqual", o.greaterThanOrEqual(b.ours), t.greaterThanOrEqual(b.theirs)],
        ["lessThan", o.lessThan(b.ours), t.lessThan(b.theirs)],
        ["lessThanOrEqual", o.lessThanOrEqual(b.ours), t.lessThanOrEqual(b.theirs)],
        [
          "upstream.compare",
          o.upstream.compare(b.ours.upstream),
          t.upstream.compare(b.theirs.upstream),
        ],
        [
          "downstream.compareForSort",
          o.downstream.compareForSort(b.ours.downstream),
          t.downstream.compareForSort(b.theirs.downstream),
        ],
      ];
      for (const [name, x, y] of results) {
        if (x !== y) out.push(`${show(a.text)}.${name}(${show(b.text)}): ${show(x)} vs ${show(y)}`);
      }
    }
  }
  return n;
}

function diffSatisfies(
  versions: readonly VersionPair[],
  ranges: readonly RangePair[],
  out: string[],
): number {
  let n = 0;
  for (const v of versions) {
    const ov = v.ours.upstream;
    const tv = v.theirs.upstream;
    for (const r of ranges) {
      n++;
      const results: [string, boolean, boolean][] = [
        ["satisfies", v.ours.satisfies(r.ours), v.theirs.satisfies(r.theirs)],
        ["satisfiedBy", r.ours.satisfiedBy(v.ours), r.theirs.satisfiedBy(v.theirs)],
        ["upstream.satisfies", ov.satisfies(r.ours), tv.satisfies(r.theirs)],
        ["satisfiedBy(upstream)", r.ours.satisfiedBy(ov), r.theirs.satisfiedBy(tv)],
      ];
      for (const [name, x, y] of results) {
        if (x !== y) out.push(`${name}: ${show(v.text)} vs ${show(r.text)}: ${x} vs ${y}`);
      }
    }
  }
  return n;
}

function diffAlgebra(ranges: readonly RangePair[], pairStep: number, out: string[]): number {
  let n = 0;
  for (const r of ranges) {
    const on = r.ours.normalize();
    const tn = r.theirs.normalize();
    if (on.toString() !== tn.toString()) {
      out.push(`normalize(${show(r.text)}): ${show(on.toString())} vs ${show(tn.toString())}`);
    } else if (show(on) !== show(tn)) {
      out.push(`normalize(${show(r.text)}) shape: ${show(on)} vs ${show(tn)}`);
    }
    if (r.ours.satisfiable() !== r.theirs.satisfiable()) {
      out.push(
        `satisfiable(${show(r.text)}): ${r.ours.satisfiable()} vs ${r.theirs.satisfiable()}`,
      );
    }
  }
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i % pairStep; j < ranges.length; j += pairStep) {
      n++;
      const a = ranges[i];
      const b = ranges[j];
      const x = a.ours.intersects(b.ours);
      const y = a.theirs.intersects(b.theirs);
      if (x !== y) out.push(`intersects(${show(a.text)}, ${show(b.text)}): ${x} vs ${y}`);
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Generated inputs (fast-check, fixed seed)
// ---------------------------------------------------------------------------------------------

const SEED = 20240917;

const numArb = fc.oneof(
  fc.integer({ min: 0, max: 12 }).map(String),
  fc.constantFrom("0", "1", "2", "10", "00", "01", "99999999999999999999"),
);
const versionNumberArb = fc.array(numArb, { minLength: 1, maxLength: 5 }).map((a) => a.join("."));
const preSegArb = fc.oneof(
  numArb,
  fc.constantFrom("alpha", "beta", "rc", "a", "b", "X", "Beta", ".beta", ".1"),
);
const preReleaseArb = fc.option(
  fc.array(preSegArb, { minLength: 1, maxLength: 3 }).map((a) => `-${a.join(".")}`),
  { nil: "", freq: 3 },
);
const versionArb = fc.tuple(versionNumberArb, preReleaseArb).map(([n, p]) => n + p);
const flavorArb = fc.constantFrom("a", "b", "knots", "core", "");
const flavorPrefixArb = fc.option(flavorArb.map((f) => `#${f}:`), { nil: "", freq: 3 });
const extendedVersionArb = fc
  .tuple(flavorPrefixArb, versionArb, versionArb)
  .map(([f, u, d]) => `${f}${u}:${d}`);
const versionSpecArb = fc
  .tuple(flavorPrefixArb, versionArb, fc.option(versionArb.map((d) => `:${d}`), { nil: "" }))
  .map(([f, u, d]) => f + u + d);
const opArb = fc.constantFrom("", "=", "!=", ">", ">=", "<", "<=", "^", "~");
const wsArb = fc.constantFrom("", "", " ", "  ", "\t", "\n");
const joinArb = fc.constantFrom(" && ", " || ", "&&", "||", " ", "", " &&", "|| ");

const rangeArb: fc.Arbitrary<string> = fc.letrec<{ atom: string; range: string }>((tie) => ({
  atom: fc.oneof(
    { maxDepth: 3, depthIdentifier: "range" },
    fc.tuple(opArb, wsArb, versionSpecArb).map(([o, w, v]) => o + (o ? w : "") + v),
    fc.constantFrom("*", "!", "#", "#a", "#b", "#knots"),
    fc.tuple(wsArb, tie("atom")).map(([w, a]) => `!${w}${a}`),
    fc.tuple(wsArb, tie("range"), wsArb).map(([w1, r, w2]) => `(${w1}${r}${w2})`),
  ),
  range: fc
    .tuple(tie("atom"), fc.array(fc.tuple(joinArb, tie("atom")), { maxLength: 3 }))
    .map(([first, rest]) => first + rest.map(([j, a]) => j + a).join("")),
})).range;

const NOISE = "0123456789.:-#!*()&|<>=^~abZ \t";
/** Near-valid strings: a valid-looking string with a few random character edits. */
function mutatedArb(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.constantFrom("insert", "delete", "replace"),
    fc.nat(),
    fc.constantFrom(...NOISE),
  );
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([s, edits]) => {
    let out = s;
    for (const [kind, at, ch] of edits) {
      const i = out.length === 0 ? 0 : at % (out.length + 1);
      if (kind === "insert") out = out.slice(0, i) + ch + out.slice(i);
      else if (kind === "delete") out = out.slice(0, i) + out.slice(i + 1);
      else out = out.slice(0, i) + ch + out.slice(i + 1);
    }
    return out;
  });
}

function generated(): { versions: string[]; ranges: string[] } {
  const versions = [
    ...fc.sample(extendedVersionArb, { seed: SEED, numRuns: 300 }),
    ...fc.sample(mutatedArb(extendedVersionArb), { seed: SEED + 1, numRuns: 200 }),
    ...fc.sample(versionArb, { seed: SEED + 2, numRuns: 50 }),
  ];
  const ranges = [
    ...fc.sample(rangeArb, { seed: SEED + 3, numRuns: 300 }),
    ...fc.sample(mutatedArb(rangeArb), { seed: SEED + 4, numRuns: 200 }),
  ];
  return { versions, ranges };
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

Deno.test("the hand-written corpus has at least 200 version and 200 range strings", () => {
  assert.ok(new Set(VERSION_CORPUS).size >= 200, `versions: ${new Set(VERSION_CORPUS).size}`);
  assert.ok(new Set(RANGE_CORPUS).size >= 200, `ranges: ${new Set(RANGE_CORPUS).size}`);
});

Deno.test("Version.parse agrees with the SDK on the corpus", () => {
  const out: string[] = [];
  const r = diffParse("Version.parse", ALL_STRINGS, Version.parse, SdkVersion.parse, out);
  assertNoDisagreements(out);
  assert.ok(r.ok > 20 && r.failed > 100, show(r));
});

Deno.test("ExtendedVersion.parse agrees with the SDK on the corpus", () => {
  const out: string[] = [];
  const r = diffParse(
    "ExtendedVersion.parse",
    ALL_STRINGS,
    ExtendedVersion.parse,
    SdkExtendedVersion.parse,
    out,
  );
  assertNoDisagreements(out);
  assert.ok(r.ok > 100 && r.failed > 100, show(r));
});

Deno.test("VersionRange.parse agrees with the SDK on the corpus", () => {
  const out: string[] = [];
  const r = diffParse(
    "VersionRange.parse",
    ALL_STRINGS,
    VersionRange.parse,
    SdkVersionRange.parse,
    out,
  );
  assertNoDisagreements(out);
  assert.ok(r.ok > 150 && r.failed > 100, show(r));
});

Deno.test("parseEmver (legacy versions and ranges) agrees with the SDK on the corpus", () => {
  const out: string[] = [];
  const v = diffParse(
    "ExtendedVersion.parseEmver",
    ALL_STRINGS,
    ExtendedVersion.parseEmver,
    SdkExtendedVersion.parseEmver,
    out,
  );
  const r = diffParse(
    "VersionRange.parseEmver",
    ALL_STRINGS,
    VersionRange.parseEmver,
    SdkVersionRange.parseEmver,
    out,
  );
  assertNoDisagreements(out);
  assert.ok(v.ok > 10 && r.ok > 20, show({ v, r }));
});

// ---------------------------------------------------------------------------------------------
// Semantics on the corpus
// ---------------------------------------------------------------------------------------------

const CORPUS_RANGES = parseRangePairs(ALL_STRINGS);
const CORPUS_VERSIONS = parseVersionPairs([
  ...ALL_STRINGS,
  ...anchorVersionStrings(CORPUS_RANGES),
  "#a:1:0",
  "#b:1:0",
  "#b:0:0",
  "#knots:30.0:0",
  "#:0:0",
]);

Deno.test("compare agrees with the SDK on all pairs of corpus versions", () => {
  const out: string[] = [];
  const n = diffCompare(CORPUS_VERSIONS, out);
  assertNoDisagreements(out);
  assert.ok(n > 10_000, `${n} pairs`);
});

Deno.test("incrementMajor and incrementMinor agree with the SDK on the corpus", () => {
  const out: string[] = [];
  for (const v of CORPUS_VERSIONS) {
    for (const m of ["incrementMajor", "incrementMinor"] as const) {
      const o = v.ours[m]();
      const t = v.theirs[m]();
      if (show(o) !== show(t) || o.toString() !== t.toString()) {
        out.push(`${show(v.text)}.${m}(): ${show(o)} vs ${show(t)}`);
      }
    }
  }
  assertNoDisagreements(out);
});

Deno.test("satisfies agrees with the SDK on all version × range pairs of the corpus", () => {
  const out: string[] = [];
  const n = diffSatisfies(CORPUS_VERSIONS, CORPUS_RANGES, out);
  assertNoDisagreements(out);
  assert.ok(n > 40_000, `${n} pairs`);
});

Deno.test("normalize, satisfiable and intersects agree with the SDK on the corpus", () => {
  const out: string[] = [];
  const n = diffAlgebra(CORPUS_RANGES, 25, out);
  assertNoDisagreements(out);
  assert.ok(n > 5_000, `${n} pairs`);
});

// ---------------------------------------------------------------------------------------------
// Generated cases
// ---------------------------------------------------------------------------------------------

Deno.test("generated cases agree with the SDK (fast-check, fixed seed)", () => {
  const { versions, ranges } = generated();
  const strings = [...new Set([...versions, ...ranges])];
  const out: string[] = [];
  diffParse("Version.parse", strings, Version.parse, SdkVersion.parse, out);
  diffParse("ExtendedVersion.parse", strings, ExtendedVersion.parse, SdkExtendedVersion.parse, out);
  diffParse("VersionRange.parse", strings, VersionRange.parse, SdkVersionRange.parse, out);
  diffParse(
    "VersionRange.parseEmver",
    strings,
    VersionRange.parseEmver,
    SdkVersionRange.parseEmver,
    out,
  );
  const rangePairs = parseRangePairs(ranges);
  const versionPairs = parseVersionPairs([...versions, ...anchorVersionStrings(rangePairs)])
    .slice(0, 400);
  diffCompare(versionPairs.slice(0, 200), out);
  diffSatisfies(versionPairs, rangePairs, out);
  diffAlgebra(rangePairs, 120, out);
  assertNoDisagreements(out);
  assert.ok(
    rangePairs.length > 250 && versionPairs.length > 250,
    show([rangePairs.length, versionPairs.length]),
  );
});

// ---------------------------------------------------------------------------------------------
// Cross-object compatibility
// ---------------------------------------------------------------------------------------------

/** Our object viewed through the SDK's types (the SDK's code duck-types it at runtime). */
const asSdkRange = (r: VersionRange) => r as unknown as SdkVersionRange;
const asSdkVersion = (v: ExtendedVersion) => v as unknown as SdkExtendedVersion;

Deno.test("the SDK accepts our objects and we accept the SDK's, with the same answers", () => {
  const out: string[] = [];
  const versions = CORPUS_VERSIONS.filter((_, i) => i % 3 === 0);
  const ranges = CORPUS_RANGES;
  for (const v of versions) {
    for (const r of ranges) {
      const expected = v.theirs.satisfies(r.theirs);
      const got: [string, boolean][] = [
        ["sdkVersion.satisfies(ourRange)", v.theirs.satisfies(asSdkRange(r.ours))],
        ["sdkRange.satisfiedBy(ourVersion)", r.theirs.satisfiedBy(asSdkVersion(v.ours))],
        ["ourVersion.satisfies(sdkRange)", v.ours.satisfies(r.theirs)],
        ["ourRange.satisfiedBy(sdkVersion)", r.ours.satisfiedBy(v.theirs)],
        ["sdk upstream.satisfies(ourRange)", v.theirs.upstream.satisfies(asSdkRange(r.ours))],
        ["ourRange.satisfiedBy(sdk upstream)", r.ours.satisfiedBy(v.theirs.upstream)],
      ];
      const expectedUp = v.theirs.upstream.satisfies(r.theirs);
      for (const [name, x] of got) {
        const want = name.includes("upstream") ? expectedUp : expected;
        if (x !== want) out.push(`${name}: ${show(v.text)} / ${show(r.text)}: ${x} vs ${want}`);
      }
    }
  }
  for (const a of versions) {
    for (const b of versions) {
      const want = a.theirs.compare(b.theirs);
      const x = a.theirs.compare(asSdkVersion(b.ours));
      const y = a.ours.compare(b.theirs);
      if (x !== want || y !== want) {
        out.push(`compare ${show(a.text)} / ${show(b.text)}: ${x}, ${y} vs ${want}`);
      }
    }
  }
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i % 50; j < ranges.length; j += 50) {
      const a = ranges[i];
      const b = ranges[j];
      const want = a.theirs.intersects(b.theirs);
      const got: [string, boolean][] = [
        ["sdkRange.intersects(ourRange)", a.theirs.intersects(asSdkRange(b.ours))],
        ["ourRange.intersects(sdkRange)", a.ours.intersects(b.theirs)],
      ];
      for (const [name, x] of got) {
        if (x !== want) out.push(`${name}: ${show(a.text)} / ${show(b.text)}: ${x} vs ${want}`);
      }
      // Mixed trees, normalized by either library, print the same as same-library trees.
      const wantNorm = SdkVersionRange.or(a.theirs, b.theirs.not()).normalize().toString();
      const mixed: [string, string][] = [
        [
          "sdk or(sdk, ours).normalize",
          SdkVersionRange.or(a.theirs, asSdkRange(b.ours).not()).normalize().toString(),
        ],
        [
          "ours or(ours, sdk).normalize",
          VersionRange.or(a.ours, b.theirs.not()).normalize().toString(),
        ],
        [
          "sdk or(ours, ours).normalize",
          SdkVersionRange.or(asSdkRange(a.ours), asSdkRange(b.ours.not())).normalize().toString(),
        ],
        ["ours.or(sdk).normalize", a.ours.or(b.theirs.not()).normalize().toString()],
        ["sdk.or(ours).normalize", a.theirs.or(asSdkRange(b.ours).not()).normalize().toString()],
      ];
      for (const [name, x] of mixed) {
        if (x !== wantNorm) {
          out.push(`${name}: ${show(a.text)} / ${show(b.text)}: ${show(x)} vs ${show(wantNorm)}`);
        }
      }
      const wantStr = a.theirs.and(b.theirs).toString();
      const strs = [a.theirs.and(asSdkRange(b.ours)).toString(), a.ours.and(b.theirs).toString()];
      for (const x of strs) {
        if (x !== wantStr) out.push(`and().toString ${show(a.text)} / ${show(b.text)}: ${x}`);
      }
    }
  }
  assertNoDisagreements(out);
});

Deno.test("the SDK's own idioms work on our objects (duck typing, VersionGraph fold)", () => {
  const v = ExtendedVersion.parse("#knots:29.3:0");
  const r = VersionRange.parse(">=#knots:29.0:0 && <#knots:30.0:0");
  // VersionGraph's isExver / isRange.
  assert.ok("satisfies" in v && !("satisfiedBy" in v));
  assert.ok("satisfiedBy" in r && !("satisfies" in r));
  // VersionGraph.canMigrateTo: fold with `acc.or(isRange ? x : VersionRange.anchor('=', x))`.
  const mixed: unknown[] = [
    v,
    r,
    SdkExtendedVersion.parse("#knots:28.1:0"),
    VersionRange.parse("#core"),
  ];
  const fold = (anchor: (x: unknown) => SdkVersionRange, start: SdkVersionRange) =>
    mixed.reduce<SdkVersionRange>(
      (acc, x) => acc.or("satisfiedBy" in (x as object) ? (x as SdkVersionRange) : anchor(x)),
      start,
    ).normalize().toString();
  const viaSdk = fold(
    (x) => SdkVersionRange.anchor("=", x as SdkExtendedVersion),
    SdkVersionRange.none(),
  );
  const viaOurs = fold(
    (x) => asSdkRange(VersionRange.anchor("=", x as ExtendedVersion)),
    asSdkRange(VersionRange.none()),
  );
  assert.equal(viaOurs, viaSdk);
  assert.equal(viaSdk, "=#knots:28.1:0 || (>=#knots:29.0:0 && <#knots:30.0:0) || #core");
});

Deno.test("ours has the SDK's fields, atom types and method names", () => {
  const names = (o: object) => Object.getOwnPropertyNames(o).sort();
  const privateStatics = ["parseAtom", "parseRange"]; // private in the SDK's typings
  assert.deepEqual(names(Version.prototype), names(SdkVersion.prototype));
  assert.deepEqual(names(ExtendedVersion.prototype), names(SdkExtendedVersion.prototype));
  assert.deepEqual(names(VersionRange.prototype), names(SdkVersionRange.prototype));
  assert.deepEqual(names(Version), names(SdkVersion));
  assert.deepEqual(names(ExtendedVersion), names(SdkExtendedVersion));
  assert.deepEqual(
    names(VersionRange),
    names(SdkVersionRange).filter((n) => !privateStatics.includes(n)),
  );
  const text = "!(#a:1.0-beta.2:3 || *) && (=1 || !) && #b && !#";
  assert.equal(show(VersionRange.parse(text)), show(SdkVersionRange.parse(text)));
  assert.deepEqual(Object.keys(ExtendedVersion.parse("1:0")), ["flavor", "upstream", "downstream"]);
  assert.deepEqual(Object.keys(VersionRange.any()), ["atom"]);
});

// ---------------------------------------------------------------------------------------------
// Exit targets and errors
// ---------------------------------------------------------------------------------------------

/** The StartOS Node runtime's `exit` handler, verbatim in behaviour. */
function sdkTarget(s: string | null): SdkExtendedVersion | SdkVersionRange | null {
  let target: SdkExtendedVersion | SdkVersionRange | null = null;
  if (s) {
    try {
      target = SdkExtendedVersion.parse(s);
    } catch (_) {
      target = SdkVersionRange.parse(s).normalize();
    }
  }
  return target;
}

Deno.test("parseTarget decides version vs range like the StartOS Node runtime", () => {
  const out: string[] = [];
  for (const s of [null, "", ...ALL_STRINGS]) {
    const o = attempt(() => parseTarget(s));
    const t = attempt(() => sdkTarget(s));
    if (o.ok !== t.ok) {
      out.push(`parseTarget(${show(s)}): ours ok=${o.ok}, reference ok=${t.ok}`);
    } else if (o.ok && t.ok) {
      const kind = (x: unknown) =>
        x === null ? "null" : "satisfies" in (x as object) ? "version" : "range";
      if (kind(o.value) !== kind(t.value) || show(o.value) !== show(t.value)) {
        out.push(`parseTarget(${show(s)}): ${kind(o.value)} ${show(o.value)} vs ${show(t.value)}`);
      }
    } else if (!o.ok && !(o.error instanceof ExVerSyntaxError)) {
      out.push(`parseTarget(${show(s)}): unexpected error ${o.error}`);
    }
  }
  assertNoDisagreements(out);
  assert.equal(parseTarget(null), null);
  assert.equal(parseTarget(""), null);
  assert.ok(parseTarget("1.2.3:0") instanceof ExtendedVersion);
  // A bare upstream is not an extended version: it becomes the normalized range `^1.2.3:0`.
  assert.equal(String(parseTarget("1.2.3")), ">=1.2.3:0 && <2.0.0:0");
  assert.throws(
    () => parseTarget("latest"),
    (e: unknown) =>
      e instanceof ExVerSyntaxError &&
      /^Invalid exit target "latest": it is neither an extended version .* nor a version range/
        .test(e.message),
  );
});

Deno.test("parse errors are SyntaxErrors naming the position and what was expected", () => {
  const check = (f: () => unknown, pattern: RegExp, offset: number) =>
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof SyntaxError && e instanceof ExVerSyntaxError);
      assert.match(e.message, pattern);
      assert.equal(e.offset, offset);
      return true;
    });
  check(
    () => ExtendedVersion.parse("1.2.3"),
    new RegExp(
      '^Invalid extended version "1\\.2\\.3": expected ":", "\\.", "-", or a digit ' +
        "at position 5, but found end of input$",
    ),
    5,
  );
  check(
    () => VersionRange.parse(">=1.0:0 &&"),
    /^Invalid version range ">=1\.0:0 &&": expected .*"\(".* at position 10, but found end/,
    10,
  );
  check(() => VersionRange.parse("1 | 2"), /at position 2, but found "\|"$/, 2);
  check(() => Version.parse("v1"), /^Invalid version "v1": expected a digit at position 0/, 0);
  check(() => ExtendedVersion.parseEmver("1.2"), /^Invalid emver version "1\.2"/, 3);
});

Deno.test("documented SDK quirks are reproduced", () => {
  // No precedence: `&&` and `||` fold left to right.
  assert.equal(VersionRange.parse("1 || 2 && 3").toString(), "(^1:0 || ^2:0) && ^3:0");
  // Juxtaposition is `&&`; a bare version is `^`.
  assert.equal(VersionRange.parse(">=1 <2").toString(), ">=1:0 && <2:0");
  // Leading whitespace is accepted only before a bare version; trailing whitespace never.
  assert.doesNotThrow(() => VersionRange.parse(" 1"));
  assert.throws(() => VersionRange.parse(" >=1"));
  assert.throws(() => VersionRange.parse("1 "));
  // The empty flavor `#:` is no flavor in a version, but `#` alone is a flavor atom of "".
  assert.equal(ExtendedVersion.parse("#:1:0").flavor, null);
  assert.deepEqual(VersionRange.parse("#").atom, { type: "Flavor", flavor: "" });
  // ExtendedVersion#compareForSort cannot order a smaller flavor (yields undefined).
  const a = ExtendedVersion.parse("#a:1:0");
  const b = ExtendedVersion.parse("#b:1:0");
  assert.equal(b.compareForSort(a), 1);
  assert.equal(a.compareForSort(b), undefined);
  // Legacy emver: a bare emver version is `^`, the 4th part is the downstream.
  assert.equal(VersionRange.parseEmver("0.3.5.1").toString(), "^0.3.5:1");
  // `~x` with a single component never matches; `^0.0.0` is empty.
  assert.equal(VersionRange.parse("~1").satisfiable(), false);
  assert.equal(VersionRange.parse("^0.0.0").satisfiable(), false);
  const range: VersionRangeLike = VersionRange.parse("!=1");
  assert.equal(VersionRange.and(range).normalize().toString(), "<1:0 || >1:0 || !#");
});
