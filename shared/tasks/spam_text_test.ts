import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { buildModel, readWeights, weightSpecs } from "../model/model.ts";
import { BUILTIN_MODELS, TaskFileSchema } from "../schemas/mod.ts";
import { builtinModel } from "./mod.ts";
import { spamTextTask, spamTextTopology } from "./spam_text.ts";

await tf.setBackend("cpu");

Deno.test("spamTextTopology is the JSON tfjs writes for the same Sequential", () => {
  const reference = tf.sequential({
    name: "spam_text",
    layers: [
      tf.layers.embedding({
        inputDim: 300,
        outputDim: 16,
        inputLength: 12,
        inputShape: [12],
        name: "embedding",
      }),
      tf.layers.globalAveragePooling1d({ name: "pool" }),
      tf.layers.dropout({ rate: 0.2, name: "dropout1" }),
      tf.layers.dense({ units: 32, activation: "relu", name: "dense1" }),
      tf.layers.dropout({ rate: 0.2, name: "dropout2" }),
      tf.layers.dense({ units: 2, name: "logits" }),
    ],
  });
  const topology = spamTextTopology({ vocabSize: 300, maxLength: 12, embedding: 16, dropout: 0.2 });
  assert.equal(JSON.stringify(topology), JSON.stringify(reference.toJSON(null, false)));
  reference.dispose();
});

Deno.test("spamTextTopology builds a model with 2 logits per row", async () => {
  const model = await buildModel(spamTextTopology({ vocabSize: 1000, maxLength: 20 }));
  assert.deepEqual(model.layers.map((layer) => layer.name), [
    "embedding",
    "pool",
    "dropout1",
    "dense1",
    "dropout2",
    "logits",
  ]);
  assert.deepEqual(weightSpecs(model), [
    { name: "embedding/embeddings", shape: [1000, 32] },
    { name: "dense1/kernel", shape: [32, 32] },
    { name: "dense1/bias", shape: [32] },
    { name: "logits/kernel", shape: [32, 2] },
    { name: "logits/bias", shape: [2] },
  ]);
  const ids = tf.tensor2d(Array.from({ length: 3 * 20 }, (_, i) => (i * 37) % 1000), [3, 20]);
  const logits = model.predict(ids) as tf.Tensor;
  assert.deepEqual(logits.shape, [3, 2]);
  assert.ok([...logits.dataSync()].every(Number.isFinite));
  tf.dispose([ids, logits]);
  model.dispose();
});

Deno.test("spamTextTopology gives the same initial weights for the same seed", async () => {
  const topology = spamTextTopology({ vocabSize: 50, maxLength: 4, embedding: 8 });
  const [a, b, c] = await Promise.all([
    buildModel(topology, { seed: 1 }),
    buildModel(topology, { seed: 1 }),
    buildModel(topology, { seed: 2 }),
  ]);
  const embeddings = (m: tf.LayersModel) => readWeights(m).get("embedding/embeddings")!.data;
  assert.deepEqual(embeddings(a!), embeddings(b!));
  assert.notDeepEqual(embeddings(a!), embeddings(c!));
  assert.ok(embeddings(a!).every((v) => Math.abs(v) <= 0.05));
  for (const m of [a, b, c]) m!.dispose();
});

Deno.test("spamTextTopology trains: the embedding gets a gradient", async () => {
  const model = await buildModel(spamTextTopology({ vocabSize: 16, maxLength: 6, embedding: 4 }));
  const ids = tf.tensor2d([[1, 2, 3, 0, 0, 0], [4, 5, 0, 0, 0, 0]]);
  const labels = tf.oneHot(tf.tensor1d([0, 1], "int32"), 2);
  const table = model.getLayer("embedding").trainableWeights[0]!.read() as tf.Variable;
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(labels, model.apply(ids) as tf.Tensor) as tf.Scalar,
    [table],
  );
  const g = grads[table.name]!.arraySync() as number[][];
  assert.ok(g[1]!.some((v) => v !== 0)); // an id in the rows moves
  assert.ok(g[9]!.every((v) => v === 0)); // one not in them does not
  value.dispose();
  tf.dispose([ids, labels, ...Object.values(grads)]);
  model.dispose();
});

Deno.test("spamTextTask has the text input and takes overrides", () => {
  const task = spamTextTask();
  assert.equal(task.id, "spam-text");
  assert.deepEqual(task.input, {
    shape: [256],
    labels: ["ham", "spam"],
    text: { vocabSize: 8192, maxLength: 256, lowercase: true },
  });
  assert.equal(task.training.objective, "rdrop");
  const small = spamTextTask({
    vocabSize: 1000,
    maxLength: 64,
    dropout: 0.1,
    training: { localSteps: 5 },
    rounds: { total: 2 },
  });
  assert.deepEqual(small.input.shape, [64]);
  assert.equal(small.input.text?.vocabSize, 1000);
  assert.equal(small.training.localSteps, 5);
  assert.equal(small.training.learningRate, task.training.learningRate);
  assert.equal(small.rounds.total, 2);
  const json = JSON.stringify(small.model.topology);
  assert.match(json, /"input_dim":1000,/);
  assert.match(json, /"batch_input_shape":\[null,64\]/);
  assert.match(json, /"rate":0.1,/);
});

Deno.test("spam-text is a built-in model", async () => {
  assert.ok(BUILTIN_MODELS.includes("spam-text"));
  assert.ok(TaskFileSchema.safeParse({ id: "s", model: { builtin: "spam-text" } }).success);
  const builtin = builtinModel("spam-text");
  assert.deepEqual(builtin.input, spamTextTask().input);
  const model = await buildModel(builtin.topology);
  assert.deepEqual(model.outputs[0]!.shape, [null, 2]);
  model.dispose();
  assert.throws(() => builtinModel("spam"), /expected "mnist-mlp", "mnist-cnn" or "spam-text"/);
});
