import assert from "node:assert/strict";
import { classify } from "../lib/jsonrpc/messages.ts";
import { encodeError, encodeResult } from "../lib/jsonrpc/codec.ts";

Deno.test("classify accepts a request without jsonrpc and tells requests from notifications", () => {
  assert.deepEqual(classify({ id: 3, method: "start", params: {} }), {
    kind: "request",
    id: 3,
    method: "start",
    params: {},
  });
  assert.deepEqual(classify({ method: "callback", params: { id: 1 } }), {
    kind: "notification",
    method: "callback",
    params: { id: 1 },
  });
  assert.equal(classify({ id: null, method: "x" }).kind, "request");
});

Deno.test("classify rejects bad shapes with a reason and the id when it is usable", () => {
  assert.deepEqual(classify(5), {
    kind: "invalid",
    id: null,
    reason: "a message must be a JSON object",
  });
  assert.deepEqual(classify({ jsonrpc: "1.0", id: 2, method: "x" }).kind, "invalid");
  assert.equal((classify({ jsonrpc: "1.0", id: 2, method: "x" }) as { id: unknown }).id, 2);
  assert.equal(classify({ id: 1, method: 7 }).kind, "invalid");
  assert.equal(classify({ id: [1], method: "x" }).kind, "invalid");
  assert.equal(classify({ id: 1 }).kind, "invalid");
  assert.equal(classify({ id: 1, result: 1, error: { code: 1, message: "m" } }).kind, "invalid");
});

Deno.test("classify reads answers to this side's requests", () => {
  assert.deepEqual(classify({ jsonrpc: "2.0", id: 4, result: null }), {
    kind: "response",
    id: 4,
    result: null,
  });
  assert.deepEqual(classify({ id: 4, error: { code: 6, message: "gone" } }), {
    kind: "response",
    id: 4,
    error: { code: 6, message: "gone" },
  });
  assert.equal(classify({ id: 4, error: { message: "no code" } }).kind, "invalid");
});

Deno.test("encodeResult writes jsonrpc, the id and an explicit null result", () => {
  assert.equal(encodeResult(1, undefined), '{"jsonrpc":"2.0","id":1,"result":null}');
  assert.equal(encodeResult("a", { x: [1] }), '{"jsonrpc":"2.0","id":"a","result":{"x":[1]}}');
  assert.equal(encodeResult(null, () => 1), '{"jsonrpc":"2.0","id":null,"result":null}');
  assert.throws(() => encodeResult(1, 1n), /not JSON-serialisable/);
  assert.equal(
    encodeError(2, { code: 6, message: "m" }),
    '{"jsonrpc":"2.0","id":2,"error":{"code":6,"message":"m"}}',
  );
});
