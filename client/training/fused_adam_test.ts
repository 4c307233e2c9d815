import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { adamOptimizer } from "./_fused_adam.ts";
import { simdKernels } from "./simd_kernels.ts";
import { seededRandom } from "../../shared/random.ts";
import { elementCount } from "../../shared/shape.ts";

// The same weights and gradients through tf.train.adam and the fused kernel:
// every value must be bit for bit the same after each step. Sizes not a
// multiple of 4 exercise the kernel's scalar tail.
Deno.test("the fused wasm Adam gives tf.train.adam's values bit for bit", async () => {
  await startBackend("wasm");
  assert.ok(simdKernels(), "the SIMD kernels load on the wasm backend");
  const random = seededRandom(7);
  const shapes = [[37, 11], [256], [3], [64, 4]];
  const initial = shapes.map((s) =>
    tf.tensor(Float32Array.from({ length: elementCount(s) }, () => random() - 0.5), s)
  );
  const make = () => initial.map((t) => tf.variable(t.clone()));
  const stock = make();
  const fused = make();
  const stockOptimizer = tf.train.adam(0.01);
  const fusedOptimizer = adamOptimizer(0.01);
  assert.notEqual(fusedOptimizer.constructor, stockOptimizer.constructor);
  for (let step = 0; step < 25; step++) {
    // Gradients with a range of magnitudes (and some exact zeros).
    const grads = shapes.map((s) =>
      Float32Array.from(
        { length: elementCount(s) },
        () => (random() < 0.1 ? 0 : (random() - 0.5) * 10 ** (4 * random() - 3)),
      )
    );
    const apply = (optimizer: tf.Optimizer, vars: tf.Variable[]) =>
      tf.tidy(() =>
        optimizer.applyGradients(
          vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(grads[i]!, v.shape) })),
        )
      );
    apply(stockOptimizer, stock);
    apply(fusedOptimizer, fused);
    stock.forEach((s, i) => {
      const a = new Uint32Array(s.dataSync().buffer.slice(0));
      const b = new Uint32Array(fused[i]!.dataSync().buffer.slice(0));
      assert.deepEqual(b, a, `step ${step}, weight ${i}`);
    });
  }
  const before = tf.memory().numTensors;
  stockOptimizer.dispose();
  fusedOptimizer.dispose();
  assert.equal(before - tf.memory().numTensors, 2 * 2 * shapes.length + 2);
  tf.dispose([...stock, ...fused, ...initial]);
});

Deno.test("adamOptimizer is tfjs's own Adam on other backends", async () => {
  await startBackend("cpu");
  try {
    assert.equal(simdKernels(), null);
    const optimizer = adamOptimizer(0.01);
    assert.ok(optimizer instanceof tf.AdamOptimizer);
    optimizer.dispose();
  } finally {
    await startBackend("wasm");
  }
});
