// The backends compute the same thing: the trainer with the same seed, on the
// same rows and weights, gives the same R-Drop losses and the same weights on
// cpu (the pure-JS reference), wasm and webgpu (Mesa's software Vulkan here:
// CI installs mesa-vulkan-drivers). Dropout is off (rate 0), so the twin
// passes are equal and only float arithmetic can differ.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectRows } from "../../shared/data/dataset.ts";
import { loadMnistSplit } from "../../shared/data/mnist.ts";
import { buildModel, readWeightsAsync, writeWeights } from "../../shared/model/model.ts";
import { seededRandom } from "../../shared/random.ts";
import type { Float32Tensor } from "../../shared/wire/safetensors.ts";
import { mnistMlpTask, mnistMlpTopology } from "../../shared/tasks/mnist_mlp.ts";
import { type BackendName, startBackend } from "./backend.ts";
import { LocalTrainer, type TrainResult } from "./trainer.ts";

const { train } = await loadMnistSplit({ seed: 3 });
// 64 rows, a quarter of them labeled.
const rows = selectRows(train, [...Array(64).keys()].map((i) => i * 97), {
  hideLabels: new Set([...Array(64).keys()].filter((i) => i % 4 !== 0).map((i) => i * 97)),
});
const topology = mnistMlpTopology({ dropout: 0 });
// Plain SGD, so each weight's step is proportional to its gradient.
const training = mnistMlpTask({
  training: { localSteps: 3, optimizer: "sgd", learningRate: 0.5 },
}).training;

/** Seeded initial weights, the same on every backend. */
async function initialWeights(): Promise<Map<string, Float32Tensor>> {
  await startBackend("cpu");
  const model = await buildModel(topology);
  const random = seededRandom(7);
  const weights = new Map(
    [...await readWeightsAsync(model)].map(([name, w]) => [name, {
      shape: w.shape,
      data: Float32Array.from(w.data, () => (random() - 0.5) * 0.1),
    }]),
  );
  model.dispose();
  return weights;
}

async function trainOn(
  backend: BackendName,
  weights: Map<string, Float32Tensor>,
): Promise<{ result: TrainResult; weights: Map<string, Float32Tensor> }> {
  await startBackend(backend);
  assert.equal(tf.getBackend(), backend);
  const model = await buildModel(topology);
  writeWeights(model, weights);
  const trainer = new LocalTrainer(model, rows, { seed: 11 });
  try {
    const result = await trainer.train(training);
    return { result, weights: await readWeightsAsync(model) };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

Deno.test("cpu, wasm and webgpu give the same R-Drop losses and weights for the same seed", async () => {
  const initial = await initialWeights();
  const reference = await trainOn("cpu", initial);
  assert.ok(reference.result.ce > 0 && reference.result.kl >= 0);
  for (const backend of ["wasm", "webgpu"] as const) {
    const other = await trainOn(backend, initial);
    for (const key of ["loss", "ce"] as const) {
      const r = relative(other.result[key], reference.result[key]);
      assert.ok(r < 1e-3, `${backend} ${key} ${other.result[key]} vs cpu ${reference.result[key]}`);
    }
    // Dropout off: the twins agree, so the KL term is (numerically) zero everywhere.
    assert.ok(Math.abs(other.result.kl - reference.result.kl) < 1e-5, `${backend} kl`);
    // The steps taken (weights minus initial) agree to 1e-3 of their norm.
    let difference = 0;
    let norm = 0;
    for (const [name, w] of reference.weights) {
      const o = other.weights.get(name)!.data;
      const start = initial.get(name)!.data;
      for (let i = 0; i < w.data.length; i++) {
        difference += (o[i]! - w.data[i]!) ** 2;
        norm += (w.data[i]! - start[i]!) ** 2;
      }
    }
    const moved = Math.sqrt(norm);
    assert.ok(
      Math.sqrt(difference) < 1e-3 * moved,
      `${backend}: steps differ by ${Math.sqrt(difference)} of ${moved}`,
    );
    assert.ok(moved > 1e-4, "training moved the weights");
  }
});
