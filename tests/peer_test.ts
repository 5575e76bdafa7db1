import assert from "node:assert/strict";
import { ConnectionClosedError, RpcError } from "../lib/jsonrpc/errors.ts";
import { Peer, type PeerOptions } from "../lib/jsonrpc/peer.ts";

/** Two peers joined by a real Unix socket in a temp dir. */
async function pair(a: PeerOptions, b: PeerOptions) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/p.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const [server, client] = await Promise.all([
    listener.accept(),
    Deno.connect({ transport: "unix", path }),
  ]);
  listener.close();
  const left = new Peer(server, a);
  const right = new Peer(client, b);
  return {
    left,
    right,
    async close() {
      left.close();
      right.close();
      await Promise.all([left.closed, right.closed]);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("Peer answers requests in both directions over one connection", async () => {
  const p = await pair(
    { onRequest: (method, params) => ({ from: "left", method, params }) },
    { onRequest: (method) => method.toUpperCase() },
  );
  try {
    assert.deepEqual(await p.right.request("hello", [1]), {
      from: "left",
      method: "hello",
      params: [1],
    });
    assert.equal(await p.left.request("shout", {}), "SHOUT");
  } finally {
    await p.close();
  }
});

Deno.test("Peer completes pipelined requests out of order", async () => {
  const p = await pair({
    onRequest: (_m, params) =>
      new Promise((resolve) => setTimeout(() => resolve(params), params as number)),
  }, {});
  try {
    const order: number[] = [];
    await Promise.all(
      [200, 10, 100].map((ms) => p.right.request("wait", ms).then((v) => order.push(v as number))),
    );
    assert.deepEqual(order, [10, 100, 200]);
  } finally {
    await p.close();
  }
});

Deno.test("Peer rejects with the RpcError the other side threw", async () => {
  const p = await pair({
    onRequest: () => {
      throw new RpcError(6, "Not found", { details: "no such thing" });
    },
  }, {});
  try {
    await assert.rejects(p.right.request("x", {}), (error: unknown) => {
      assert.ok(error instanceof RpcError);
      assert.deepEqual(error.toObject(), {
        code: 6,
        message: "Not found",
        data: { details: "no such thing" },
      });
      return true;
    });
  } finally {
    await p.close();
  }
});

Deno.test("Peer delivers notifications and rejects pending requests when the connection closes", async () => {
  const seen: unknown[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const p = await pair({
    onNotification: (method, params) => {
      seen.push([method, params]);
      release();
    },
    onRequest: () => new Promise(() => {}),
  }, {});
  try {
    p.right.notify("tick", { n: 1 });
    await held;
    assert.deepEqual(seen, [["tick", { n: 1 }]]);
    const pending = p.right.request("never", {});
    p.left.close();
    await assert.rejects(pending, ConnectionClosedError);
    await p.right.closed;
    assert.ok(p.right.isClosed);
  } finally {
    await p.close();
  }
});

Deno.test("Peer aborts an outgoing request on its signal", async () => {
  const p = await pair({ onRequest: () => new Promise(() => {}) }, {});
  try {
    const controller = new AbortController();
    const pending = p.right.request("slow", {}, { signal: controller.signal });
    controller.abort(new Error("gave up"));
    await assert.rejects(pending, /gave up/);
  } finally {
    await p.close();
  }
});
