// The trainer on sequences: a tiny bidirectional transformer learns a
// tagging rule with R-Drop from rows whose labels are per position (padding
// and unlabeled positions -1, half the rows wholly unlabeled), padding
// counting for neither term; and a language model's loss on next tokens
// falls. Real tfjs on the wasm backend.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { countRows, type Dataset, selectRows } from "../../shared/data/dataset.ts";
import { seededRandom } from "../../shared/random.ts";
import { TrainingConfigSchema } from "../../shared/schemas/mod.ts";
import { transformerModel, type TransformerSpec } from "../../shared/transformer/model.ts";
import { startBackend } from "./backend.ts";
import { LocalTrainer } from "./trainer.ts";

await startBackend("wasm");

const T = 6;
const VOCAB = 14;

/** Rows of 3 to 6 tokens (ids 5..13), padded with 0; the tag of token t is t % 3. */
function taggingData(rows: number, seed: number): Dataset {
  const random = seededRandom(seed);
  const x = new Float32Array(rows * T);
  const labels = new Int32Array(rows * T).fill(-1);
  for (let r = 0; r < rows; r++) {
    const length = 3 + Math.floor(random() * 4);
    for (let p = 0; p < length; p++) {
      const token = 5 + Math.floor(random() * (VOCAB - 5));
      x[r * T + p] = token;
      // Half the rows carry no label at all.
      if (r % 2 === 0) labels[r * T + p] = token % 3;
    }
  }
  return { x, labels, featureShape: [T], labelShape: [T], numClasses: 3 };
}

const spec = (overrides: Partial<TransformerSpec>): TransformerSpec => ({
  vocabSize: VOCAB,
  layers: 1,
  dModel: 16,
  heads: 2,
  ffn: 32,
  maxLength: T,
  causal: false,
  dropout: 0.1,
  tied: false,
  output: { kind: "tokens", classes: 3 },
  ...overrides,
});

/** One step, then `localSteps` more (Adam, learning rate 0.01, alpha 1): both results. */
async function trainFor(
  model: tf.LayersModel,
  data: Dataset,
  options: {
    seed: number;
    localSteps: number;
    labeledBatchSize: number;
    unlabeledBatchSize: number;
  },
) {
  const { seed, ...batches } = options;
  const trainer = new LocalTrainer(model, data, { seed });
  const training = TrainingConfigSchema.parse({ ...batches, learningRate: 0.01, alpha: 1 });
  try {
    const first = await trainer.train({ ...training, localSteps: 1 });
    return { first, result: await trainer.train(training) };
  } finally {
    trainer.dispose();
  }
}

Deno.test("sequence rows: counted, selected and hidden by row, every position's label kept", () => {
  const data = taggingData(10, 1);
  assert.deepEqual(countRows(data), { numLabeled: 5, numUnlabeled: 5 });
  const picked = selectRows(data, [2, 0], { hideLabels: new Set([0]) });
  assert.deepEqual(picked.labelShape, [T]);
  assert.deepEqual([...picked.labels.subarray(0, T)], [...data.labels.subarray(2 * T, 3 * T)]);
  assert.ok(picked.labels.subarray(T).every((l) => l === -1), "row 0's labels hidden");
  assert.deepEqual(countRows(picked), { numLabeled: 1, numUnlabeled: 1 });
});

