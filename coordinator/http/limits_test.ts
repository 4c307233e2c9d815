import assert from "node:assert/strict";
import { serveTask } from "../testing/test_app.ts";
import { createApp } from "./app.ts";
import { encodeSafetensors } from "../../shared/wire/safetensors.ts";
import { ErrorResponseSchema } from "../../shared/schemas/mod.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
import { UploadGate } from "./limits.ts";
import { readBody } from "./read_body.ts";
import { elementCount } from "../../shared/shape.ts";

const task = mnistMlpTask({
  rounds: { total: 2, targetClients: 3, minClients: 1, timeoutSeconds: 600 },
});
const { federation, auth, app } = await serveTask(task, {
  limits: {
    requestsPerSecond: 0.5,
    burst: 3,
    maxConcurrentUploads: 1,
    uploadQueue: 0,
    uploadTimeoutSeconds: 0.3,
  },
});
const [alice, bob, carol] = ["alice", "bob", "carol"].map((id) => auth.issue(id).token);

/** A body that sends a few bytes and then nothing (until `stop`). */
function stalledBody(): { body: ReadableStream<Uint8Array>; stop: () => void } {
  let controller: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(new Uint8Array(16));
    },
  });
  return {
    body,
    stop: () => {
      try {
        controller.close();
      } catch {
        // cancelled already
      }
    },
  };
}

const upload = (token: string, body: BodyInit, headers: Record<string, string> = {}) =>
  app.request("/v1/updates", {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/octet-stream",
      ...headers,
    },
    body,
  });

Deno.test("a client over its rate gets 429 with Retry-After; other clients are not affected", async () => {
  const get = (token: string) =>
    app.request("/v1/task", { headers: { Authorization: `Bearer ${token}` } });
  for (let i = 0; i < 3; i++) assert.equal((await get(carol!)).status, 200);
  const limited = await get(carol!);
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("Retry-After")) >= 1);
  assert.match(ErrorResponseSchema.parse(await limited.json()).error.message, /Too many requests/);
  assert.equal((await get(bob!)).status, 200);
});

Deno.test("a body that arrives too slowly is cut off with 408 and frees its slot", async () => {
  const { body } = stalledBody();
  const res = await upload(alice!, body);
  assert.equal(res.status, 408);
  assert.match(ErrorResponseSchema.parse(await res.json()).error.message, /did not arrive within/);
  assert.equal(federation.status().received, 0);
});

Deno.test("a declared body over the limit is refused with 413 before it is read", async () => {
  const { body, stop } = stalledBody();
  const res = await upload(bob!, body, {
    "Content-Length": String(federation.maxUpdateBytes() + 1),
  });
  assert.equal(res.status, 413);
  assert.match(
    ErrorResponseSchema.parse(await res.json()).error.message,
    new RegExp(`exceeds ${federation.maxUpdateBytes()} bytes`),
  );
  stop();
});

Deno.test("uploads in flight are bounded: 503 past the total, 429 for a client's second", async () => {
  const first = stalledBody();
  const pending = upload(alice!, first.body);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const busy = await upload(bob!, new Uint8Array(8));
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get("Retry-After"), "1");
  await busy.body?.cancel();
  const second = await upload(alice!, new Uint8Array(8));
  assert.equal(second.status, 429);
  await second.body?.cancel();
  // The stalled upload times out and its slot is free again.
  assert.equal((await pending).status, 408);
  const after = await upload(auth.issue("dave").token, new Uint8Array(8));
  assert.equal(after.status, 400); // admitted, and refused for its content only
  await after.body?.cancel();
});

Deno.test("readBody returns the exact bytes, with or without Content-Length, in any chunking", async () => {
  const data = Uint8Array.from({ length: 100_000 }, (_, i) => i % 251);
  const stream = (sizes: number[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        let at = 0;
        for (const n of sizes) {
          c.enqueue(data.slice(at, at + n));
          at += n;
        }
        c.close();
      },
    });
  for (const sizes of [[100_000], [1, 65_535, 34_464], Array(100).fill(1000)]) {
    for (const declared of [true, false]) {
      const headers: Record<string, string> = declared ? { "Content-Length": "100000" } : {};
      const request = new Request("http://x/", { method: "POST", body: stream(sizes), headers });
      const bytes = await readBody(request, { maxBytes: 200_000, timeoutMs: 5000 });
      assert.deepEqual(bytes, data);
    }
  }
});

