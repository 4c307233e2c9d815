// Clients on a task whose codec is top-k (int8 values): two real clients
// (workers, real HTTP) send compressed updates for two rounds; every update is
// accepted, far smaller than f32, and the model improves.
import assert from "node:assert/strict";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { UpdateCodecSchema } from "../shared/schemas/mod.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { elementCount } from "../shared/shape.ts";

Deno.test("clients send top-k updates with int8 values that the coordinator aggregates", async () => {
  const { train, holdout } = await loadMnistSplit({ seed: 2 });
  const task = {
    ...mnistMlpTask({
      rounds: { total: 2, targetClients: 2, minClients: 2, timeoutSeconds: 600 },
      training: { localSteps: 15 },
    }),
    codec: UpdateCodecSchema.parse({ kind: "topk", fraction: 0.05 }),
  };
  const coordinator = await startCoordinator({
    tasks: [{ config: task, holdout }],
    auth: "insecure",
  });
  try {
    const served = await (await fetch(`${coordinator.url}/v1/task`)).json();
    assert.deepEqual(served.codec, task.codec);
    const clients = [0, 1].map((i) =>
      spawnClientWorker({
        coordinator: coordinator.url,
        dataset: selectRows(train, [...Array(400).keys()].map((r) => r + 400 * i)),
        clientId: `c${i}`,
        seed: i,
      })
    );
    await Promise.all([coordinator.federation.finished, ...clients.map((c) => c.done)]);
    const history = coordinator.federation.status().history;
    assert.deepEqual(history.map((h) => h.clients), [0, 2, 2]);
    const f32Bytes = coordinator.federation.trainable.reduce(
      (n, w) => n + 4 * elementCount(w.shape),
      0,
    );
    for (const h of history.slice(1)) {
      // 5% of the values, 5 bytes each (index and int8 value), plus the header.
      assert.ok(h.bytesReceived / 2 < 0.1 * f32Bytes, `${h.bytesReceived / 2} bytes an update`);
    }
    assert.ok(
      history[2]!.accuracy! > history[0]!.accuracy! + 0.2,
      JSON.stringify(history.map((h) => h.accuracy)),
    );
  } finally {
    await coordinator.shutdown();
  }
});