Deno.test("a tiny transformer learns a tagging rule with R-Drop, padding masked, half the rows unlabeled", async () => {
  const data = taggingData(64, 2);
  const model = transformerModel(spec({}), { seed: 3 });
  const { first, result } = await trainFor(model, data, {
    seed: 4,
    localSteps: 80,
    labeledBatchSize: 8,
    unlabeledBatchSize: 8,
  });
  assert.ok(result.ce < first.ce / 3, `ce ${first.ce} → ${result.ce}`);
  assert.ok(result.kl > 0, "the twins differ: dropout is on");
  // Token accuracy on fresh rows, real positions only.
  const test = taggingData(32, 9);
  for (let r = 0; r < 32; r++) {
    for (let p = 0; p < T; p++) {
      if (test.x[r * T + p]! > 0) test.labels[r * T + p] = test.x[r * T + p]! % 3;
    }
  }
  const predicted = tf.tidy(() =>
    (tf.argMax(model.predict(tf.tensor2d(test.x, [32, T])) as tf.Tensor, -1)).dataSync()
  );
  let right = 0;
  let real = 0;
  test.labels.forEach((label, i) => {
    if (label < 0) return;
    real++;
    if (predicted[i] === label) right++;
  });
  assert.ok(right / real > 0.95, `token accuracy ${(right / real).toFixed(3)}`);
  model.dispose();
});

Deno.test("a causal language model's next-token loss falls", async () => {
  // Each row counts up from a random start: token t+1 follows t.
  const random = seededRandom(5);
  const rows = 48;
  const x = new Float32Array(rows * T);
  const labels = new Int32Array(rows * T).fill(-1);
  for (let r = 0; r < rows; r++) {
    const start = 5 + Math.floor(random() * 3);
    for (let p = 0; p < T; p++) x[r * T + p] = start + p;
    for (let p = 0; p < T - 1; p++) labels[r * T + p] = start + p + 1;
  }
  const data: Dataset = { x, labels, featureShape: [T], labelShape: [T], numClasses: VOCAB };
  const model = transformerModel(
    spec({ causal: true, tied: true, output: { kind: "tokens", classes: VOCAB } }),
    { seed: 6 },
  );
  const { first, result } = await trainFor(model, data, {
    seed: 7,
    localSteps: 60,
    labeledBatchSize: 16,
    unlabeledBatchSize: 0,
  });
  // Perplexity exp(ce) from about the vocabulary's size towards 1.
  assert.ok(Math.exp(result.ce) < Math.exp(first.ce) / 4, `ce ${first.ce} → ${result.ce}`);
  model.dispose();
});

Deno.test("the evaluator measures sequences per labeled position: token accuracy, loss and perplexity", async () => {
  const { Evaluator } = await import("../../shared/model/evaluate.ts");
  // Real models with exact logits: an embedding of each token id to a row of logits,
  // 5 on the class token % 3 (right everywhere) or on class 0 (right where the tag is 0).
  const lookup = (classOf: (token: number) => number) => {
    const model = tf.sequential({
      layers: [tf.layers.embedding({ inputDim: VOCAB, outputDim: 3, inputLength: T })],
    });
    const table = Array.from(
      { length: VOCAB },
      (_, t) => [0, 1, 2].map((c) => c === classOf(t) ? 5 : 0),
    );
    model.setWeights([tf.tensor2d(table)]);
    return model;
  };
  const data = taggingData(8, 11);
  const evaluator = new Evaluator(data);
  assert.equal(evaluator.rows, 4, "only the labeled rows");
  const perfect = evaluator.evaluate(lookup((t) => t % 3));
  assert.equal(perfect.accuracy, 1);
  // Logits (5, 0, 0) on the right class: ce = log(1 + 2 e^-5) at every labeled position.
  const ce = Math.log(1 + 2 * Math.exp(-5));
  assert.ok(Math.abs(perfect.loss - ce) < 1e-5, `${perfect.loss} vs ${ce}`);
  assert.ok(Math.abs(perfect.perplexity! - Math.exp(ce)) < 1e-5);
  const zero = lookup(() => 0);
  let zeros = 0;
  let counted = 0;
  data.labels.forEach((l) => {
    if (l >= 0) counted++;
    if (l === 0) zeros++;
  });
  assert.ok(Math.abs(evaluator.evaluate(zero).accuracy - zeros / counted) < 1e-6);
  evaluator.dispose();
});

