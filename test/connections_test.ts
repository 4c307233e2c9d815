// Connections that cannot exhaust the coordinator: the coordinator CLI (its
// own process) takes 3,000 sockets that send half a request's headers and
// stop, and 500 updates from enrolled clients that stall after a few bytes of
// their body (they take the upload slots and the queue), from many loopback
// addresses (127.0.x.y, as from many hosts), while two client CLIs train a
// round. GET /v1/health keeps answering in under a second, the
// sockets are closed at the deadlines (not before), and the round closes
// with both clients' updates.
import assert from "node:assert/strict";
import net from "node:net";
import { join } from "node:path";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";
import { StatusSchema } from "../shared/schemas/mod.ts";

const ADMIN = "adm_connections_test_0123456789abcdef";
const ENROLMENT = "enr_connections_test_0123456789abcdef";
const HEADER_TIMEOUT = 3;
const REQUEST_TIMEOUT = 6;
/** How often the listener checks the deadlines: a quarter of the header timeout, at most 1 s. */
const CHECK_EVERY = Math.min(1, HEADER_TIMEOUT / 4);
/** Seconds a close may come after its check on this busy machine (measured: under 0.1). */
const LATE = 1.5;
const HALF_HEADERS = 3000;
const STALLED_UPLOADS = 500;
/** Sockets from one address: under --max-connections-per-address. */
const PER_ADDRESS = 100;

/** When a socket was closed, in seconds. */
interface Closed {
  sinceMade: number;
  sinceConnected: number;
}

interface Attacker {
  closedAt: Promise<Closed>;
  socket: net.Socket;
}

/**
 * Opens a socket from `from`, sends `text` and then nothing; resolves with the
 * seconds until it is closed, counted from when the socket was made (never
 * less than the server's count) and from its connection (never more).
 */
function attack(port: number, from: string, text: string): Attacker {
  const createdAt = performance.now();
  const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
  let connectedAt = createdAt;
  socket.on("connect", () => {
    connectedAt = performance.now();
    socket.write(text);
  });
  socket.on("error", () => {});
  socket.on("data", () => {});
  const closedAt = new Promise<Closed>((resolve) =>
    socket.on("close", () => {
      const now = performance.now();
      resolve({ sinceMade: (now - createdAt) / 1000, sinceConnected: (now - connectedAt) / 1000 });
    })
  );
  return { closedAt, socket };
}

