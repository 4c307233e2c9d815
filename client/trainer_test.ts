import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { LocalTrainer } from "./trainer.ts";
import type { Dataset } from "../shared/dataset.ts";
import { buildModel, readWeights } from "../shared/model.ts";
import { seededRandom } from "../shared/random.ts";
import { mnistMlpTask, mnistMlpTopology } from "../shared/tasks/mnist_mlp.ts";

await startBackend("wasm");

const topology = mnistMlpTopology({ hidden: [16], dropout: 0.5 });
const training = mnistMlpTask({
  training: { localSteps: 4, labeledBatchSize: 4, unlabeledBatchSize: 4 },
}).training;

/** 24 random rows, every third one labeled. */
function dataset(): Dataset {
  const random = seededRandom(3);
  return {
    x: Float32Array.from({ length: 24 * 784 }, () => random()),
    labels: Int32Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? i % 10 : -1)),
    featureShape: [784],
    numClasses: 10,
  };
}

/** Trains a freshly built model (seed 0) with a trainer of `seed`; returns its weights. */
async function trainedWeights(
  seed: number | undefined,
  overrides: Partial<typeof training> = {},
): Promise<Float32Array[]> {
  const model = await buildModel(topology, { seed: 0 });
  const trainer = new LocalTrainer(model, dataset(), seed === undefined ? {} : { seed });
  try {
    await trainer.train({ ...training, ...overrides });
    return [...readWeights(model).values()].map((w) => Float32Array.from(w.data));
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

Deno.test("LocalTrainer with a seed trains reproducibly, dropout masks included", async () => {
  const a = await trainedWeights(5);
  const b = await trainedWeights(5);
  assert.deepEqual(a, b);
});

Deno.test("LocalTrainer with another seed trains differently", async () => {
  const a = await trainedWeights(5);
  const c = await trainedWeights(6);
  assert.notDeepEqual(a, c);
});

Deno.test("LocalTrainer without a seed draws fresh dropout masks each run", async () => {
  // Same batches (seed 0 sampling), but the masks come from Math.random.
  const a = await trainedWeights(undefined);
  const b = await trainedWeights(undefined);
  assert.notDeepEqual(a, b);
});

Deno.test("LocalTrainer leaves Math.random as it found it", async () => {
  const original = Math.random;
  await trainedWeights(5);
  assert.equal(Math.random, original);
});

Deno.test("LocalTrainer with FedProx's mu stays closer to the round's starting weights", async () => {
  const model = await buildModel(topology, { seed: 0 });
  const start = [...readWeights(model).values()].map((w) => w.data);
  model.dispose();
  const distance = (weights: Float32Array[]) =>
    weights.reduce((sum, w, t) => sum + w.reduce((s, v, i) => s + (v - start[t]![i]!) ** 2, 0), 0);
  const plain = distance(await trainedWeights(5, { learningRate: 0.01, localSteps: 10 }));
  const prox = distance(
    await trainedWeights(5, { learningRate: 0.01, localSteps: 10, proximalMu: 50 }),
  );
  assert.ok(prox < 0.8 * plain, `drift with mu ${prox} vs without ${plain}`);
});
