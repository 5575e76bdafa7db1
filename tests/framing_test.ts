import assert from "node:assert/strict";
import { type Frame, LineSplitter } from "../lib/jsonrpc/framing.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const text = (frames: Frame[]) =>
  frames.map((f) =>
    f.kind === "line" ? f.text : f.kind === "overflow" ? `<overflow ${f.bytes}>` : "<invalid utf-8>"
  );

Deno.test("LineSplitter joins a line split across chunks and splits merged lines", () => {
  const s = new LineSplitter();
  assert.deepEqual(text(s.push(enc('{"a"'))), []);
  assert.deepEqual(text(s.push(enc(":1}\n{"))), ['{"a":1}']);
  assert.deepEqual(text(s.push(enc('"b":2}\n{"c":3}\n'))), ['{"b":2}', '{"c":3}']);
  assert.equal(s.buffered, 0);
});

Deno.test("LineSplitter keeps a UTF-8 character split across chunks whole", () => {
  const s = new LineSplitter();
  const bytes = enc('"€"\n');
  const frames = [
    ...s.push(bytes.subarray(0, 2)),
    ...s.push(bytes.subarray(2, 3)),
    ...s.push(bytes.subarray(3)),
  ];
  assert.deepEqual(text(frames), ['"€"']);
});

Deno.test("LineSplitter reports invalid UTF-8 per line, in one chunk or across chunks", () => {
  const s = new LineSplitter();
  assert.deepEqual(text(s.push(new Uint8Array([0x31, 0xff, 0x0a, 0x32, 0x0a]))), [
    "<invalid utf-8>",
    "2",
  ]);
  assert.deepEqual(text(s.push(new Uint8Array([0x33, 0xc3]))), []);
  assert.deepEqual(text(s.push(new Uint8Array([0x41, 0x0a, 0x34, 0x0a]))), [
    "<invalid utf-8>",
    "4",
  ]);
});

Deno.test("LineSplitter drops a trailing CR and skips blank lines", () => {
  const s = new LineSplitter();
  assert.deepEqual(text(s.push(enc("\n\r\n \t\n1\r\n2\n"))), ["1", "2"]);
});

Deno.test("LineSplitter reports an over-long line once and resumes after its newline", () => {
  const s = new LineSplitter(10);
  const frames = [
    ...s.push(enc("12345")),
    ...s.push(enc("678901234")), // crosses the limit here
    ...s.push(enc("x".repeat(1000))), // discarded, not buffered
  ];
  assert.deepEqual(text(frames), ["<overflow 14>"]);
  assert.equal(s.buffered, 0);
  assert.deepEqual(text(s.push(enc("yyy\nok\n"))), ["ok"]);
  assert.deepEqual(text(s.push(enc("0123456789\n01234567890\n"))), ["0123456789", "<overflow 11>"]);
});

Deno.test("LineSplitter handles a 16 MiB line in chunks in linear time", () => {
  const s = new LineSplitter();
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const started = performance.now();
  for (let i = 0; i < 255; i++) assert.equal(s.push(chunk).length, 0);
  const frames = s.push(enc("\n"));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].kind === "line" && frames[0].text.length, 255 * 64 * 1024);
  assert.ok(performance.now() - started < 5000);
});