Deno.test("UploadGate: past the bound, uploads wait their turn in order, then 503 past the queue or the wait", async () => {
  const gate = new UploadGate({ max: 1, queue: 2, waitMs: 200 });
  const first = await gate.acquire("a");
  const order: string[] = [];
  const b = gate.acquire("b").then((release) => (order.push("b"), release));
  const c = gate.acquire("c").then((release) => (order.push("c"), release));
  await assert.rejects(gate.acquire("d"), /uploads in flight/); // the queue is full
  await assert.rejects(gate.acquire("b"), /send one at a time/); // b is waiting already
  first();
  (await b)();
  (await c)();
  assert.deepEqual(order, ["b", "c"]);
  assert.equal(gate.inFlight, 0);
  // A wait past waitMs ends in 503, and leaves the gate as it was.
  const held = await gate.acquire("a");
  await assert.rejects(gate.acquire("e"), /uploads in flight/);
  held();
  assert.equal(gate.inFlight, 0);
  (await gate.acquire("e"))();
});

Deno.test("open mode: concurrent uploads from one address are not taken for one client's", async () => {
  const { registry } = await serveTask(task);
  const open = createApp(registry, { limits: { maxConcurrentUploads: 1 } });
  const federation = registry.get();
  const update = (clientId: string) => {
    const bytes = encodeSafetensors(
      new Map(federation.trainable.map(({ name, shape }) => [name, {
        shape,
        data: new Float32Array(elementCount(shape)).fill(0.001),
      }])),
      { round: "1", baseVersion: "0", numLabeled: "1", numUnlabeled: "0", clientId },
    );
    // Sent in two halves, 50 ms apart, so the two uploads overlap.
    return new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(bytes.slice(0, bytes.length >> 1));
        await new Promise((resolve) => setTimeout(resolve, 50));
        c.enqueue(bytes.slice(bytes.length >> 1));
        c.close();
      },
    });
  };
  const post = (clientId: string) =>
    open.request("/v1/updates", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: update(clientId),
    });
  const answers = await Promise.all([post("open-1"), post("open-2")]);
  assert.deepEqual(answers.map((r) => r.status), [202, 202]);
  assert.equal(federation.status().received, 2);
});

Deno.test("readBody from a node:http request: declared or chunked bodies whole, 413 past the bound, 408 when slow, 400 when cut", async () => {
  const { listen } = await import("./listener.ts");
  const net = await import("node:net");
  const outcomes: string[] = [];
  const server = await listen({
    fetch: async (request, env) => {
      try {
        const bytes = await readBody(request, {
          maxBytes: 1000,
          timeoutMs: 500,
          incoming: env.incoming,
        });
        outcomes.push(`read ${bytes.length} ${bytes.reduce((a, b) => a + b, 0)}`);
        return new Response(String(bytes.length));
      } catch (error) {
        const { status, code } = error as { status: number; code: string };
        outcomes.push(`${status} ${code}`);
        return new Response(code, { status });
      }
    },
  });
  const url = `http://127.0.0.1:${server.port}/`;
  try {
    const declared = await fetch(url, { method: "POST", body: new Uint8Array(100).fill(1) });
    assert.equal(await declared.text(), "100");
    // Chunked (no Content-Length), in pieces.
    const pieces = (n: number) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < n; i++) controller.enqueue(new Uint8Array(150).fill(2));
          controller.close();
        },
      });
    const chunked = await fetch(url, { method: "POST", body: pieces(4) });
    assert.equal(await chunked.text(), "600");
    const tooLarge = await fetch(url, { method: "POST", body: pieces(10) }).catch(() => null);
    await tooLarge?.body?.cancel();
    // Slow: 10 of 100 declared bytes, then nothing.
    const slow = net.connect({ host: "127.0.0.1", port: server.port });
    slow.on("error", () => {});
    slow.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    await new Promise((resolve) => setTimeout(resolve, 900));
    slow.destroy();
    // Cut: 10 of 100 declared bytes, then the connection closes.
    const cut = net.connect({ host: "127.0.0.1", port: server.port });
    cut.on("error", () => {});
    cut.write(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
      () => setTimeout(() => cut.destroy(), 100),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(outcomes, [
      "read 100 100",
      "read 600 1200",
      "413 payload_too_large",
      "408 request_timeout",
      "400 incomplete_body",
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("an upload whose client goes away leaves the queue at once, and its key is free again", async () => {
  const gate = new UploadGate({ max: 1, queue: 4, waitMs: 60_000 });
  const first = await gate.acquire("a");
  const gone = new AbortController();
  const waiting = gate.acquire("b", gone.signal);
  const behind = gate.acquire("c");
  gone.abort();
  await assert.rejects(waiting, /the client went away/);
  // "b" may upload again (no "in flight" refusal), and "c" still gets the slot first.
  const again = gate.acquire("b");
  first();
  (await behind)();
  (await again)();
  assert.equal(gate.inFlight, 0);
});
