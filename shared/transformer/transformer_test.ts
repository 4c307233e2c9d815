// The transformer's layers and model: attention's gradients against central
// finite differences (with causal and padding masks), a causal model that
// cannot see the future, padding that changes nothing at real positions, twin
// rows of [x; x] that draw their own dropout masks, and a topology that
// serialises and builds the same model through buildModel. Real tfjs on the
// CPU backend (float32).
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { buildModel, readWeights, writeWeights } from "../model/model.ts";
import { seededRandom } from "../random.ts";
import { withLora } from "../lora/apply_lora.ts";
import { peftAdapter } from "../lora/merge.ts";
import { LoraConfigSchema } from "../schemas/mod.ts";
import { elementCount } from "../shape.ts";
import { MultiHeadAttention } from "./attention.ts";
import { transformerModel, type TransformerSpec, transformerTopology } from "./model.ts";

await tf.setBackend("cpu");

const spec = (overrides: Partial<TransformerSpec> = {}): TransformerSpec => ({
  vocabSize: 17,
  layers: 2,
  dModel: 8,
  heads: 2,
  ffn: 16,
  maxLength: 6,
  causal: false,
  dropout: 0.2,
  tied: false,
  output: { kind: "tokens", classes: 5 },
  ...overrides,
});

function randomTensor(shape: number[], random: () => number): tf.Tensor {
  const size = elementCount(shape);
  return tf.tensor(Float32Array.from({ length: size }, () => random() * 2 - 1), shape);
}

Deno.test("attention's gradients match central finite differences, with causal and padding masks", () => {
  const random = seededRandom(3);
  const [b, t, d] = [2, 4, 6];
  for (const causal of [false, true]) {
    const layer = new MultiHeadAttention({ heads: 3, causal });
    const ids = tf.tensor2d([[5, 6, 7, 0], [8, 9, 0, 0]]);
    const weight = randomTensor([b, t, d], random);
    const loss = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
      tf.sum(tf.mul(layer.apply([q, k, v, ids]) as tf.Tensor, weight)) as tf.Scalar;
    const inputs = [0, 1, 2].map(() => randomTensor([b, t, d], random));
    const grads = tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => loss(q, k, v))(inputs);
    const eps = 1e-2;
    for (let which = 0; which < 3; which++) {
      const data = inputs[which]!.dataSync() as Float32Array;
      const analytic = grads[which]!.dataSync();
      for (let probe = 0; probe < 12; probe++) {
        const i = Math.floor(random() * data.length);
        const at = (delta: number) => {
          const moved = Float32Array.from(data);
          moved[i]! += delta;
          const args = inputs.map((x, j) => j === which ? tf.tensor(moved, x.shape) : x);
          return tf.tidy(() => loss(args[0]!, args[1]!, args[2]!).dataSync()[0]!);
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        assert.ok(
          Math.abs(numeric - analytic[i]!) <= 2e-3 + 2e-2 * Math.abs(numeric),
          `causal ${causal}, input ${"qkv"[which]}[${i}]: analytic ${
            analytic[i]
          }, numeric ${numeric}`,
        );
      }
    }
  }
});

Deno.test("a causal model's output at position t does not change when later tokens change", () => {
  const model = transformerModel(
    spec({ causal: true, tied: true, output: { kind: "tokens", classes: 17 } }),
    {
      seed: 4,
    },
  );
  const a = tf.tensor2d([[3, 4, 5, 6, 7, 8]]);
  const out = (ids: tf.Tensor) => (model.predict(ids) as tf.Tensor).arraySync() as number[][][];
  const base = out(a);
  for (let t = 0; t < 5; t++) {
    // Every token after t replaced.
    const row = [3, 4, 5, 6, 7, 8].map((id, j) => (j > t ? 1 + ((id * 7 + j) % 16) : id));
    const changed = out(tf.tensor2d([row]));
    for (let s = 0; s <= t; s++) {
      assert.deepEqual(
        changed[0]![s],
        base[0]![s],
        `position ${s} after changing tokens past ${t}`,
      );
    }
    // ...and the position after t does see the change.
    assert.notDeepEqual(changed[0]![t + 1], base[0]![t + 1]);
  }
  model.dispose();
});

Deno.test("padding changes nothing at real positions", () => {
  const model = transformerModel(spec({ causal: false }), { seed: 5 });
  const ids = tf.tensor2d([[3, 4, 5, 0, 0, 0], [9, 10, 11, 12, 0, 0]]);
  const before = (model.predict(ids) as tf.Tensor).arraySync() as number[][][];
  // The position table's rows 3..5 reach only padding in row 0: change them.
  const weights = readWeights(model);
  const table = weights.get("embedding/position_embedding")!;
  // (Not a constant shift, which the layer norms would remove.)
  const moved = Float32Array.from(table.data, (v, i) => i >= 3 * 8 ? v + Math.sin(i) : v);
  writeWeights(model, new Map([["embedding/position_embedding", { ...table, data: moved }]]));
  const after = (model.predict(ids) as tf.Tensor).arraySync() as number[][][];
  for (let s = 0; s < 3; s++) {
    const close = after[0]![s]!.every((v, c) => Math.abs(v - before[0]![s]![c]!) < 1e-5);
    assert.ok(close, `real position ${s} of the padded row moved`);
  }
  // Row 1's position 3 is real: it moved.
  assert.ok(after[1]![3]!.some((v, c) => Math.abs(v - before[1]![3]![c]!) > 1e-4));
  model.dispose();
});