function client(url: string, shard: number): Promise<Deno.CommandOutput> {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "client/main.ts",
      "--coordinator",
      url,
      "--enrolment-token",
      ENROLMENT,
      "--mnist-shard",
      `${shard}/4`,
      "--backend",
      "wasm",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("3,000 half-sent headers and 500 stalled uploads: health answers, the sockets close at the deadlines, clients finish their round", async () => {
  const dir = await Deno.makeTempDir({ prefix: "connections-test-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const coordinator = spawnCoordinator({
    taskFile: "mnist-mlp",
    runDir: join(dir, "run"),
    port,
    adminToken: ADMIN,
    enrolmentToken: ENROLMENT,
    linger: 30,
    args: [
      "--rounds",
      "1",
      "--target-clients",
      "2",
      "--min-clients",
      "2",
      "--header-timeout",
      String(HEADER_TIMEOUT),
      "--request-timeout",
      String(REQUEST_TIMEOUT),
      "--max-connections",
      "8000",
      "--max-connections-per-address",
      String(PER_ADDRESS + 10),
      "--rate",
      "1000",
    ],
  });
  const attackers: Attacker[] = [];
  try {
    assert.ok(await waitUntilUp(url, coordinator), "the coordinator starts");
    // The stalling uploaders are enrolled clients: their uploads pass the token check.
    const tokens: string[] = [];
    for (let i = 0; i < STALLED_UPLOADS; i++) {
      const response = await fetch(`${url}/v1/clients`, {
        method: "POST",
        headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ clientId: `staller-${i}` }),
      });
      assert.equal(response.status, 201);
      tokens.push((await response.json()).token);
    }
    // The clients start first; the flood begins while they load and train.
    const clients = Promise.all([client(url, 1), client(url, 2)]);
    const address = (i: number) =>
      `127.0.${1 + Math.floor(i / PER_ADDRESS / 250)}.${2 + (Math.floor(i / PER_ADDRESS) % 250)}`;
    for (let i = 0; i < HALF_HEADERS; i++) {
      attackers.push(attack(port, address(i), "GET /v1/health HTTP/1.1\r\nHost: x\r\nAccept:"));
    }
    const stalled: Attacker[] = [];
    for (let i = 0; i < STALLED_UPLOADS; i++) {
      stalled.push(attack(
        port,
        address(HALF_HEADERS + i),
        "POST /v1/updates HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n" +
          `Authorization: Bearer ${tokens[i]}\r\nContent-Length: 500000\r\n\r\n\u0008\u0000\u0000`,
      ));
    }
    attackers.push(...stalled);

    // Meanwhile: health, polled from 127.0.0.1, and two clients training a round.
    const latencies: number[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const start = performance.now();
        const response = await fetch(`${url}/v1/health`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
        latencies.push(performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const closed = await Promise.all(attackers.map((a) => a.closedAt));
    const outputs = await clients;
    polling = false;
    await poll;

    for (const [i, output] of outputs.entries()) {
      const text = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, `client ${i + 1}:\n${text}`);
      assert.match(text, /update accepted/);
    }
    const half = closed.slice(0, HALF_HEADERS);
    const uploads = closed.slice(HALF_HEADERS);
    // Not before the deadline: counted from when the socket was made (at least the server's
    // count); not much after it: counted from the connection (at most the server's count).
    const early = (xs: Closed[]) => Math.min(...xs.map((x) => x.sinceMade));
    const late = (xs: Closed[]) => Math.max(...xs.map((x) => x.sinceConnected));
    const range = (xs: Closed[]) => [early(xs), late(xs)].map((x) => x.toFixed(2));
    // Closed at the header deadline, not before, and not much after: the deadlines are checked
    // every CHECK_EVERY seconds; LATE allows for a loaded machine (the clients train meanwhile).
    assert.ok(early(half) >= HEADER_TIMEOUT - 0.2, `half headers closed at ${range(half)} s`);
    assert.ok(
      late(half) < HEADER_TIMEOUT + CHECK_EVERY + LATE,
      `half headers closed at ${range(half)} s`,
    );
    // The stalled uploads, reading or queued, are closed at the request deadline.
    assert.ok(early(uploads) >= REQUEST_TIMEOUT - 0.2, `uploads closed at ${range(uploads)} s`);
    assert.ok(
      late(uploads) < REQUEST_TIMEOUT + CHECK_EVERY + LATE,
      `uploads closed at ${range(uploads)} s`,
    );
    assert.ok(latencies.length >= 10, `${latencies.length} health checks`);
    const worst = Math.max(...latencies);
    assert.ok(worst < 1000, `GET /v1/health took up to ${worst.toFixed(0)} ms`);

    const status = StatusSchema.parse(
      await (await fetch(`${url}/v1/status`, { headers: { Authorization: `Bearer ${ADMIN}` } }))
        .json(),
    );
    assert.equal(status.history[1]!.updates.length, 2, "the round closed with both clients");
    console.log(
      `health: ${latencies.length} checks, worst ${worst.toFixed(0)} ms; half headers closed at ${
        range(half)
      } s, stalled uploads at ${
        range(uploads)
      } s (earliest from making the socket, latest from connecting)`,
    );
  } finally {
    for (const a of attackers) a.socket.destroy();
    try {
      coordinator.kill("SIGKILL");
    } catch { /* exited */ }
    await coordinator.status;
    await coordinator.stderr.cancel().catch(() => {});
  }
});
