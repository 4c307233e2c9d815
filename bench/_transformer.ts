/**
 * The transformer's training speed on wasm: tokens a second of a plain step
 * (dropout on, one pass over 2,048 tokens) and of an R-Drop step (one pass
 * over the twins of 1,024 tokens, 2,048 in all), and the step's FLOP rate
 * divided by the same backend's 512x512x512 matmul rate, measured in the same
 * run. The model: 2 blocks, dModel 128, 4 heads, MLP 512, 128 positions, a
 * vocabulary of 1,000, tied, causal.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { startBackend } from "../client/training/backend.ts";
import { LocalTrainer } from "../client/training/trainer.ts";
import type { Dataset } from "../shared/data/dataset.ts";
import { seededRandom } from "../shared/random.ts";
import { TrainingConfigSchema } from "../shared/schemas/mod.ts";
import { transformerModel, type TransformerSpec } from "../shared/transformer/model.ts";
import type { Row } from "./_row.ts";

const SPEC: TransformerSpec = {
  vocabSize: 1000,
  layers: 2,
  dModel: 128,
  heads: 4,
  ffn: 512,
  maxLength: 128,
  causal: true,
  dropout: 0.1,
  tied: true,
  output: { kind: "tokens", classes: 1000 },
};

/**
 * FLOPs of one training step over `tokens` tokens (forward, and twice that
 * backward): per token and block, the four projections (8 d²), the MLP
 * (4 d ffn) and attention's two products (4 T d); then the tied output (2 d V).
 */
function stepFlops(spec: TransformerSpec, tokens: number): number {
  const { dModel: d, ffn, maxLength: t, layers, vocabSize: v } = spec;
  const perToken = layers * (8 * d * d + 4 * d * ffn + 4 * t * d) + 2 * d * v;
  return 3 * perToken * tokens;
}

/** Rows a language model trains on: random ids, each labelled with the next. */
function rows(count: number, seed: number): Dataset {
  const random = seededRandom(seed);
  const t = SPEC.maxLength;
  const x = new Float32Array(count * t);
  const labels = new Int32Array(count * t).fill(-1);
  for (let r = 0; r < count; r++) {
    for (let p = 0; p < t; p++) x[r * t + p] = 5 + Math.floor(random() * (SPEC.vocabSize - 5));
    for (let p = 0; p < t - 1; p++) labels[r * t + p] = x[r * t + p + 1]!;
  }
  return { x, labels, featureShape: [t], labelShape: [t], numClasses: SPEC.vocabSize };
}

/** Milliseconds of one 512x512x512 matmul on the current backend (median of 9). */
async function matmulMs(): Promise<number> {
  const a = tf.randomNormal([512, 512]);
  const b = tf.randomNormal([512, 512]);
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    if (i > 0) times.push(performance.now() - start);
  }
  tf.dispose([a, b]);
  return times.sort((x, y) => x - y)[times.length >> 1]!;
}

/** Seconds a step of `objective` takes over `batch` rows (median of 3 runs of 4 steps). */
async function stepSeconds(objective: "ce" | "rdrop", batch: number): Promise<number> {
  const model = transformerModel(SPEC, { seed: 1 });
  const trainer = new LocalTrainer(model, rows(64, 2), { seed: 3 });
  const config = TrainingConfigSchema.parse({
    objective,
    localSteps: 4,
    labeledBatchSize: batch,
    unlabeledBatchSize: 0,
    learningRate: 0.001,
  });
  try {
    await trainer.train({ ...config, localSteps: 1 });
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await trainer.train(config);
      runs.push(result.seconds / config.localSteps);
    }
    return runs.sort((x, y) => x - y)[1]!;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

/** The transformer rows of `deno task bench`, on wasm. */
export async function transformerRows(): Promise<Row[]> {
  const backend = await startBackend("wasm");
  const matmul = await matmulMs();
  const matmulRate = (2 * 512 ** 3) / (matmul / 1000);
  const t = SPEC.maxLength;
  const plain = await stepSeconds("ce", 2048 / t);
  const rdrop = await stepSeconds("rdrop", 1024 / t);
  const rate = (seconds: number) => stepFlops(SPEC, 2048) / seconds;
  const shape =
    `${SPEC.layers} blocks, d ${SPEC.dModel}, ${SPEC.heads} heads, MLP ${SPEC.ffn}, T ${t}, causal, tied`;
  return [
    {
      name: "transformer plain step, wasm",
      value: 2048 / plain,
      unit: "tok/s",
      note: `2,048 tokens a step, dropout on; ${shape}; ${backend.device}`,
    },
    {
      name: "transformer R-Drop step, wasm",
      value: 2048 / rdrop,
      unit: "tok/s",
      note: `[x; x] of 1,024 tokens (2,048 a pass); ${shape}`,
    },
    {
      name: "matmul 512x512x512, wasm",
      value: matmulRate / 1e9,
      unit: "GF/s",
      note: "the same backend, the same run",
    },
    {
      name: "transformer R-Drop step / matmul rate",
      value: rate(rdrop) / matmulRate,
      unit: "x",
      note: `${(rate(rdrop) / 1e9).toFixed(2)} GFLOP/s (3 x forward FLOPs) over the matmul's`,
    },
  ];
}