Deno.test("the twins of [x; x] draw their own dropout masks while training, and agree without", () => {
  const model = transformerModel(spec({ dropout: 0.3 }), { seed: 6 });
  const x = tf.tensor2d([[3, 4, 5, 6, 0, 0], [7, 8, 9, 10, 11, 0]]);
  const twins = tf.concat([x, x], 0);
  const trained = (model.apply(twins, { training: true }) as tf.Tensor).arraySync() as number[][][];
  const plain = (model.apply(twins, { training: false }) as tf.Tensor).arraySync() as number[][][];
  for (let row = 0; row < 2; row++) {
    assert.notDeepEqual(trained[row], trained[row + 2], `row ${row}'s twins share their masks`);
    assert.deepEqual(plain[row], plain[row + 2], `row ${row}'s twins differ without dropout`);
  }
  model.dispose();
});

Deno.test("the topology serialises: buildModel makes the same model, seeded by the task's seed", async () => {
  for (
    const s of [
      spec(),
      spec({ causal: true, tied: true, output: { kind: "tokens", classes: 17 } }),
      spec({ output: { kind: "sequence", classes: 3 } }),
    ]
  ) {
    const topology = transformerTopology(s);
    const a = await buildModel(topology, { seed: 1 });
    const b = await buildModel(topology, { seed: 1 });
    const c = await buildModel(topology, { seed: 2 });
    const ids = tf.tensor2d([[3, 4, 5, 0, 0, 0]]);
    const out = (m: tf.LayersModel) => (m.predict(ids) as tf.Tensor).dataSync();
    assert.deepEqual(out(a), out(b), "same seed, same model");
    assert.notDeepEqual(out(a), out(c), "another seed, other weights");
    const shape = (a.predict(ids) as tf.Tensor).shape;
    assert.deepEqual(shape, s.output.kind === "sequence" ? [1, 3] : [1, 6, s.output.classes]);
    // The projections are plain Dense layers, named for LoRA targets.
    const names = a.layers.map((l) => l.name);
    for (const p of ["query", "key", "value", "output", "mlp_in", "mlp_out"]) {
      assert.ok(names.includes(`block1_${p}`), `block1_${p} in ${names}`);
    }
    for (const m of [a, b, c]) m.dispose();
  }
});

Deno.test("a spec that cannot build is refused naming the field", () => {
  assert.throws(
    () => transformerModel(spec({ heads: 3 })),
    /dModel \(8\) must be a multiple of transformer.heads \(3\)/,
  );
  assert.throws(
    () => transformerModel(spec({ layers: 0 })),
    /transformer.layers must be an integer ≥ 1/,
  );
  assert.throws(
    () => transformerModel(spec({ dropout: 1 })),
    /transformer.dropout must be in \[0, 1\)/,
  );
  assert.throws(
    () => transformerModel(spec({ tied: true })),
    /tied needs a per-token output over the vocabulary/,
  );
  const model = transformerModel(spec(), { seed: 1 });
  assert.throws(() => model.predict(tf.tensor2d([[1, 2, 3, 4, 5, 6, 7]])), /./);
  model.dispose();
});

Deno.test("LoRA adapts the transformer's projections by name; the head trains in full; PEFT names them", async () => {
  const base = transformerTopology(spec({ output: { kind: "tokens", classes: 5 } }));
  const targets = ["block*_query", "block*_key", "block*_value", "block*_output", "block*_mlp_*"];
  const topology = withLora(
    base,
    LoraConfigSchema.parse({ rank: 2, alpha: 4, targets, modulesToSave: ["logits"] }),
    3,
  );
  const adapted = await buildModel(topology, { seed: 1 });
  const plain = await buildModel(base, { seed: 1 });
  writeWeights(adapted, readWeights(plain));
  // At init (B = 0) the adapted model is the base model.
  const ids = tf.tensor2d([[3, 4, 5, 6, 0, 0]]);
  const close = (a: tf.Tensor, b: tf.Tensor) =>
    Math.max(...(tf.sub(a, b).abs().dataSync() as Float32Array)) < 1e-5;
  assert.ok(close(adapted.predict(ids) as tf.Tensor, plain.predict(ids) as tf.Tensor));
  const projections = ["query", "key", "value", "output", "mlp_in", "mlp_out"];
  const trainable = adapted.trainableWeights.map((w) => w.originalName).sort();
  assert.deepEqual(
    trainable,
    [
      ...[0, 1].flatMap((i) => projections.map((p) => `block${i}_${p}/lora_B`)),
      "logits/bias",
      "logits/kernel",
    ].sort(),
  );
  const peft = peftAdapter(topology, readWeights(adapted));
  assert.deepEqual(
    [...(peft.config.target_modules as string[])].sort(),
    [0, 1].flatMap((i) => projections.map((p) => `block${i}_${p}`)).sort(),
  );
  assert.deepEqual(peft.config.modules_to_save, ["logits"]);
  adapted.dispose();
  plain.dispose();
});
