// LoRA adapters: the layer against its formula, what trains, FFA's exact
// FedAvg, the merged model and the PEFT export. Real tfjs on the CPU backend.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { LocalTrainer } from "../../client/training/trainer.ts";
import { topologyLayers } from "../model/freeze.ts";
import { buildModel, readWeights, weightSpecs, writeWeights } from "../model/model.ts";
import { seededRandom as mulberry32 } from "../random.ts";
import { decodeSafetensors, encodeSafetensors, type Float32Tensor } from "../wire/safetensors.ts";
import { LoraConfigSchema, TrainingConfigSchema } from "../schemas/mod.ts";
import { mnistMlpTask, mnistMlpTopology } from "../tasks/mnist_mlp.ts";
import { Federation } from "../../coordinator/federation/federation.ts";
import { adapters, savedModules, withLora } from "./apply_lora.ts";
import { mergeAdapters, peftAdapter } from "./merge.ts";
import { elementCount } from "../shape.ts";

await tf.setBackend("cpu");

function randomTensor(shape: number[], random: () => number, scale = 1): Float32Tensor {
  const size = elementCount(shape);
  return { shape, data: Float32Array.from({ length: size }, () => (random() * 2 - 1) * scale) };
}

function closeTo(actual: Float32Array, expected: Float32Array, tolerance: number, what: string) {
  assert.equal(actual.length, expected.length, what);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  assert.ok(worst <= tolerance, `${what}: largest difference ${worst} > ${tolerance}`);
}

const lora = (aggregation: "ffa" | "naive", targets = ["dense*", "logits"]) =>
  LoraConfigSchema.parse({ rank: 4, alpha: 8, targets, aggregation });

/** The MLP (dense1 relu, dense2 relu, logits), with adapters. */
async function loraModel(aggregation: "ffa" | "naive") {
  const base = mnistMlpTopology();
  const topology = withLora(base, lora(aggregation), 7);
  return { base, topology, model: await buildModel(topology, { seed: 7 }) };
}

