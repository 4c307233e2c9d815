// Differential privacy end to end: the coordinator CLI (its own process, JSON
// logs, authentication on) runs a task file with central DP and a budget;
// two clients post real updates over HTTP each round. The run stops before
// the round that would pass maxEpsilon, exports its final model, and says
// why; epsilon is in every round's metrics, in /v1/status, in the JSON log
// lines, in Prometheus (fl_privacy_epsilon), and plotted on the dashboard
// (headless Chromium).
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";
import { spentAfter } from "../coordinator/privacy/privacy_task.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../shared/wire/safetensors.ts";
import { StatusSchema } from "../shared/schemas/mod.ts";
import { dense, sequential } from "../shared/tasks/layers.ts";
import { launchChromium, waitFor } from "./_browser.ts";

const ADMIN = "adm_privacy_test_0123456789abcdef";
const ENROLMENT = "enr_privacy_test_0123456789abcdef";
const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

Deno.test("maxEpsilon stops the run at the right round; status, logs, metrics and the dashboard show epsilon per round", async () => {
  // Rounds of both clients (q = 1), z = 1.5, delta 1e-3: the budget sits between rounds 4 and 5.
  const params = {
    mode: "central" as const,
    noiseMultiplier: 1.5,
    clip: 1,
    adaptive: null,
    delta: 1e-3,
    maxEpsilon: null,
    sampleRate: 1,
    population: 2,
    expectedClients: 2,
    fewest: 2,
    noiseShareStd: 0,
  };
  const maxEpsilon = Number(((spentAfter(params, 4) + spentAfter(params, 5)) / 2).toFixed(3));
  const task = {
    id: "dp-e2e",
    model: { topology: sequential("tiny", [dense("dense1", 3, "linear", [4])]) },
    input: { shape: [4], labels: ["a", "b", "c"] },
    rounds: { total: 20, targetClients: 2, minClients: 2, timeoutSeconds: 600 },
    training: { evaluate: false },
    privacy: { mode: "central", noiseMultiplier: 1.5, clip: 1, delta: 1e-3, maxEpsilon },
  };
  const dir = await Deno.makeTempDir({ prefix: "privacy-e2e-" });
  const taskFile = join(dir, "task.json");
  await Deno.writeTextFile(taskFile, JSON.stringify(task));
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnCoordinator({
    taskFile,
    runDir: join(dir, "run"),
    port,
    adminToken: ADMIN,
    enrolmentToken: ENROLMENT,
    linger: 60,
    args: ["--log-format", "json"],
    stdout: "piped",
  });
  const browser = await launchChromium({ webgpu: false });
  try {
    assert.ok(await waitUntilUp(url, child));
    const tokens = await Promise.all(["a", "b"].map(async (clientId) => {
      const res = await fetch(`${url}/v1/enrol`, {
        method: "POST",
        headers: { ...auth(ENROLMENT), "Content-Type": "application/json" },
        body: JSON.stringify({ clientId }),
      });
      return [clientId, (await res.json()).token as string] as const;
    }));
    const status = async () =>
      StatusSchema.parse(await (await fetch(`${url}/v1/status`, { headers: auth(ADMIN) })).json());
    for (let round = 1; round <= 20; round++) {
      const s = await status();
      if (s.phase === "finished") break;
      for (const [clientId, token] of tokens) {
        const model = await fetch(`${url}/v1/model?clientId=${clientId}`, { headers: auth(token) });
        const { tensors, metadata } = decodeSafetensors(new Uint8Array(await model.arrayBuffer()));
        const delta = new Map<string, Float32Tensor>(
          [...tensors].map(([name, t]) => [name, { shape: t.shape, data: t.data.map(() => 0.01) }]),
        );
        const res = await fetch(`${url}/v1/updates`, {
          method: "POST",
          headers: { ...auth(token), "Content-Type": "application/octet-stream" },
          body: encodeSafetensors(delta, {
            round: metadata.round!,
            baseVersion: metadata.version!,
            numLabeled: "5",
            numUnlabeled: "0",
          }) as Uint8Array<ArrayBuffer>,
        });
        assert.equal(res.status, 202, await res.text());
      }
      await waitFor("the round to close", async () => {
        const after = await status();
        return after.history.length > round || after.phase === "finished" ? true : undefined;
      });
    }
    const done = await waitFor("the run to finish", async () => {
      const s = await status();
      return s.phase === "finished" ? s : undefined;
    });
    // Rounds 1-4 ran; round 5 would have passed the budget.
    assert.deepEqual(done.history.map((h) => h.round), [0, 1, 2, 3, 4]);
    const eps = done.history.slice(1).map((h) => h.privacy!.epsilon);
    for (const [i, e] of eps.entries()) assert.equal(e, spentAfter(params, i + 1));
    assert.ok(eps[3]! <= maxEpsilon && spentAfter(params, 5) > maxEpsilon);
    assert.equal(done.privacy!.epsilon, eps[3]);
    assert.match(
      done.privacy!.stoppedBecause!,
      /round 5 would take epsilon to [\d.]+, past maxEpsilon/,
    );
    assert.ok(done.finalModel, "the final model is exported");
    // Prometheus.
    const metrics = await (await fetch(`${url}/metrics`, { headers: auth(ADMIN) })).text();
    const gauge = /fl_privacy_epsilon\{task="dp-e2e"\} ([\d.e+-]+)/.exec(metrics);
    assert.ok(gauge, metrics.slice(0, 500));
    assert.ok(Math.abs(Number(gauge[1]) - eps[3]!) < 1e-9);
    // The dashboard plots epsilon by round (the initial model's point and four rounds).
    const page = await browser.newPage();
    await page.goto(`${url}/#token=${ADMIN}`);
    await waitFor(
      "the epsilon plot",
      async () => (await page.getAttribute("#chart-epsilon", "data-points")) === "5" || undefined,
    );
    assert.equal(await page.isVisible("#privacy"), true);
    assert.match(await page.textContent("#privacy-budget") ?? "", /budget [\d.]+; stopped/);
  } finally {
    await browser.close();
    child.kill("SIGTERM");
    await child.status;
    // The JSON log lines: one per round, with epsilon.
    const text = new TextDecoder().decode(await new Response(child.stdout).arrayBuffer());
    const rounds = text.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((l) =>
      l.event === "round" && l.round > 0
    );
    await child.stderr.cancel();
    await Deno.remove(dir, { recursive: true });
    assert.deepEqual(rounds.map((l) => l.round), [1, 2, 3, 4]);
    for (const l of rounds) assert.equal(typeof l.epsilon, "number");
  }
});
