// Resumable uploads: a 40 MB update goes to the coordinator CLI (its own
// process, authentication on) through a TCP proxy that cuts the link after
// every 5 MB it forwards, and the coordinator is killed with SIGKILL and
// restarted on the same run folder when 20 MB have gone through. The client
// (tus-js-client over fetch, as every client sends large updates) resumes
// from the offset each time; the update is then taken and folded, and the
// one kept (--keep-updates) is byte for byte the one sent.
import assert from "node:assert/strict";
import { join } from "node:path";
import { CoordinatorClient } from "../client/link/coordinator_client.ts";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";
import { encodeSafetensors } from "../shared/wire/safetensors.ts";
import { StatusSchema } from "../shared/schemas/mod.ts";
import { dense, sequential } from "../shared/tasks/layers.ts";

const ADMIN = "admin-token-of-the-resumable-test";
const ENROL = "enrolment-token-of-the-resumable-test";
const CUT_EVERY = 5_000_000;
const KILL_AT = 20_000_000;

/** Forwards `listen` to `target`; cuts the link after every CUT_EVERY bytes sent upstream. */
function cuttingProxy(listen: number, target: number, onBytes: (total: number) => void) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: listen });
  const stats = { forwarded: 0, cuts: 0 };
  let nextCut = CUT_EVERY;
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const client of listener) {
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: target });
      } catch {
        client.close(); // the coordinator is down: as a refused connection
        continue;
      }
      open.add(client).add(upstream);
      const close = () => {
        for (const c of [client, upstream]) {
          open.delete(c);
          try {
            c.close();
          } catch {
            // closed already
          }
        }
      };
      (async () => {
        const buffer = new Uint8Array(64 * 1024);
        try {
          for (;;) {
            const n = await client.read(buffer);
            if (n === null) break;
            let chunk = buffer.subarray(0, n);
            const cut = stats.forwarded + n >= nextCut;
            if (cut) chunk = chunk.subarray(0, nextCut - stats.forwarded);
            await upstream.write(chunk);
            stats.forwarded += chunk.length;
            onBytes(stats.forwarded);
            if (cut) {
              nextCut += CUT_EVERY;
              stats.cuts++;
              break;
            }
          }
        } catch {
          // either side went away
        }
        close();
      })();
      (async () => {
        try {
          await upstream.readable.pipeTo(client.writable, { preventClose: true });
        } catch {
          // either side went away
        }
        close();
      })();
    }
  })().catch(() => {});
  return {
    stats,
    close: () => {
      listener.close();
      for (const c of [...open]) {
        try {
          c.close();
        } catch {
          // closed already
        }
      }
    },
  };
}

Deno.test("a 40 MB update resumes over a link cut every 5 MB and a coordinator SIGKILL, and is folded byte for byte", async () => {
  const dir = await Deno.makeTempDir({ prefix: "resumable-" });
  // 1000 x 10000 kernel + 10000 bias: 10,010,000 parameters, 40 MB as f32.
  const task = {
    id: "big",
    model: { topology: sequential("big", [dense("wide", 10_000, "linear", [1000])]) },
    input: { shape: [1000], labels: ["a", "b"] },
    rounds: { total: 1, targetClients: 1, minClients: 1, timeoutSeconds: 600 },
    training: { evaluate: false },
  };
  await Deno.writeTextFile(join(dir, "task.json"), JSON.stringify(task));
  const port = freePort();
  const proxyPort = freePort();
  const url = `http://127.0.0.1:${port}`;
  const start = () =>
    spawnCoordinator({
      taskFile: join(dir, "task.json"),
      runDir: join(dir, "run"),
      port,
      adminToken: ADMIN,
      enrolmentToken: ENROL,
      linger: 30,
      args: ["--keep-updates"],
    });
  let child = start();
  let restarted: Promise<void> | null = null;
  const proxy = cuttingProxy(proxyPort, port, (forwarded) => {
    if (forwarded >= KILL_AT && !restarted) {
      restarted = (async () => {
        child.kill("SIGKILL");
        await child.status;
        child = start();
        assert.ok(await waitUntilUp(url, child), "the coordinator did not start again");
      })();
    }
  });
  try {
    assert.ok(await waitUntilUp(url, child));
    const { clientId, token } = await CoordinatorClient.enrol(url, {
      enrolmentToken: ENROL,
      clientId: "far-away",
    });
    const api = new CoordinatorClient(`http://127.0.0.1:${proxyPort}`, { token });
    assert.equal((await api.task()).resumableUploads, true);
    const kernel = new Float32Array(10_000_000);
    for (let i = 0; i < kernel.length; i++) kernel[i] = Math.sin(i) * 1e-3;
    const body = encodeSafetensors({
      "wide/kernel": { shape: [1000, 10_000], data: kernel },
      "wide/bias": { shape: [10_000], data: new Float32Array(10_000).fill(2e-3) },
    }, { round: "1", baseVersion: "0", numLabeled: "7", numUnlabeled: "3", clientId });
    assert.ok(body.byteLength > 40_000_000);
    const accepted = await api.postResumable(body, {
      retryDelays: new Array(100).fill(300),
    });
    assert.equal(accepted.accepted, true);
    assert.ok(restarted, "the coordinator was not killed during the upload");
    await restarted;
    // Cut 7 times or more (and once killed): no connection carried more than
    // 5 MB, so only resuming from the offset could finish it.
    assert.ok(proxy.stats.cuts >= 7, `${proxy.stats.cuts} cuts`);
    console.log(
      `${proxy.stats.cuts} cuts, ${(proxy.stats.forwarded / 1e6).toFixed(1)} MB through the proxy`,
    );
    // The round closes with it, and the update it folded is the one sent.
    for (let i = 0;; i++) {
      const status = StatusSchema.parse(
        await (await fetch(`${url}/v1/status`, { headers: { Authorization: `Bearer ${ADMIN}` } }))
          .json(),
      );
      if (status.phase === "finished") {
        assert.equal(status.history[1]!.clients, 1);
        break;
      }
      assert.ok(i < 300, "the round did not close");
      await new Promise((r) => setTimeout(r, 100));
    }
    const kept = await Deno.readFile(
      join(dir, "run", "big", "updates", "round-0001", `${clientId}.safetensors`),
    );
    assert.ok(
      kept.length === body.length && kept.every((b, i) => b === body[i]),
      "not the bytes sent",
    );
    // Naming an upload that does not exist is a 404 that changes nothing.
    const again = await fetch(`${url}/v1/updates`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ upload: "0".repeat(32) }),
    });
    assert.equal(again.status, 404);
    await again.body?.cancel();
  } finally {
    proxy.close();
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await child.status;
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
