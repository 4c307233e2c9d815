// Load: 200 clients at once, each enrolled with its own token, post an update
// of a 1M-parameter model to a coordinator running as its own process (the
// CLI, authentication on, at most 32 uploads in flight). The only refusals are
// the configured limits (503 busy, 429), which clients retry after
// Retry-After; no update is lost: the round aggregates all 200. The
// coordinator's peak memory (VmHWM) and the figures are printed and written to
// runs/load-test.json.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeSafetensors } from "../shared/safetensors.ts";
import { StatusSchema } from "../shared/schemas.ts";
import { dense, sequential } from "../shared/tasks/_layers.ts";
import { freePort, spawnCoordinator, waitUntilUp } from "./_coordinator_process.ts";

const CLIENTS = 200;
const MAX_UPLOADS = 32;
const ADMIN = "admin-token-for-the-load-test";
const ENROL = "enrolment-token-for-the-load-test";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Peak and current resident memory of a process, in MiB (Linux /proc). */
function memory(pid: number): { peakMiB: number; rssMiB: number } | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { peakMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024 };
  } catch {
    return null;
  }
}

Deno.test(`${CLIENTS} concurrent clients post 1M-parameter updates: none lost, only configured refusals`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "load-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  // 1000 x 1000 kernel + 1000 bias = 1,001,000 parameters.
  const task = {
    id: "load",
    model: { topology: sequential("load", [dense("wide", 1000, "linear", [1000])]) },
    input: { shape: [1000], labels: Array.from({ length: 1000 }, (_, i) => `c${i}`) },
    rounds: { total: 1, targetClients: CLIENTS, minClients: CLIENTS, timeoutSeconds: 3600 },
  };
  await Deno.writeTextFile(join(dir, "task.json"), JSON.stringify(task));
  const child = spawnCoordinator({
    taskFile: join(dir, "task.json"),
    runDir: join(dir, "run"),
    port,
    adminToken: ADMIN,
    enrolmentToken: ENROL,
    linger: 30,
    args: ["--max-uploads", String(MAX_UPLOADS)],
  });
  const stderr = new Response(child.stderr).text();
  try {
    assert.ok(await waitUntilUp(url, child), "the coordinator did not start");
    const idle = memory(child.pid);
    const kernel = new Float32Array(1000 * 1000).fill(1e-4);
    const bias = new Float32Array(1000).fill(1e-4);
    const statuses = new Map<number, number>();
    const started = performance.now();
    let bytesSent = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
      const clientId = `load-${i}`;
      const enrol = await fetch(`${url}/v1/enrol`, {
        method: "POST",
        headers: { Authorization: `Bearer ${ENROL}`, "Content-Type": "application/json" },
        body: JSON.stringify({ clientId }),
      });
      assert.equal(enrol.status, 201);
      const { token } = await enrol.json();
      const body = encodeSafetensors({
        "wide/kernel": { shape: [1000, 1000], data: kernel },
        "wide/bias": { shape: [1000], data: bias },
      }, { round: "1", baseVersion: "0", numLabeled: "10", numUnlabeled: "10", clientId });
      for (let attempt = 0;; attempt++) {
        const res = await fetch(`${url}/v1/updates`, {
          method: "POST",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/octet-stream" },
          body: body as Uint8Array<ArrayBuffer>,
        });
        bytesSent += body.length;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const answer = await res.json();
        if (res.status === 202) return;
        assert.ok(
          res.status === 503 || res.status === 429,
          `${res.status} ${JSON.stringify(answer)}`,
        );
        assert.ok(attempt < 200, `${clientId} was refused ${attempt} times`);
        const wait = Number(res.headers.get("Retry-After"));
        assert.ok(wait >= 1, "a limit's answer has Retry-After");
        await sleep(wait * 1000 * (0.5 + Math.random()));
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    let status;
    for (let i = 0;; i++) {
      status = StatusSchema.parse(
        await (await fetch(`${url}/v1/status`, { headers: { Authorization: `Bearer ${ADMIN}` } }))
          .json(),
      );
      if (status.phase === "finished") break;
      assert.ok(i < 600, `the round did not close: ${status.phase}, ${status.received} received`);
      await sleep(100);
    }
    const peak = memory(child.pid);
    const round = status.history[1]!;
    assert.equal(round.clients, CLIENTS, "an accepted update was lost");
    assert.equal(new Set(round.updates.map((u) => u.clientId)).size, CLIENTS);
    assert.equal(statuses.get(202), CLIENTS);
    const figures = {
      clients: CLIENTS,
      parameters: 1_001_000,
      updateBytes: 4_004_000 + 512,
      maxUploads: MAX_UPLOADS,
      responses: Object.fromEntries(statuses),
      secondsToAcceptAll: Number(seconds.toFixed(1)),
      megabytesSent: Math.round(bytesSent / 1e6),
      coordinatorIdleMiB: idle && Math.round(idle.rssMiB),
      coordinatorPeakMiB: peak && Math.round(peak.peakMiB),
    };
    console.log(JSON.stringify(figures));
    await Deno.mkdir("runs", { recursive: true });
    await Deno.writeTextFile("runs/load-test.json", JSON.stringify(figures, null, 2) + "\n");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await child.status;
    await stderr;
    await Deno.remove(dir, { recursive: true });
  }
});
