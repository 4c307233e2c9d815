import * as tf from "@tensorflow/tfjs";
import { startBackend } from "/work/main/client/backend.ts";
import { LocalTrainer } from "/work/main/client/trainer.ts";
import { fedAvg } from "/work/main/coordinator/aggregate/fed_avg.ts";
import { Evaluator } from "/work/main/coordinator/evaluate.ts";
import { countRows, selectRows } from "/work/main/shared/dataset.ts";
import { loadMnistSplit } from "/work/main/shared/mnist.ts";
import { buildModel, readWeights, writeWeights } from "/work/main/shared/model.ts";
import { partition } from "/work/main/shared/partition.ts";
import { TrainingConfigSchema } from "/work/main/shared/schemas.ts";
import { mnistMlpTopology } from "/work/main/shared/tasks/mnist_mlp.ts";
const [arm, seedS, roundsS, extra] = Deno.args;
const seed = Number(seedS);
const rounds = Number(roundsS ?? 10);
const over = JSON.parse(extra ?? "{}");
await startBackend("wasm");
const { train, holdout } = await loadMnistSplit({ seed });
const parts = partition(train.labels, [...train.labels.keys()], {
  clients: 10,
  beta: 0.5,
  labeledFraction: 0.02,
  seed,
});
const shards = parts.map((p) => selectRows(train, p.rows, { hideLabels: p.unlabeledRows }));
const base = { localSteps: 40, learningRate: 0.001, labeledBatchSize: 32, ...over };
const cfg = TrainingConfigSchema.parse(
  arm === "supervised"
    ? { ...base, objective: "ce", unlabeledBatchSize: 0 }
    : arm === "rdrop"
    ? { ...base, unlabeledBatchSize: 0 }
    : { unlabeledBatchSize: 64, ...base },
);
const model = await buildModel(mnistMlpTopology(), { seed });
const ev = new Evaluator(holdout);
let global = readWeights(model, { trainableOnly: true });
const trainers = shards.map((s, i) => new LocalTrainer(model, s, { seed: i }));
const accs: number[] = [];
for (let r = 1; r <= rounds; r++) {
  const deltas = [];
  for (const [i, tr] of trainers.entries()) {
    writeWeights(model, global);
    if (cfg.unlabeledBatchSize === 0 && countRows(shards[i]!).numLabeled === 0) continue;
    await tr.train(cfg, { round: r });
    const local = readWeights(model, { trainableOnly: true });
    deltas.push({
      tensors: [...local].map(([n, t]) => t.data.map((v, j) => v - global.get(n)!.data[j]!)),
      ...countRows(shards[i]!),
    });
  }
  const mean = fedAvg(deltas, { unlabeledWeight: over.uw ?? 0.5 })!;
  global = new Map(
    [...global].map(([n, t], k) => [n, {
      shape: t.shape,
      data: t.data.map((v, j) => v + mean[k]![j]!),
    }]),
  );
  writeWeights(model, global);
  accs.push(ev.evaluate(model).accuracy);
}
console.log(arm, seed, JSON.stringify(over), accs.map((a) => (a * 100).toFixed(1)).join(" "));
