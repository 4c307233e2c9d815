// Asynchronous (FedBuff) against synchronous rounds with one slow client: 4
// real clients in workers train mnist-mlp over HTTP for the same wall time;
// one waits 400 ms after every local step, which makes it more than 10x
// slower than the others (a stand-in for a slow device, which this machine
// does not have). The clock starts once all 4 have fetched the model.
import assert from "node:assert/strict";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { partition } from "../shared/data/partition.ts";
import type { RoundMetrics } from "../shared/schemas/mod.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";

const SECONDS = 12;
const { train, holdout } = await loadMnistSplit({ seed: 2 });
const parts = partition(train.labels, [...train.labels.keys()], {
  clients: 4,
  beta: "iid",
  labeledFraction: 0.2,
  seed: 2,
});

/** Runs 4 clients (client-4 slow) for SECONDS, stops the run, returns its history. */
async function runFor(mode: "sync" | "async"): Promise<RoundMetrics[]> {
  const task = mnistMlpTask({
    rounds: {
      total: 10000,
      targetClients: 4,
      minClients: 1,
      timeoutSeconds: 600,
      mode,
      bufferSize: 3,
      maxStaleness: 20,
      staleness: { kind: "polynomial", a: 0.5 },
    },
    training: { localSteps: 10, labeledBatchSize: 16, unlabeledBatchSize: 32 },
  });
  const coordinator = await startCoordinator({
    tasks: [{ config: task, holdout }],
    auth: "insecure",
  });
  const clients = parts.map((part, i) =>
    spawnClientWorker({
      coordinator: coordinator.url,
      dataset: selectRows(train, part.rows, { hideLabels: part.unlabeledRows }),
      clientId: `client-${i + 1}`,
      seed: i,
      stepDelayMs: i === 3 ? 400 : 0,
    })
  );
  try {
    while (coordinator.federation.status().clients.length < 4) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    await coordinator.federation.stop();
    await Promise.all(clients.map((c) => c.done));
    return coordinator.federation.status().history.slice(1);
  } finally {
    clients.forEach((c) => c.terminate());
    await coordinator.shutdown();
  }
}

Deno.test({
  name: "async mode advances without the slow client, down-weights its stale updates, ends as good",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const sync = await runFor("sync");
    const asyncRun = await runFor("async");
    assert.ok(sync.length >= 1, "sync closed at least one round");
    // Every sync round waited for all 4 clients, the slow one included.
    for (const round of sync) assert.equal(round.updates.length, 4);
    assert.ok(sync.every((r) => r.mode === "sync" && r.updates.every((u) => u.weight === 1)));
    // Async applied buffers of 3 without waiting for the slow client ...
    assert.ok(
      asyncRun.length > 2 * sync.length,
      `async versions ${asyncRun.length} vs sync rounds ${sync.length}`,
    );
    assert.ok(asyncRun.every((r) => r.mode === "async" && r.updates.length === 3));
    const fastOnly = asyncRun.filter((r) => r.updates.every((u) => u.clientId !== "client-4"));
    assert.ok(fastOnly.length > 0, "some versions hold no update of the slow client");
    // ... and the slow client's updates arrived stale and counted less.
    const slow = asyncRun.flatMap((r) => r.updates.filter((u) => u.clientId === "client-4"));
    assert.ok(slow.length > 0, "the slow client's updates were applied");
    for (const u of slow) {
      assert.ok(u.staleness >= 1, `slow update staleness ${u.staleness}`);
      assert.ok(Math.abs(u.weight - 1 / Math.sqrt(1 + u.staleness)) < 1e-9);
    }
    const syncAccuracy = sync.at(-1)!.accuracy!;
    const asyncAccuracy = asyncRun.at(-1)!.accuracy!;
    assert.ok(
      asyncAccuracy >= syncAccuracy,
      `async ${asyncAccuracy} vs sync ${syncAccuracy} after ${SECONDS} s`,
    );
  },
});
