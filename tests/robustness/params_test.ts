/**
 * Wrong types for every param of every method, bad procedure paths and bad procedure inputs:
 * each is answered -32602 with data.details naming what is wrong, all pipelined on one
 * connection, while the runtime keeps serving a second one.
 */

import assert from "node:assert/strict";
import { type PackageRuntime, runAction, startPackageRuntime } from "../helpers/package_runtime.ts";
import { type Outcome, RpcClient } from "../helpers/rpc_client.ts";

/** Values of every JSON type; each case picks the ones that are wrong for its field. */
const ANY = {
  null: null,
  true: true,
  zero: 0,
  negative: -1,
  fraction: 1.5,
  big: 2 ** 53,
  empty: "",
  text: "x",
  array: [],
  object: {},
} as const;
type Kind = keyof typeof ANY;

/** For each method: a valid params object, and per field the kinds of value that are wrong. */
const FIELDS: Record<string, { base: Record<string, unknown>; wrong: Record<string, Kind[]> }> = {
  init: {
    base: { id: "i", kind: "install" },
    wrong: {
      id: ["null", "true", "zero", "array", "object"],
      kind: ["true", "zero", "empty", "text", "array", "object"],
    },
  },
  exit: {
    base: { id: "e", target: "1.0.0:0" },
    wrong: {
      id: ["null", "true", "zero", "array", "object"],
      target: ["true", "zero", "fraction", "array", "object"],
    },
  },
  execute: {
    base: { id: "x", procedure: "/actions/noop/run", input: { input: null }, timeout: 1000 },
    wrong: {
      id: ["null", "true", "zero", "array", "object"],
      procedure: ["null", "true", "zero", "array", "object"],
      timeout: ["true", "zero", "negative", "big", "empty", "text", "array", "object"],
    },
  },
  sandbox: {
    base: { id: "x", procedure: "/actions/noop/run", input: { input: null }, timeout: 1000 },
    wrong: {
      id: ["null", "true", "zero", "array", "object"],
      procedure: ["null", "true", "zero", "array", "object"],
      timeout: ["true", "zero", "negative", "big", "empty", "text", "array", "object"],
    },
  },
  callback: {
    base: { id: 1, args: [] },
    wrong: {
      id: ["null", "true", "negative", "fraction", "empty", "text", "array", "object"],
      args: ["null", "true", "zero", "text", "object"],
    },
  },
  eval: {
    base: { script: "1" },
    wrong: { script: ["null", "true", "zero", "array", "object"] },
  },
};

/** Whole `params` values that are wrong for each method. */
const WRONG_PARAMS: Record<string, Kind[]> = {
  init: ["null", "true", "zero", "text", "array"],
  exit: ["null", "true", "zero", "text", "array"],
  start: ["true", "zero", "text", "array"],
  stop: ["true", "zero", "text", "array"],
  execute: ["null", "true", "zero", "text", "array"],
  sandbox: ["null", "true", "zero", "text", "array"],
  callback: ["null", "true", "zero", "text", "array"],
  eval: ["null", "true", "zero", "text", "array"],
};

/** Procedure paths that are not procedures, and what the details must say about each. */
const BAD_PATHS: [string, RegExp][] = [
  ["", /^params\.procedure: unknown procedure ""/],
  ["/", /unknown procedure "\/"/],
  ["/actions//run", /invalid action id ""/],
  ["/../x", /unknown procedure "\/\.\.\/x"/],
  ["/actions/../run", /invalid action id "\.\."/],
  ["/actions/./run", /invalid action id "\."/],
  ["/actions/.hidden/run", /invalid action id "\.hidden"/],
  ["/actions/a/b/run", /unknown procedure "\/actions\/a\/b\/run"/],
  ["/actions/a%2Fb/run", /invalid action id "a%2Fb"/],
  ["/actions/a\u0000b/run", /invalid action id "a\\u0000b"/],
  ["/actions/a\nb/run", /invalid action id "a\\nb"/],
  ["/actions/a b/run", /invalid action id "a b"/],
  ["/actions/é/run", /invalid action id "é"/],
  [`/actions/${"a".repeat(129)}/run`, /invalid action id "a{129}"/],
  ["/actions/a/run/", /unknown procedure/],
  ["//actions/a/run", /unknown procedure/],
  ["actions/a/run", /unknown procedure "actions\/a\/run"/],
  ["/actions/a/getinput", /unknown action procedure "getinput"/],
  ["/actions/a/delete", /unknown action procedure "delete"/],
  ["/actions/a", /unknown procedure "\/actions\/a"/],
  ["/backup/create/", /unknown procedure/],
  ["/backup/create?x=1", /unknown procedure/],
  ["/backup/restore", /unknown procedure/],
  ["/init", /unknown procedure/],
  ["/actions/noop/run\u0000", /unknown action procedure "run\\u0000"/],
];

