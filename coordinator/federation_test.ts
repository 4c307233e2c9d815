import assert from "node:assert/strict";
import { startBackend } from "../client/backend.ts";
import { buildModel } from "../shared/model.ts";
import { encodeSafetensors, type Float32Tensor } from "../shared/safetensors.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { Federation } from "./federation.ts";

await startBackend("wasm");

function update(federation: Federation, clientId: string): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    federation.trainable.map(({ name, shape }) => [name, {
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01),
    }]),
  );
  return encodeSafetensors(tensors, {
    round: String(federation.round),
    baseVersion: String(federation.version),
    numLabeled: "1",
    numUnlabeled: "1",
    clientId,
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withFederation(
  rounds: { total: number; targetClients: number; minClients: number; timeoutSeconds: number },
  fn: (federation: Federation) => Promise<void>,
): Promise<void> {
  const task = mnistMlpTask({ rounds });
  const model = await buildModel(task.model.topology);
  const federation = await Federation.create({ task, model });
  try {
    await fn(federation);
    await federation.settled();
  } finally {
    federation.close();
    model.dispose();
  }
}

Deno.test("Federation closes a round at its deadline once minClients updates arrived", async () => {
  await withFederation(
    { total: 3, targetClients: 5, minClients: 1, timeoutSeconds: 0.2 },
    async (f) => {
      f.submit(update(f, "a"));
      assert.equal(f.round, 1);
      await sleep(400);
      await f.settled();
      assert.equal(f.round, 2);
      assert.equal(f.status().history.at(-1)?.clients, 1);
    },
  );
});

Deno.test("Federation keeps a round open past its deadline until minClients arrive", async () => {
  await withFederation(
    { total: 3, targetClients: 5, minClients: 2, timeoutSeconds: 0.1 },
    async (f) => {
      f.submit(update(f, "a"));
      await sleep(300);
      assert.equal(f.round, 1, "one update is below minClients");
      assert.equal(f.status().phase, "training");
      f.submit(update(f, "b"));
      await f.settled();
      assert.equal(f.round, 2, "the second update closes the late round at once");
      assert.equal(f.status().history.at(-1)?.clients, 2);
    },
  );
});

Deno.test("Federation finishes after the last round and resolves finished", async () => {
  await withFederation(
    { total: 1, targetClients: 1, minClients: 1, timeoutSeconds: 600 },
    async (f) => {
      f.submit(update(f, "a"));
      await f.finished;
      const status = f.status();
      assert.equal(status.phase, "finished");
      assert.equal(status.version, 1);
      assert.equal(status.received, 0);
    },
  );
});
