import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { wasmDropout } from "./_fused_dropout.ts";
import { LocalTrainer } from "./trainer.ts";
import { buildModel } from "../../shared/model/model.ts";
import { seededRandom, withMathRandom } from "../../shared/random.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";

/** Runs fn with Math.random drawing from seed (tfjs's dropout seeds its masks from it). */
const seeded = <T>(seed: number, fn: () => T): T => withMathRandom(seededRandom(seed), fn);

const bits = (t: tf.Tensor) => new Uint32Array(Float32Array.from(t.dataSync()).buffer);

Deno.test("the wasm dropout kernel draws tfjs's own masks bit for bit", async () => {
  await startBackend("wasm");
  const x = tf.randomNormal([67, 53], 0, 1, "float32", 3);
  for (const [seed, rate] of [[1, 0.3], [2, 0.5], [3, 0.1], [4, 0.9]] as const) {
    const stock = seeded(seed, () => tf.dropout(x, rate));
    const fused = seeded(seed, () => wasmDropout(x, rate));
    assert.ok(fused, "the kernel runs on wasm");
    assert.deepEqual(bits(fused), bits(stock), `seed ${seed}, rate ${rate}`);
    // A real mask: about `rate` of the values dropped, the rest scaled by 1 / (1 - rate).
    const dropped = fused.dataSync().filter((v) => v === 0).length / x.size;
    assert.ok(Math.abs(dropped - rate) < 0.05, `dropped ${dropped} at rate ${rate}`);
    tf.dispose([stock, fused]);
  }
  x.dispose();
});

Deno.test("R-Drop training with the wasm kernels gives the same weights as tfjs's ops", async () => {
  await startBackend("wasm");
  const task = mnistMlpTask({
    training: { localSteps: 4, labeledBatchSize: 8, unlabeledBatchSize: 8 },
  });
  const random = seededRandom(11);
  const rows = 64;
  const data = {
    x: Float32Array.from({ length: rows * 784 }, () => random()),
    labels: Int32Array.from({ length: rows }, (_, i) => (i % 2 ? i % 10 : -1)),
    featureShape: [784],
    numClasses: 10,
  };
  const train = async (fast: boolean) => {
    const model = await buildModel(task.model.topology, { seed: 5 });
    const trainer = new LocalTrainer(model, data, { seed: 9, wasmKernels: fast });
    const result = await trainer.train(task.training);
    const weights = model.getWeights().map((w) => bits(w));
    trainer.dispose();
    model.dispose();
    return { result, weights };
  };
  const stock = await train(false);
  const fast = await train(true);
  // Training went through the kernels: one Adam call per weight and step, one mask per
  // dropout layer and step (one forward pass over [x; x]); none with them switched off.
  const model = await buildModel(task.model.topology, { seed: 5 });
  const weights = model.trainableWeights.length;
  const dropouts = model.layers.filter((l) => l.getClassName() === "Dropout").length;
  model.dispose();
  assert.ok(dropouts > 0 && weights > 0);
  assert.deepEqual(fast.result.fusedKernels, { adam: 4 * weights, dropout: 4 * dropouts });
  assert.deepEqual(stock.result.fusedKernels, { adam: 0, dropout: 0 });
  assert.equal(fast.result.loss, stock.result.loss);
  assert.ok(stock.result.kl > 0, "dropout is on: the twins differ");
  fast.weights.forEach((w, i) => assert.deepEqual(w, stock.weights[i], `weight ${i}`));
});

Deno.test("the wasm dropout steps aside on other backends", async () => {
  await startBackend("cpu");
  try {
    const x = tf.ones([4, 4]);
    assert.equal(wasmDropout(x, 0.5), null);
    x.dispose();
  } finally {
    await startBackend("wasm");
  }
});
