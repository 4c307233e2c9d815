// Two tasks on one coordinator at the same time, each with its own clients:
// their rounds, models and clients do not mix.
import assert from "node:assert/strict";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { resolveTaskFile } from "../coordinator/cli/load_task.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { partition } from "../shared/data/partition.ts";
import { decodeSafetensors, encodeSafetensors } from "../shared/wire/safetensors.ts";
import { ErrorResponseSchema, StatusSchema } from "../shared/schemas/mod.ts";
import { mnistMlpTopology } from "../shared/tasks/mnist_mlp.ts";

Deno.test("two tasks on one coordinator train side by side without interfering", async () => {
  const { train, holdout } = await loadMnistSplit({ seed: 2 });
  const a = await resolveTaskFile({
    id: "digits-a",
    model: { builtin: "mnist-mlp" },
    training: { localSteps: 20 },
    rounds: { total: 2, targetClients: 2, minClients: 2 },
  }, { baseDir: "." });
  const b = await resolveTaskFile({
    id: "digits-b",
    model: { topology: mnistMlpTopology({ hidden: [64] }), seed: 5 },
    input: { shape: [784], labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] },
    training: { localSteps: 10 },
    rounds: { total: 3, targetClients: 1, minClients: 1 },
  }, { baseDir: "." });
  const coordinator = await startCoordinator({
    tasks: [{ ...a, holdout }, { ...b, holdout }],
    auth: "insecure",
  });
  const { url, registry } = coordinator;
  try {
    const parts = partition(train.labels, [...train.labels.keys()], {
      clients: 3,
      labeledFraction: 0.2,
      seed: 2,
    });
    const shard = (i: number) =>
      selectRows(train, parts[i]!.rows, { hideLabels: parts[i]!.unlabeledRows });
    const clients = [
      spawnClientWorker({ coordinator: url, dataset: shard(0), clientId: "a-1", seed: 1 }),
      spawnClientWorker({
        coordinator: url,
        taskId: "digits-a",
        dataset: shard(1),
        clientId: "a-2",
        seed: 2,
      }),
      spawnClientWorker({
        coordinator: url,
        taskId: "digits-b",
        dataset: shard(2),
        clientId: "b-1",
        seed: 3,
      }),
    ];
    await Promise.all([
      registry.get("digits-a").finished,
      registry.get("digits-b").finished,
      ...clients.map((c) => c.done),
    ]);
    const statusOf = async (id: string) =>
      StatusSchema.parse(await (await fetch(`${url}/v1/tasks/${id}/status`)).json());
    const sa = await statusOf("digits-a");
    const sb = await statusOf("digits-b");
    assert.deepEqual(sa.history.map((h) => h.clients), [0, 2, 2]);
    assert.deepEqual(sb.history.map((h) => h.clients), [0, 1, 1, 1]);
    assert.deepEqual(sa.clients.map((c) => c.id).sort(), ["a-1", "a-2"]);
    assert.deepEqual(sb.clients.map((c) => c.id), ["b-1"]);
    assert.equal(sa.version, 2);
    assert.equal(sb.version, 3);
    for (const s of [sa, sb]) assert.ok(s.history.at(-1)!.accuracy! > s.history[0]!.accuracy!);
    // The default paths address the first task.
    assert.deepEqual(StatusSchema.parse(await (await fetch(`${url}/v1/status`)).json()), sa);
    // Each task serves its own model, and refuses the other's tensors.
    const modelB = decodeSafetensors(
      new Uint8Array(await (await fetch(`${url}/v1/tasks/digits-b/model`)).arrayBuffer()),
    );
    assert.deepEqual(modelB.tensors.get("dense1/kernel")!.shape, [784, 64]);
    const cross = await fetch(`${url}/v1/tasks/digits-a/updates`, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: encodeSafetensors(modelB.tensors, {
        round: "2",
        baseVersion: "1",
        numLabeled: "1",
        numUnlabeled: "0",
      }) as Uint8Array<ArrayBuffer>,
    });
    assert.ok(cross.status === 400 || cross.status === 409, `status ${cross.status}`);
    ErrorResponseSchema.parse(await cross.json());
  } finally {
    await coordinator.shutdown();
  }
});
