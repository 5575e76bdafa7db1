import assert from "node:assert/strict";
import { parseArgs } from "../lib/cli/config.ts";
import { startTaskFlags } from "./helpers/runtime_process.ts";

const noEnv = () => undefined;

Deno.test("parseArgs derives socket paths from the root and resolves relative paths", () => {
  const parsed = parseArgs(["--root", "rt", "--dev"], noEnv, "/work");
  assert.equal(parsed.kind, "config");
  if (parsed.kind !== "config") return;
  assert.equal(parsed.config.root, "/work/rt");
  assert.equal(parsed.config.socket, "/work/rt/rpc/service.sock");
  assert.equal(parsed.config.hostSocket, "/work/rt/rpc/host.sock");
  assert.equal(parsed.config.package, "/usr/lib/startos/package/index.js");
  assert.equal(parsed.config.stopTimeoutMs, 30000);
  assert.equal(parsed.config.dev, true);
  assert.equal(parsed.config.policy, null);
});

Deno.test("parseArgs prefers flags over environment fallbacks", () => {
  const env = (name: string) =>
    ({
      STARTOS_ROOT: "/e",
      STARTOS_SOCKET: "/e/s.sock",
      STARTOS_PACKAGE: "/p/index.js",
      STARTOS_POLICY: "pol.jsonc",
    })[
      name
    ];
  const parsed = parseArgs(["--socket=/f/s.sock", "--stop-timeout", "500"], env, "/cwd");
  assert.equal(parsed.kind, "config");
  if (parsed.kind !== "config") return;
  assert.equal(parsed.config.root, "/e");
  assert.equal(parsed.config.socket, "/f/s.sock");
  assert.equal(parsed.config.hostSocket, "/e/rpc/host.sock");
  assert.equal(parsed.config.package, "/p/index.js");
  assert.equal(parsed.config.policy, "/cwd/pol.jsonc");
  assert.equal(parsed.config.stopTimeoutMs, 500);
});

Deno.test("parseArgs refuses unknown flags and bad values with a sentence", () => {
  const error = (args: string[]) => {
    const parsed = parseArgs(args, noEnv, "/");
    return parsed.kind === "error" ? parsed.message : parsed.kind;
  };
  assert.equal(error(["--nope"]), "unknown option --nope");
  assert.equal(
    error(["--stop-timeout", "soon"]),
    '--stop-timeout expects a whole number, got "soon"',
  );
  assert.equal(
    error(["--stop-timeout", "0"]),
    "--stop-timeout expects a positive whole number, got 0",
  );
  assert.equal(error(["--root"]), "--root needs a value");
  assert.equal(error(["--log-format", "xml"]), '--log-format expects text or json, got "xml"');
  assert.equal(error(["extra"]), 'unexpected argument "extra"');
  assert.equal(
    error(["--socket", "/a", "--host-socket", "/a"]),
    "--socket and --host-socket must be different paths",
  );
  assert.equal(error(["--help"]), "help");
});

async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...await startTaskFlags(),
      new URL("../main.ts", import.meta.url).pathname,
      ...args,
    ],
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("main.ts exits 2 with usage on a bad flag and 0 with --help", async () => {
  const bad = await runMain(["--frobnicate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: unknown option --frobnicate\n/);
  assert.match(bad.stderr, /Usage: main.ts/);
  const help = await runMain(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--stop-timeout MS/);
});

Deno.test("the start task runs main.ts without blanket permissions", async () => {
  const flags = await startTaskFlags();
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"));
  assert.ok(flags.includes("--no-prompt"));
});
