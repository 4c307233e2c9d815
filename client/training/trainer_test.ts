import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import * as tf from "@tensorflow/tfjs";
import { LocalTrainer } from "./trainer.ts";
import type { Dataset } from "../../shared/data/dataset.ts";
import { buildModel, readWeights } from "../../shared/model/model.ts";
import { seededRandom } from "../../shared/random.ts";
import { mnistMlpTask, mnistMlpTopology } from "../../shared/tasks/mnist_mlp.ts";

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
  round = 1,
): Promise<Float32Array[]> {
  const model = await buildModel(topology, { seed: 0 });
  const trainer = new LocalTrainer(model, dataset(), seed === undefined ? {} : { seed });
  try {
    await trainer.train({ ...training, ...overrides }, { round });
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

Deno.test("alphaRampUpRounds: round r of R weighs the unlabeled rows' KL by alpha * min(1, r / R)", async () => {
  const alpha = 3;
  for (const [round, rampRounds] of [[1, 4], [3, 4], [4, 4], [9, 4], [2, 7]]) {
    const ramped = await trainedWeights(5, { alpha, alphaRampUpRounds: rampRounds }, round);
    const explicit = await trainedWeights(
      5,
      { alpha, alphaRampUpRounds: 0, unlabeledAlpha: alpha * Math.min(1, round! / rampRounds!) },
      round,
    );
    assert.deepEqual(ramped, explicit, `round ${round} of a ${rampRounds}-round ramp`);
  }
  // The ramp changes training while it lasts: round 1 of 4 is not the full weight.
  assert.notDeepEqual(
    await trainedWeights(5, { alpha, alphaRampUpRounds: 4 }, 1),
    await trainedWeights(5, { alpha }, 1),
  );
});

Deno.test("priorAlignment pulls the unlabeled rows' mean prediction towards the labeled rows' smoothed class frequencies", async () => {
  const random = seededRandom(8);
  const rows = 64;
  // Labeled: six rows of class 2, one of class 7; the rest unlabeled.
  const labels = Int32Array.from({ length: rows }, (_, i) => (i < 6 ? 2 : i === 6 ? 7 : -1));
  const data: Dataset = {
    x: Float32Array.from({ length: rows * 784 }, () => random()),
    labels,
    featureShape: [784],
    numClasses: 10,
  };
  // Add-one smoothed: (count + 1) / (7 + 10).
  const prior = Array.from({ length: 10 }, (_, c) => ((c === 2 ? 6 : c === 7 ? 1 : 0) + 1) / 17);
  const unlabeled = tf.tensor2d(data.x.subarray(7 * 784), [rows - 7, 784]);
  /** KL(prior || mean prediction over the unlabeled rows), dropout off. */
  const gap = async (priorAlignment: number) => {
    const model = await buildModel(topology, { seed: 0 });
    const trainer = new LocalTrainer(model, data, { seed: 2 });
    try {
      // Unlabeled batches only: nothing but the KL and the alignment term moves the model.
      await trainer.train({
        ...training,
        labeledBatchSize: 0,
        unlabeledBatchSize: 16,
        localSteps: 40,
        learningRate: 0.02,
        priorAlignment,
      });
      const mean = tf.tidy(() =>
        tf.mean(tf.softmax(model.predict(unlabeled) as tf.Tensor), 0).dataSync()
      );
      return prior.reduce((kl, p, c) => kl + p * Math.log(p / mean[c]!), 0);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  };
  const without = await gap(0);
  const aligned = await gap(10);
  unlabeled.dispose();
  assert.ok(
    aligned < 0.5 * without,
    `KL to the prior ${aligned} with alignment, ${without} without`,
  );
});
