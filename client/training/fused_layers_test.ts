// The transformer's wasm kernels against the layers' own tfjs ops on the same
// backend: layer norm, GELU and attention (causal or not, with padding,
// including rows that start with padding, with dropout) forward and
// gradients, and a whole model's loss and weight gradients.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { wasmAttention } from "./_fused_attention.ts";
import { useWasmLayers } from "./_fused_layers.ts";
import { wasmGelu, wasmLayerNorm } from "./_fused_norm_gelu.ts";
import { seededRandom, withMathRandom } from "../../shared/random.ts";
import { MultiHeadAttention } from "../../shared/transformer/attention.ts";
import { GeluTanh } from "../../shared/transformer/gelu.ts";
import { transformerModel, type TransformerSpec } from "../../shared/transformer/model.ts";

await startBackend("wasm");

/** Runs fn with Math.random drawing from seed (tfjs's dropout seeds its masks from it). */
const seeded = <T>(seed: number, fn: () => T): T => withMathRandom(seededRandom(seed), fn);

function random(shape: number[], seed: number, scale = 1): tf.Tensor {
  const next = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => (next() * 2 - 1) * scale), shape);
}

function assertClose(actual: tf.Tensor, expected: tf.Tensor, what: string, tolerance = 1e-5) {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const a = actual.dataSync();
  const e = expected.dataSync();
  const scale = Math.max(1e-3, ...Array.from(e, Math.abs));
  for (let i = 0; i < e.length; i++) {
    assert.ok(
      Math.abs(a[i]! - e[i]!) <= tolerance * scale,
      `${what}[${i}]: ${a[i]} against ${e[i]} (scale ${scale})`,
    );
  }
}

Deno.test("the layer norm kernel matches tfjs's LayerNormalization, forward and gradients", () => {
  for (const shape of [[3, 5, 8], [7, 128]]) {
    const d = shape.at(-1)!;
    const layer = tf.layers.layerNormalization({ axis: -1, epsilon: 1e-5 });
    layer.build(shape);
    layer.setWeights([random([d], 2, 1), random([d], 3, 1)]);
    const [gamma, beta] = layer.getWeights();
    const x = tf.add(random(shape, 4, 3), 1.5);
    const dy = random(shape, 5);
    const loss = (f: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
      tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(x, g, b), dy)))([
        x,
        gamma!,
        beta!,
      ]);
    const stock = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      layer.setWeights([g, b]);
      return layer.apply(x) as tf.Tensor;
    };
    const fused = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => wasmLayerNorm(x, g, b, 1e-5)!;
    assertClose(fused(x, gamma!, beta!), stock(x, gamma!, beta!), "y", 2e-6);
    const want = tf.grads((x: tf.Tensor) => tf.sum(tf.mul(stock(x, gamma!, beta!), dy)))([x]);
    const got = loss(fused);
    assertClose(got[0]!, want[0]!, "dx", 1e-5);
    // tfjs cannot differentiate the layer in gamma and beta through setWeights: by hand.
    const xhat = tf.div(
      tf.sub(x, tf.mean(x, -1, true)),
      tf.sqrt(tf.add(tf.moments(x, -1, true).variance, 1e-5)),
    );
    const rows = [x.size / d, d];
    assertClose(got[1]!, tf.sum(tf.reshape(tf.mul(dy, xhat), rows), 0), "dgamma", 1e-5);
    assertClose(got[2]!, tf.sum(tf.reshape(dy, rows), 0), "dbeta", 1e-5);
  }
});

Deno.test("the GELU kernel matches GeluTanh's ops, forward and gradient", () => {
  const layer = new GeluTanh({});
  // 4,099 values: the kernel's four lanes and its tail; tanh saturates beyond 8.
  const x = tf.concat([random([4096], 6, 4), tf.tensor1d([-12, 0, 12])]);
  const stock = (x: tf.Tensor) => layer.apply(x) as tf.Tensor;
  assertClose(wasmGelu(x)!, stock(x), "gelu", 1e-6);
  const dy = random([4099], 7);
  const grad = (f: (x: tf.Tensor) => tf.Tensor) => tf.grad((x) => tf.sum(tf.mul(f(x), dy)))(x);
  assertClose(grad((x) => wasmGelu(x)!), grad(stock), "dgelu", 1e-5);
});

