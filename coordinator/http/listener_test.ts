// The listener's bounds and deadlines on real sockets: connections past the
// per-address and total bounds are closed at once while the others are
// served; half-sent headers, stalled bodies and idle keep-alive connections
// are closed at their deadlines. Sockets come from several loopback
// addresses (127.0.0.x), as from several hosts.
import assert from "node:assert/strict";
import net from "node:net";
import { checkCertificate, listen } from "./listener.ts";
import { createDevCertificates } from "../endpoint/dev_cert.ts";

/** A raw socket from `from` that sends `text`; resolves `closed` when the server closes it. */
function rawSocket(port: number, from: string, text = "") {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
  const received: string[] = [];
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  const connected = new Promise<void>((resolve) => socket.on("connect", () => resolve()));
  socket.on("data", (chunk) => received.push(chunk.toString()));
  socket.on("error", () => {});
  if (text) socket.on("connect", () => socket.write(text));
  return { socket, closed, connected, received };
}

const isClosed = async (closed: Promise<void>, ms: number) =>
  await Promise.race([
    closed.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
  ]);

Deno.test("connections past the per-address bound are closed at once; other addresses are served", async () => {
  const server = await listen({
    fetch: () => new Response("ok"),
    limits: { maxConnectionsPerAddress: 3, maxConnections: 100 },
  });
  try {
    const held = Array.from({ length: 3 }, () => rawSocket(server.port, "127.0.0.2"));
    await Promise.all(held.map((s) => s.connected));
    const extra = rawSocket(server.port, "127.0.0.2");
    assert.ok(await isClosed(extra.closed, 2000), "the 4th connection from one address is closed");
    assert.equal(server.refused(), 1);
    for (const s of held) assert.equal(s.socket.destroyed, false);
    const other = rawSocket(server.port, "127.0.0.3", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.match(other.received.join(""), /^HTTP\/1.1 200/);
    for (const s of [...held, other]) s.socket.destroy();
  } finally {
    await server.close();
  }
});

Deno.test("connections past the total bound are closed at once and the server keeps serving", async () => {
  const server = await listen({
    fetch: () => new Response("ok"),
    limits: { maxConnections: 4, maxConnectionsPerAddress: 100 },
  });
  try {
    const held = Array.from({ length: 4 }, (_, i) => rawSocket(server.port, `127.0.0.${10 + i}`));
    await Promise.all(held.map((s) => s.connected));
    const extra = rawSocket(server.port, "127.0.0.20");
    assert.ok(await isClosed(extra.closed, 2000));
    assert.equal(server.connections(), 4);
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(await res.text(), "ok");
    for (const s of held) s.socket.destroy();
  } finally {
    await server.close();
  }
});

Deno.test("half-sent headers, stalled bodies and idle keep-alive connections are closed at their deadlines", async () => {
  const server = await listen({
    fetch: async (request) => new Response(String((await request.arrayBuffer()).byteLength)),
    limits: {
      headersTimeoutSeconds: 0.5,
      requestTimeoutSeconds: 1.5,
      keepAliveTimeoutSeconds: 0.5,
    },
  });
  try {
    const started = performance.now();
    const half = rawSocket(server.port, "127.0.0.2", "GET / HTTP/1.1\r\nHost: x\r\n");
    const stalled = rawSocket(
      server.port,
      "127.0.0.3",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc",
    );
    const idle = rawSocket(server.port, "127.0.0.4", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const at = async (closed: Promise<void>) => {
      await closed;
      return (performance.now() - started) / 1000;
    };
    const [halfAt, stalledAt, idleAt] = await Promise.all([
      at(half.closed),
      at(stalled.closed),
      at(idle.closed),
    ]);
    assert.match(idle.received.join(""), /^HTTP\/1.1 200/, "the idle one was served first");
    // Not before the deadline, and by the next check (every 0.125 s here: a quarter of the
    // header timeout) plus LATE for a busy machine.
    const LATE = 0.5;
    const by = (deadline: number) => deadline + 0.125 + LATE;
    assert.ok(halfAt >= 0.4 && halfAt < by(0.5), `half-sent headers closed after ${halfAt} s`);
    assert.ok(stalledAt >= 1.4 && stalledAt < by(1.5), `stalled body closed after ${stalledAt} s`);
    assert.ok(idleAt >= 0.4 && idleAt < by(0.5), `idle keep-alive closed after ${idleAt} s`);
    assert.equal(server.connections(), 0);
  } finally {
    await server.close();
  }
});

Deno.test("a pipelined request slower than the keep-alive timeout is answered before the connection closes", async () => {
  const server = await listen({
    fetch: async (request) => {
      if (new URL(request.url).pathname === "/slow") {
        await new Promise((resolve) => setTimeout(resolve, 1200));
      }
      return new Response(new URL(request.url).pathname);
    },
    limits: { headersTimeoutSeconds: 5, requestTimeoutSeconds: 5, keepAliveTimeoutSeconds: 0.5 },
  });
  try {
    const started = performance.now();
    // Two requests at once on one connection: the second is still running when the first is answered.
    const both = rawSocket(
      server.port,
      "127.0.0.5",
      "GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    await both.closed;
    const text = both.received.join("");
    assert.match(text, /\/fast/);
    assert.match(text, /\/slow/, "the slow answer arrived");
    // Closed at the keep-alive timeout after the last answer, not before it.
    const closedAfter = (performance.now() - started) / 1000;
    assert.ok(closedAfter >= 1.2 + 0.4, `closed after ${closedAfter} s`);
  } finally {
    await server.close();
  }
});

Deno.test("HTTPS: a client trusting the CA is served; bad limits are refused", async () => {
  const { ca, server: pair } = await createDevCertificates({ hosts: ["localhost"] });
  const server = await listen({ fetch: () => new Response("secure"), tls: pair });
  const client = Deno.createHttpClient({ caCerts: [ca.cert] });
  try {
    assert.equal(server.protocol, "https");
    const res = await fetch(`https://localhost:${server.port}/`, { client });
    assert.equal(await res.text(), "secure");
    await assert.rejects(fetch(`https://localhost:${server.port}/`), TypeError);
  } finally {
    client.close();
    await server.close();
  }
  await assert.rejects(
    listen({ fetch: () => new Response(), limits: { maxConnections: 0 } }),
    /maxConnections must be a positive number/,
  );
  // A key that is not the certificate's, or a certificate out of date, is refused before listening.
  await assert.rejects(
    listen({ fetch: () => new Response(), tls: { cert: pair.cert, key: ca.key } }),
    /the private key is not the certificate's/,
  );
  assert.throws(
    () => checkCertificate(pair, new Date(Date.now() + 400 * 86_400_000)),
    /valid from .* to .*, not now/,
  );
  assert.throws(() => checkCertificate({ cert: "junk", key: pair.key }), /does not parse/);
});