function predict(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

Deno.test("LoRA: at init (B = 0) the adapted model's outputs are the base model's", async () => {
  const { base, model } = await loraModel("ffa");
  const plain = await buildModel(base, { seed: 3 });
  // The base weights into the adapted model, by name: only the adapters are new.
  const weights = readWeights(plain);
  writeWeights(model, weights);
  const x = tf.randomUniform([5, 784], 0, 1, "float32", 1);
  assert.deepEqual(predict(model, x), predict(plain, x));
  x.dispose();
  plain.dispose();
  model.dispose();
});

Deno.test("LoRA: a layer's output is act(x W + b + (alpha / rank) x A B) on random inputs", async () => {
  const { model, topology } = await loraModel("ffa");
  const random = mulberry32(11);
  const weights = readWeights(model);
  const b = weights.get("logits/lora_B")!;
  writeWeights(model, new Map([["logits/lora_B", randomTensor(b.shape, random, 0.3)]]));
  const set = readWeights(model);
  // The logits layer (linear) fed its own input: the output of dense2 in the base path.
  const x = randomTensor([6, set.get("logits/kernel")!.shape[0]!], random);
  const layer = model.getLayer("logits");
  const y = tf.tidy(() =>
    (layer.apply(tf.tensor(x.data, x.shape)) as tf.Tensor).dataSync() as Float32Array
  );
  const [inputs, units] = set.get("logits/kernel")!.shape as [number, number];
  const { data: w } = set.get("logits/kernel")!;
  const { data: bias } = set.get("logits/bias")!;
  const { data: a } = set.get("logits/lora_A")!;
  const { data: bb } = set.get("logits/lora_B")!;
  const scale = adapters(topology).find((s) => s.name === "logits")!.alpha / 4;
  const expected = new Float32Array(6 * units);
  for (let n = 0; n < 6; n++) {
    for (let j = 0; j < units; j++) {
      let sum = bias[j]!;
      for (let i = 0; i < inputs; i++) sum += x.data[n * inputs + i]! * w[i * units + j]!;
      let low = 0;
      for (let k = 0; k < 4; k++) {
        let xa = 0;
        for (let i = 0; i < inputs; i++) xa += x.data[n * inputs + i]! * a[i * 4 + k]!;
        low += xa * bb[k * units + j]!;
      }
      expected[n * units + j] = sum + scale * low;
    }
  }
  closeTo(y, expected, 1e-4, "logits");
  model.dispose();
});

Deno.test("LoRA: only the adapters train (only B under ffa) and the base stays bit for bit", async () => {
  for (const aggregation of ["ffa", "naive"] as const) {
    const { model } = await loraModel(aggregation);
    const trainable = weightSpecs(model, { trainableOnly: true }).map((w) => w.name).sort();
    const expected = ["dense1", "dense2", "logits"].flatMap((l) =>
      aggregation === "ffa" ? [`${l}/lora_B`] : [`${l}/lora_A`, `${l}/lora_B`]
    ).sort();
    assert.deepEqual(trainable, expected, aggregation);
    const { before, after } = await trainBriefly(model, {
      seed: 5,
      rows: 64,
      steps: 3,
      label: (i) => (i % 3 === 0 ? -1 : i % 10),
    });
    for (const [name, w] of before) {
      const changed = w.data.some((v, i) => v !== after.get(name)!.data[i]);
      assert.equal(changed, expected.includes(name), `${aggregation}: ${name} changed: ${changed}`);
    }
    model.dispose();
  }
});

Deno.test("LoRA: the merged plain model's outputs equal the adapted model's within 1e-5", async () => {
  const { model, topology } = await loraModel("naive");
  const random = mulberry32(17);
  writeWeights(
    model,
    new Map(
      [...readWeights(model)].filter(([n]) => /lora_/.test(n)).map((
        [n, w],
      ) => [n, randomTensor(w.shape, random, 0.2)]),
    ),
  );
  const merged = mergeAdapters(topology, readWeights(model));
  assert.ok(topologyLayers(merged.topology).every((l) => l.class_name !== "LoraDense"));
  const plain = await buildModel(merged.topology);
  writeWeights(plain, merged.weights);
  assert.deepEqual(readWeights(plain).size, merged.weights.size);
  const x = tf.randomUniform([8, 784], 0, 1, "float32", 2);
  closeTo(predict(plain, x), predict(model, x), 1e-5, "merged vs adapted");
  x.dispose();
  plain.dispose();
  model.dispose();
});

Deno.test("LoRA ffa: the federation's FedAvg of the adapters gives the average of the clients' merged models; naive misses it", async () => {
  const layers = ["dense1", "dense2", "logits"];
  const misses: Record<string, number> = {};
  for (const aggregation of ["ffa", "naive"] as const) {
    const { topology, model } = await loraModel(aggregation);
    const base = mnistMlpTask({
      rounds: { total: 1, targetClients: 3, minClients: 3, timeoutSeconds: 600 },
    });
    const task = { ...base, model: { ...base.model, topology } };
    const federation = await Federation.create({ task, model });
    try {
      const start = decodeSafetensors(federation.globalModel().safetensors).tensors;
      // What the federation trains: B under ffa, A and B under naive.
      assert.deepEqual(
        federation.trainable.map((w) => w.name).sort(),
        layers.flatMap((l) =>
          aggregation === "ffa" ? [`${l}/lora_B`] : [`${l}/lora_A`, `${l}/lora_B`]
        )
          .sort(),
      );
      const random = mulberry32(23);
      // Three clients' adapters after "training": random deltas, weighted by their rows
      // (an unlabeled row by the task's unlabeledWeight).
      const clients = [[5, 20], [40, 0], [1, 90]].map(([numLabeled, numUnlabeled], k) => {
        const delta = new Map(
          federation.trainable.map((w) => [w.name, randomTensor(w.shape, random, 0.3)]),
        );
        const weights = new Map(start);
        for (const [name, d] of delta) {
          const w = start.get(name)!;
          weights.set(name, { shape: w.shape, data: w.data.map((v, i) => v + d.data[i]!) });
        }
        federation.submit(encodeSafetensors(delta, {
          round: "1",
          baseVersion: "0",
          numLabeled: String(numLabeled),
          numUnlabeled: String(numUnlabeled),
          clientId: `client-${k}`,
        }));
        return {
          merged: mergeAdapters(topology, weights).weights,
          weight: numLabeled! + task.aggregation.unlabeledWeight * numUnlabeled!,
        };
      });
      await federation.settled();
      assert.equal(federation.status().history.length, 2, "the round closed");
      const global = decodeSafetensors(federation.globalModel().safetensors).tensors;
      const merged = mergeAdapters(topology, global).weights;
      const total = clients.reduce((n, c) => n + c.weight, 0);
      let miss = 0;
      for (const layer of layers) {
        const name = `${layer}/kernel`;
        const expected = Float32Array.from(
          merged.get(name)!.data,
          (_, i) =>
            clients.reduce((sum, c) => sum + c.merged.get(name)!.data[i]! * c.weight, 0) / total,
        );
        const actual = merged.get(name)!.data;
        // The adapters moved the merged kernel away from the base.
        assert.ok(
          actual.some((v, i) => v !== start.get(name)!.data[i]),
          `${aggregation}: ${name} moved`,
        );
        for (let i = 0; i < actual.length; i++) {
          miss = Math.max(miss, Math.abs(actual[i]! - expected[i]!));
        }
      }
      misses[aggregation] = miss;
    } finally {
      federation.close();
      model.dispose();
    }
  }
  // FFA: A is shared and frozen, so the mean of the B's is the mean of the merged models.
  assert.ok(misses.ffa! < 1e-5, `ffa missed the mean of the merged models by ${misses.ffa}`);
  // Naive: every client has its own A as well; the product of the means is not the mean of products.
  assert.ok(
    misses.naive! > 1e-2,
    `naive averaging should miss the mean of products, missed by ${misses.naive}`,
  );
});

Deno.test("LoRA: the PEFT export has PEFT's names and shapes, and base + s B A from it is the merged kernel", async () => {
  const { model, topology } = await loraModel("naive");
  const random = mulberry32(29);
  writeWeights(
    model,
    new Map(
      [...readWeights(model)].filter(([n]) => /lora_/.test(n)).map((
        [n, w],
      ) => [n, randomTensor(w.shape, random, 0.2)]),
    ),
  );
  const weights = readWeights(model);
  const peft = peftAdapter(topology, weights, { baseModel: "mnist-mlp" });
  assert.equal(peft.config.r, 4);
  assert.equal(peft.config.lora_alpha, 8);
  assert.deepEqual(peft.config.target_modules, ["dense1", "dense2", "logits"]);
  const tensors = decodeSafetensors(peft.safetensors).tensors;
  assert.deepEqual([...tensors.keys()].sort(), [
    "base_model.model.dense1.lora_A.weight",
    "base_model.model.dense1.lora_B.weight",
    "base_model.model.dense2.lora_A.weight",
    "base_model.model.dense2.lora_B.weight",
    "base_model.model.logits.lora_A.weight",
    "base_model.model.logits.lora_B.weight",
  ]);
  const merged = mergeAdapters(topology, weights).weights;
  for (const layer of ["dense1", "dense2", "logits"]) {
    const [inputs, units] = weights.get(`${layer}/kernel`)!.shape as [number, number];
    const pa = tensors.get(`base_model.model.${layer}.lora_A.weight`)!;
    const pb = tensors.get(`base_model.model.${layer}.lora_B.weight`)!;
    assert.deepEqual(pa.shape, [4, inputs]);
    assert.deepEqual(pb.shape, [units, 4]);
    // Torch's W' = W^T + s B A ([out, in]); its transpose is the merged tfjs kernel.
    const ba = tf.tidy(() =>
      tf.matMul(
        tf.tensor(pb.data, pb.shape as [number, number]),
        tf.tensor(pa.data, pa.shape as [number, number]),
      ).mul(2).transpose().dataSync() as Float32Array
    );
    const base = weights.get(`${layer}/kernel`)!.data;
    closeTo(
      Float32Array.from(base, (v, i) => v + ba[i]!),
      merged.get(`${layer}/kernel`)!.data,
      1e-6,
      layer,
    );
  }
  model.dispose();
});

Deno.test("LoRA modulesToSave: the head trains in full beside the adapters and is exported as PEFT saves it", async () => {
  const config = LoraConfigSchema.parse({
    rank: 2,
    targets: ["dense*"],
    modulesToSave: ["logits"],
  });
  const topology = withLora(mnistMlpTopology(), config, 3);
  assert.deepEqual(savedModules(topology), ["logits"]);
  const model = await buildModel(topology, { seed: 3 });
  const trainable = weightSpecs(model, { trainableOnly: true }).map((w) => w.name).sort();
  assert.deepEqual(trainable, ["dense1/lora_B", "dense2/lora_B", "logits/bias", "logits/kernel"]);
  const { before, after } = await trainBriefly(model, {
    seed: 8,
    rows: 32,
    steps: 2,
    label: (i) => i % 10,
  });
  for (const [name, w] of before) {
    const changed = w.data.some((v, i) => v !== after.get(name)!.data[i]);
    assert.equal(changed, trainable.includes(name), `${name} changed: ${changed}`);
  }
  const peft = peftAdapter(topology, after);
  assert.deepEqual(peft.config.modules_to_save, ["logits"]);
  const tensors = decodeSafetensors(peft.safetensors).tensors;
  const kernel = after.get("logits/kernel")!;
  const [inputs, units] = kernel.shape as [number, number];
  const weight = tensors.get("base_model.model.logits.weight")!;
  assert.deepEqual(weight.shape, [units, inputs]);
  for (let i = 0; i < inputs; i++) {
    for (let j = 0; j < units; j++) {
      assert.equal(weight.data[j * inputs + i], kernel.data[i * units + j]);
    }
  }
  assert.deepEqual(
    tensors.get("base_model.model.logits.bias")!.data,
    after.get("logits/bias")!.data,
  );
  // The merged model holds the trained head as it is.
  assert.deepEqual(mergeAdapters(topology, after).weights.get("logits/kernel")!.data, kernel.data);
  model.dispose();
});

Deno.test("LoRA: bad settings are refused with the reason", () => {
  assert.throws(
    () => withLora(mnistMlpTopology(), lora("ffa", ["nope*"])),
    /no layer matches "nope\*"/,
  );
  assert.throws(
    () =>
      withLora(
        mnistMlpTopology(),
        LoraConfigSchema.parse({ rank: 2, targets: ["dense1"], modulesToSave: ["head"] }),
      ),
    /Cannot train a module in full beside the adapters: no layer matches "head"/,
  );
  assert.throws(
    () =>
      withLora(
        mnistMlpTopology(),
        LoraConfigSchema.parse({
          rank: 2,
          targets: ["dense*", "logits"],
          modulesToSave: ["logits"],
        }),
      ),
    /Cannot both adapt "logits" and train it in full/,
  );
  assert.throws(() => LoraConfigSchema.parse({ rank: 0, targets: ["x"] }));
  assert.throws(() => LoraConfigSchema.parse({ rank: 2, targets: [] }));
  assert.throws(() => LoraConfigSchema.parse({ rank: 2, targets: ["x"], dropout: 1 }));
});

/** Trains `model` a few R-Drop steps on random 784-feature rows; its weights before and after. */
async function trainBriefly(
  model: tf.LayersModel,
  options: { seed: number; rows: number; steps: number; label: (row: number) => number },
) {
  const before = readWeights(model);
  const random = mulberry32(options.seed);
  const trainer = new LocalTrainer(model, {
    x: Float32Array.from({ length: options.rows * 784 }, () => random()),
    labels: Int32Array.from({ length: options.rows }, (_, i) => options.label(i)),
    featureShape: [784],
    numClasses: 10,
  }, { seed: 1 });
  await trainer.train(
    TrainingConfigSchema.parse({
      localSteps: options.steps,
      labeledBatchSize: 8,
      unlabeledBatchSize: 8,
      learningRate: 0.01,
    }),
  );
  const after = readWeights(model);
  trainer.dispose();
  return { before, after };
}
