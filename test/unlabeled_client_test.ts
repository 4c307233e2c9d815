// A client that holds only unlabeled rows trains on the KL term alone; its
// update is non-zero, accepted, and moves the global model.
import assert from "node:assert/strict";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { decodeSafetensors } from "../shared/wire/safetensors.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";

Deno.test("a client with only unlabeled rows sends a non-zero update that is accepted", async () => {
  const { train } = await loadMnistSplit();
  const rows = [...Array(300).keys()];
  const dataset = selectRows(train, rows, { hideLabels: new Set(rows) });
  const task = mnistMlpTask({
    rounds: { total: 1, targetClients: 1, minClients: 1 },
    training: { localSteps: 10 },
  });
  const coordinator = await startCoordinator({ tasks: [{ config: task }], auth: "insecure" });
  try {
    const model = async () =>
      decodeSafetensors(
        new Uint8Array(await (await fetch(`${coordinator.url}/v1/model`)).arrayBuffer()),
      ).tensors;
    const before = await model();
    const client = spawnClientWorker({
      coordinator: coordinator.url,
      dataset,
      clientId: "u",
      seed: 1,
    });
    await Promise.all([coordinator.federation.finished, client.done]);
    const round = coordinator.federation.status().history[1]!;
    assert.equal(round.clients, 1);
    assert.equal(round.numLabeled, 0);
    assert.equal(round.numUnlabeled, 300);
    const after = await model();
    let moved = 0;
    for (const [name, tensor] of after) {
      const old = before.get(name)!.data;
      for (let i = 0; i < tensor.data.length; i++) moved += Math.abs(tensor.data[i]! - old[i]!);
    }
    assert.ok(moved > 0, "the global model did not move");
  } finally {
    await coordinator.shutdown();
  }
});