Deno.test("masked tokens with a tied output: the output at the masked positions only gives the full output's loss and step", async () => {
  const data = taggingData(24, 11);
  const rows: Dataset = {
    ...data,
    labels: new Int32Array(data.labels.length).fill(-1),
    numClasses: VOCAB,
  };
  const tied = spec({ dropout: 0, tied: true, output: { kind: "tokens", classes: VOCAB } });
  const training = TrainingConfigSchema.parse({
    localSteps: 3,
    labeledBatchSize: 8,
    unlabeledBatchSize: 0,
    learningRate: 0.05,
    optimizer: "sgd",
    alpha: 1,
  });
  const run = async (fullOutput: boolean) => {
    const model = transformerModel(tied, { seed: 3 });
    const trainer = new LocalTrainer(model, rows, {
      seed: 9,
      maskedTokens: { vocabSize: VOCAB, rate: 0.3, fullOutput },
    });
    const result = await trainer.train(training);
    const weights = model.getWeights().map((w) => w.dataSync().slice());
    trainer.dispose();
    model.dispose();
    return { result, weights };
  };
  const picked = await run(false);
  const full = await run(true);
  // Without dropout the twins agree, so the KL is 0 and only the cross-entropy moves the weights.
  assert.ok(
    Math.abs(picked.result.ce - full.result.ce) < 1e-5,
    `${picked.result.ce} vs ${full.result.ce}`,
  );
  assert.ok(picked.result.ce > 1, `ce ${picked.result.ce}`);
  let largest = 0;
  picked.weights.forEach((w, i) =>
    w.forEach((v, j) => (largest = Math.max(largest, Math.abs(v - full.weights[i]![j]!))))
  );
  assert.ok(largest < 1e-5, `weights differ by ${largest}`);
  // The shortcut is taken: with it, the tied output's product is over the masked positions only.
  const model = transformerModel(tied, { seed: 3 });
  const embedding = model.outputLayers.at(-1) as unknown as { outputPositions: tf.Tensor1D | null };
  embedding.outputPositions = tf.tensor1d([0, 7], "int32");
  const logits = model.apply(tf.tensor(rows.x.slice(0, 2 * T), [2, T]), {
    training: true,
  }) as tf.Tensor;
  assert.deepEqual(logits.shape, [2, VOCAB]);
  embedding.outputPositions = null;
  model.dispose();
});

Deno.test("the evaluator measures a tied output at the masked positions only, with the full output's values", async () => {
  const { Evaluator } = await import("../../shared/model/evaluate.ts");
  const { maskDataset } = await import("../../shared/tokenizer/masking.ts");
  const data = taggingData(80, 12);
  const masked = maskDataset({ ...data, labels: new Int32Array(data.labels.length).fill(-1) }, {
    vocabSize: VOCAB,
    rate: 0.3,
    seed: 4,
  });
  const model = transformerModel(spec({ tied: true, output: { kind: "tokens", classes: VOCAB } }), {
    seed: 8,
  });
  // The reference: every position's logits, reduced on the CPU over the labeled ones.
  const logits = tf.tidy(() =>
    tf.logSoftmax(model.predict(tf.tensor(masked.x, [80, T])) as tf.Tensor).dataSync()
  );
  let hits = 0, loss = 0, counted = 0;
  masked.labels.forEach((label, p) => {
    if (label < 0) return;
    const row = logits.subarray(p * VOCAB, (p + 1) * VOCAB);
    hits += row.indexOf(Math.max(...row)) === label ? 1 : 0;
    loss -= row[label]!;
    counted++;
  });
  assert.ok(counted > 20, `${counted} masked positions`);
  // Batches of 7 rows (the output set and reset between them), and of more
  // rows than predict's own batches of 32.
  for (const batchSize of [7, 36]) {
    const measured = new Evaluator(masked, { batchSize }).evaluate(model);
    assert.ok(Math.abs(measured.accuracy - hits / counted) < 1e-6);
    assert.ok(
      Math.abs(measured.loss - loss / counted) < 1e-4,
      `${measured.loss} vs ${loss / counted}`,
    );
  }
  model.dispose();
});
