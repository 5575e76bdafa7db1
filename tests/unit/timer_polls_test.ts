/**
 * The idle look over package timers in a real Deno process (tests/fixtures/idle/timer_poll.ts,
 * wired as worker/entry.ts wires it): a timer whose ticks only stat a file makes the child idle
 * with that file as a poll; one whose ticks also write keeps it; a timer the package unref'd
 * itself holds nothing.
 */

import assert from "node:assert/strict";

const SCRIPT = new URL("../fixtures/idle/timer_poll.ts", import.meta.url).pathname;

async function run(mode: string): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir({ prefix: "startos-timer-poll-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        SCRIPT,
        mode,
        dir,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return JSON.parse(new TextDecoder().decode(stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("idle look: a timeout re-armed by ticks that only stat is a poll of that file", async () => {
  const { ticks, polls } = await run("stat") as { ticks: number; polls: unknown[] };
  assert.equal(ticks, 1, "one tick observed is enough");
  assert.equal(polls.length, 1);
  const [poll] = polls as { path: string; state: unknown; everyMs: number }[];
  assert.match(poll.path, /\/settings\.db$/);
  assert.equal(poll.state, null, "the file does not exist");
  assert.equal(poll.everyMs, 100);
});

Deno.test("idle look: an interval whose ticks only stat is a poll", async () => {
  const { polls } = await run("interval") as { polls: { everyMs: number }[] };
  assert.equal(polls.length, 1);
  assert.equal(polls[0].everyMs, 100);
});

Deno.test("idle look: ticks that write keep the child, and it says why", async () => {
  const { ticks, heldFor } = await run("write");
  assert.equal(ticks, 4, "never idle");
  assert.match(String(heldFor), /did more than look at files: writeFile\(\)/);
});

Deno.test("idle look: ticks that try a connection keep the child", async () => {
  const { ticks, heldFor } = await run("connect");
  assert.equal(ticks, 4, "never idle");
  assert.match(String(heldFor), /did more than look at files: connect\(\)/);
});

Deno.test("idle look: a timer init left is not waited for past the look's wait, and is counted", async () => {
  const { ticks, polls, droppedTimers } = await run("leftover") as {
    ticks: number;
    polls: unknown[];
    droppedTimers: number[];
  };
  assert.ok(ticks >= 1, "the poll's ticks were seen meanwhile");
  assert.equal(polls.length, 1);
  assert.deepEqual(droppedTimers, [60_000]);
});

Deno.test("idle look: a timer the package unref'd itself holds nothing", async () => {
  const { ticks, polls } = await run("unrefd");
  assert.equal(ticks, 0);
  assert.deepEqual(polls, []);
});

Deno.test("idle look: util.promisify(setTimeout) still sleeps once the timers are wrapped", async () => {
  const { slept } = await run("promisify");
  assert.ok(Number(slept) >= 45, `slept ${slept} ms`);
});