Deno.test("the attention kernels match MultiHeadAttention's ops, with masks and dropout", () => {
  const [b, t, d] = [3, 8, 16];
  // Row 1 ends in padding; row 2 starts with it (a causal row all masked).
  const ids = tf.tensor2d([[5, 6, 7, 8, 9, 10, 11, 12], [5, 6, 7, 8, 9, 0, 0, 0], [
    0,
    0,
    7,
    8,
    9,
    10,
    0,
    11,
  ]]);
  const dy = random([b, t, d], 8);
  const inputs = [9, 10, 11].map((seed) => random([b, t, d], seed, 2));
  for (const causal of [false, true]) {
    for (const dropout of [0, 0.3]) {
      for (const withIds of [true, false]) {
        const layer = new MultiHeadAttention({ heads: 2, causal, dropout });
        const what = `causal ${causal}, dropout ${dropout}, ids ${withIds}`;
        const stock = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
          layer.apply(withIds ? [q, k, v, ids] : [q, k, v], { training: true }) as tf.Tensor;
        const fused = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
          wasmAttention(q, k, v, withIds ? ids : undefined, {
            heads: 2,
            causal,
            dropout,
            padId: 0,
          })!;
        const run = (f: typeof stock) =>
          seeded(12, () => {
            const y = f(inputs[0]!, inputs[1]!, inputs[2]!);
            const g = tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
              tf.sum(tf.mul(f(q, k, v), dy))
            )(inputs);
            return [y, ...g];
          });
        const want = run(stock);
        const got = run(fused);
        ["y", "dq", "dk", "dv"].forEach((name, i) =>
          assertClose(got[i]!, want[i]!, `${what}: ${name}`, 2e-5)
        );
      }
    }
  }
});

Deno.test("attention shapes the kernels do not cover are left to tfjs's ops", () => {
  const x = tf.zeros([1, 6, 8]);
  assert.equal(
    wasmAttention(x, x, x, undefined, { heads: 2, causal: true, dropout: 0, padId: 0 }),
    null,
  );
  assert.equal(
    wasmAttention(x, x, x, undefined, { heads: 4, causal: true, dropout: 0, padId: 0 }),
    null,
  );
});

Deno.test("a transformer with the wasm layers has the loss and gradients of one without", () => {
  const spec: TransformerSpec = {
    vocabSize: 40,
    layers: 2,
    dModel: 16,
    heads: 2,
    ffn: 24,
    maxLength: 12,
    causal: true,
    dropout: 0.1,
    tied: true,
    output: { kind: "tokens", classes: 40 },
  };
  const stock = transformerModel(spec, { seed: 5 });
  const fused = transformerModel(spec, { seed: 5 });
  useWasmLayers(fused);
  const ids = tf.tensor2d([[3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0], [
    0,
    0,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    20,
    21,
  ]]);
  const weight = random([2, 12, 40], 13);
  const run = (model: tf.LayersModel) =>
    seeded(14, () => {
      const { value, grads } = tf.variableGrads(
        () =>
          tf.sum(tf.mul(model.apply(ids, { training: true }) as tf.Tensor, weight)) as tf.Scalar,
        model.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      return {
        value,
        grads: model.trainableWeights.map((w) => grads[(w.read() as tf.Variable).name]!),
      };
    });
  const want = run(stock);
  const got = run(fused);
  assertClose(got.value, want.value, "loss", 1e-5);
  stock.trainableWeights.forEach((w, i) =>
    assertClose(got.grads[i]!, want.grads[i]!, `d ${w.name}`, 1e-4)
  );
});
