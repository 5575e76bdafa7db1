/**
 * Parse throughput of lib/exver.ts versus the SDK's ExVer parser over the test corpus.
 *
 * Run with `deno run -A bench/exver_bench.ts`. Invalid strings are part of the workload (a
 * failed parse counts as one string), as they are for the runtime's `exit` target.
 */
import * as sdk from "@start9labs/start-sdk";
import { ExtendedVersion, parseTarget, VersionRange } from "../lib/exver/exver.ts";
import { EMVER_CORPUS, RANGE_CORPUS, VERSION_CORPUS } from "../tests/exver_corpus.ts";

type Parse = (s: string) => unknown;

function swallow(parse: Parse): Parse {
  return (s) => {
    try {
      return parse(s);
    } catch (e) {
      return e;
    }
  };
}

/** Strings per second of `parse` over `inputs`, best of a few timed rounds after a warm-up. */
function throughput(parse: Parse, inputs: readonly string[], roundMs = 300, rounds = 5): number {
  const f = swallow(parse);
  let sink = 0;
  const once = () => {
    for (const s of inputs) if (f(s) !== undefined) sink++;
  };
  for (let i = 0; i < 20; i++) once();
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      once();
      n += inputs.length;
      elapsed = performance.now() - start;
    } while (elapsed < roundMs);
    best = Math.max(best, (n / elapsed) * 1000);
  }
  if (sink < 0) console.log(sink);
  return best;
}

function sdkTarget(s: string | null): unknown {
  if (!s) return null;
  try {
    return sdk.ExtendedVersion.parse(s);
  } catch (_) {
    return sdk.VersionRange.parse(s).normalize();
  }
}

const all = [...new Set([...VERSION_CORPUS, ...RANGE_CORPUS, ...EMVER_CORPUS])];
const valid = (parse: Parse) => all.filter((s) => !(swallow(parse)(s) instanceof Error));
const validVersions = valid(sdk.ExtendedVersion.parse);
const validRanges = valid(sdk.VersionRange.parse);
const workloads: [string, readonly string[], Parse, Parse][] = [
  [
    "ExtendedVersion.parse, version corpus",
    VERSION_CORPUS,
    ExtendedVersion.parse,
    sdk.ExtendedVersion.parse,
  ],
  ["VersionRange.parse, range corpus", RANGE_CORPUS, VersionRange.parse, sdk.VersionRange.parse],
  ["VersionRange.parse, all strings", all, VersionRange.parse, sdk.VersionRange.parse],
  [
    "ExtendedVersion.parse, valid only",
    validVersions,
    ExtendedVersion.parse,
    sdk.ExtendedVersion.parse,
  ],
  ["VersionRange.parse, valid only", validRanges, VersionRange.parse, sdk.VersionRange.parse],
  [
    "VersionRange.parseEmver, emver corpus",
    EMVER_CORPUS,
    VersionRange.parseEmver,
    sdk.VersionRange.parseEmver,
  ],
  ["exit target (parseTarget), all strings", all, parseTarget, sdkTarget],
];

const rows: string[][] = [[
  "workload",
  "strings",
  "ours (strings/s)",
  "SDK (strings/s)",
  "ours / SDK",
]];
for (const [name, inputs, ours, theirs] of workloads) {
  const o = throughput(ours, inputs);
  const t = throughput(theirs, inputs);
  rows.push([
    name,
    String(inputs.length),
    Math.round(o).toLocaleString("en-US"),
    Math.round(t).toLocaleString("en-US"),
    `${(o / t).toFixed(2)}×`,
  ]);
}

const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
const line = (r: string[]) =>
  r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
console.log(line(rows[0]));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows.slice(1)) console.log(line(r));