/** Inputs that do not fit the procedure, and what the details must say. */
const BAD_INPUTS: [string, unknown, RegExp][] = [
  ["/actions/noop/run", "text", /^input of \/actions\/noop\/run: input: /],
  ["/actions/noop/run", [], /^input of \/actions\/noop\/run: input: /],
  ["/actions/noop/run", { input: 1, extra: 2 }, /Unrecognized key.*"extra"/],
  [
    "/actions/noop/getInput",
    { prefill: "x" },
    /^input of \/actions\/noop\/getInput: input\.prefill: /,
  ],
  ["/actions/noop/getInput", { prefill: [] }, /input\.prefill: /],
  ["/actions/noop/getInput", 5, /^input of \/actions\/noop\/getInput: input: /],
  ["/backup/create", {}, /^input of \/backup\/create: input: /],
  ["/backup/create", "x", /^input of \/backup\/create: input: /],
];

/** Runs every call on one connection at once, with `check` per outcome, and keeps a second connection answering. */
async function pipelined(
  rt: PackageRuntime,
  calls: { method: string; params: unknown; check: (outcome: Outcome, what: string) => void }[],
): Promise<void> {
  const other = await RpcClient.connect(rt.runtime.socket);
  try {
    const outcomes = await Promise.all(calls.map((c) => rt.client.call(c.method, c.params)));
    outcomes.forEach((outcome, i) => {
      calls[i].check(outcome, `${calls[i].method} ${JSON.stringify(calls[i].params)}`);
    });
    assert.deepEqual(await other.call("execute", runAction("noop")), { result: null });
  } finally {
    other.close();
  }
}

function invalidParams(details: RegExp) {
  return (outcome: Outcome, what: string) => {
    assert.equal(outcome.error?.code, -32602, `${what}: ${JSON.stringify(outcome)}`);
    assert.equal(outcome.error?.message, "Invalid params", what);
    assert.match(outcome.error?.data?.details ?? "", details, what);
  };
}

function rssKiB(pid: number): number {
  return Number(Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+)/)![1]);
}

Deno.test("a wrong type for every param of every method is answered -32602 naming the field", async () => {
  const rt = await startPackageRuntime();
  try {
    const before = rssKiB(rt.runtime.child.pid);
    const calls = [];
    for (const [method, { base, wrong }] of Object.entries(FIELDS)) {
      for (const [field, kinds] of Object.entries(wrong)) {
        for (const kind of kinds) {
          calls.push({
            method,
            params: { ...base, [field]: ANY[kind] },
            check: invalidParams(new RegExp(`^${method}: params\\.${field}: \\S`)),
          });
        }
      }
      // A missing required field is named too.
      for (const field of Object.keys(wrong)) {
        const params = { ...base };
        delete params[field];
        if (["kind", "target", "timeout", "args"].includes(field)) continue; // optional
        calls.push({
          method,
          params,
          check: invalidParams(new RegExp(`^${method}: params\\.${field}: .*undefined`)),
        });
      }
    }
    for (const [method, kinds] of Object.entries(WRONG_PARAMS)) {
      for (const kind of kinds) {
        calls.push({
          method,
          params: ANY[kind],
          check: invalidParams(new RegExp(`^${method}: params: \\S`)),
        });
      }
    }
    // exit targets of the right type that are not ExVer are refused before exit begins.
    // ("" is absent on purpose: like the Node runtime, parseTarget reads it as null, i.e. an
    // uninstall, and the runtime would exit; tests/exver_test.ts pins that.)
    for (const target of [" ", ">>nonsense", "1.0.0:0 ||", "\u0000", "#:", "latest"]) {
      calls.push({
        method: "exit",
        params: { id: "e", target },
        check: invalidParams(/^exit: params\.target: \S/),
      });
    }
    assert.ok(calls.length > 100, `${calls.length} calls`);
    await pipelined(rt, calls);
    // Still initialized and serving; nothing was torn down by a bad exit.
    assert.deepEqual(await rt.client.call("execute", runAction("echo", 7)), {
      result: { got: 7 },
    });
    const growthMiB = (rssKiB(rt.runtime.child.pid) - before) / 1024;
    assert.ok(growthMiB < 64, `RSS grew ${growthMiB} MiB`);
  } finally {
    await rt.close();
  }
});

Deno.test("bad procedure paths (empty ids, '..', '/', NUL, too long) are -32602 for execute and sandbox", async () => {
  const rt = await startPackageRuntime();
  try {
    const calls = [];
    for (const method of ["execute", "sandbox"]) {
      for (const [procedure, details] of BAD_PATHS) {
        calls.push({
          method,
          params: { id: "p", procedure, input: { input: null }, timeout: 5000 },
          check: invalidParams(details),
        });
      }
      for (const [procedure, input, details] of BAD_INPUTS) {
        calls.push({
          method,
          params: { id: "p", procedure, input, timeout: 5000 },
          check: invalidParams(details),
        });
      }
    }
    await pipelined(rt, calls);
    // Well-formed ids that name no action are NotFound, not a bad path.
    for (const id of ["nope", "a.b", "A-Z_09", "a".repeat(128)]) {
      const outcome = await rt.client.call("execute", runAction(id, null, `nf-${id}`));
      assert.equal(outcome.error?.code, 6, `${id}: ${JSON.stringify(outcome)}`);
      assert.equal(outcome.error?.message, `action ${id} not found`);
    }
    // Nothing reached package code or the host for the refused calls.
    assert.equal(rt.host.calls.filter((c) => c.params.eventId === "p").length, 0);
  } finally {
    await rt.close();
  }
});
