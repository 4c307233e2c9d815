/**
 * Benchmarks, in sections: `kernels` (the R-Drop step on wasm with and
 * without the project's kernels), `training` (step and inference speed per
 * backend), `codecs` (safetensors and update codecs), `aggregation`
 * (strategies, the streaming sum against a plain add), `ingest` (updates
 * over loopback HTTP) and `secagg` (secure rounds of 10-100 clients against
 * plain ones, SecAgg+'s degree against the complete graph). Prints a table and writes the figures to
 * `runs/bench/bench-<time>.json` (or `--out FILE`).
 *
 * `deno task bench [--only SECTION,...] [--out FILE]`
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { installWasmGather, installWasmMatMulTranspose } from "../client/training/wasm_kernels.ts";
import { LocalTrainer } from "../client/training/trainer.ts";
import { fedAvg } from "../coordinator/aggregate/fed_avg.ts";
import { createStrategy } from "../coordinator/aggregate/strategy.ts";
import { AggregationConfigSchema, UpdateCodecSchema } from "../shared/schemas/mod.ts";
import { decodeUpdate, encodeUpdate } from "../shared/wire/codec.ts";
import { seededRandom } from "../shared/random.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { buildModel, readWeights, weightSpecs } from "../shared/model/model.ts";
import { decodeSafetensors, encodeSafetensors } from "../shared/wire/safetensors.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";

import type { Row } from "./_row.ts";
import { aggregationRows } from "./_aggregation.ts";
import { federationIngestRows, ingestRows } from "./_ingest.ts";
import { secaggRows } from "./_secagg.ts";
import { machine, trainingRows, trainingSpeed } from "./_training.ts";
import { transformerRows } from "./_transformer.ts";
import { elementCount } from "../shared/shape.ts";

const SECTIONS = [
  "kernels",
  "training",
  "codecs",
  "aggregation",
  "ingest",
  "secagg",
  "transformer",
] as const;
const { values: args } = parseArgs({
  args: Deno.args,
  options: { out: { type: "string" }, only: { type: "string" } },
});
const only = args.only?.split(",").map((s) => s.trim()) ?? [...SECTIONS];
for (const section of only) {
  if (!(SECTIONS as readonly string[]).includes(section)) {
    console.error(`error: --only "${section}" is not one of ${SECTIONS.join(", ")}`);
    Deno.exit(2);
  }
}
const run = (section: typeof SECTIONS[number]) => only.includes(section);
const rows: Row[] = [];
const report: Record<string, unknown> = {};

function time(repeats: number, fn: () => void): number {
  fn();
  const start = performance.now();
  for (let i = 0; i < repeats; i++) fn();
  return (performance.now() - start) / repeats;
}

// Start wasm without the kernel fixes first, to measure the difference.
setWasmPaths(
  dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm")) + "/",
);
await tf.setBackend("wasm");
const task = mnistMlpTask({ training: { localSteps: 20 } });
const { train } = await loadMnistSplit();
const labels = Int32Array.from(train.labels, (l, i) => (i % 10 === 0 ? l : -1));
const model = await buildModel(task.model.topology);
const stockModel = await buildModel(task.model.topology);
const trainer = new LocalTrainer(model, { ...train, labels }, { seed: 1 });
// tfjs's own Adam and dropout ops, for the comparison.
const stockTrainer = new LocalTrainer(stockModel, { ...train, labels }, {
  seed: 1,
  wasmKernels: false,
});
const batch = task.training.labeledBatchSize + task.training.unlabeledBatchSize;
const a = tf.randomNormal([2 * batch, 784]);
const b = tf.randomNormal([2 * batch, 256]);

async function stepMs(on = stockTrainer): Promise<number> {
  await on.train(task.training); // warm-up
  const result = await on.train(task.training);
  return (result.seconds * 1000) / result.steps;
}
const matMulT = () => tf.tidy(() => void tf.matMul(a, b, true, false).dataSync());
const rowsIndex = tf.tensor1d(Array.from({ length: batch }, (_, i) => i * 7), "int32");
const gatherRows = () => tf.tidy(() => void tf.gather(sourceRows, rowsIndex).dataSync());
const sourceRows = tf.tensor(train.x.subarray(0, 1000 * 784), [1000, 784]);
if (run("kernels")) {
  const plainStep = await stepMs();
  const plainMatMul = time(20, matMulT);
  const plainGather = time(50, gatherRows);
  installWasmMatMulTranspose();
  const matMulStep = await stepMs();
  const fixedMatMul = time(20, matMulT);
  installWasmGather();
  const fixedGather = time(50, gatherRows);
  // The fused kernels against tfjs's ops, alternating; the fastest of each.
  const fused: number[] = [];
  const stock: number[] = [];
  for (let i = 0; i < 5; i++) {
    fused.push(await stepMs(trainer));
    stock.push(await stepMs());
  }
  const fusedStep = Math.min(...fused);
  const fixedStep = Math.min(...stock);
  rows.push(
    {
      name: "R-Drop step, wasm",
      value: fusedStep,
      unit: "ms",
      note: `[x; x] of ${batch} rows, mnist-mlp, Adam; fused Adam and dropout kernels`,
    },
    {
      name: "R-Drop step, wasm, tfjs's Adam and dropout",
      value: fixedStep,
      unit: "ms",
      note: "the same values, computed by tfjs's element-wise ops (fastest of 5, alternating)",
    },
    {
      name: "R-Drop step, wasm, stock gather",
      value: matMulStep,
      unit: "ms",
      note: "with the transposed-matmul kernel only",
    },
    {
      name: "R-Drop step, wasm, stock kernels",
      value: plainStep,
      unit: "ms",
      note: "tfjs-backend-wasm 4.22.0 as shipped",
    },
    {
      name: "matMul x^T dy, wasm",
      value: fixedMatMul,
      unit: "ms",
      note: `[${2 * batch},784]^T x [${2 * batch},256]`,
    },
    {
      name: "matMul x^T dy, wasm, stock kernel",
      value: plainMatMul,
      unit: "ms",
      note: "tfjs-backend-wasm 4.22.0",
    },
    {
      name: "gather 96 rows of 784, wasm",
      value: fixedGather,
      unit: "ms",
      note: "slices copied on the wasm heap",
    },
    {
      name: "gather 96 rows of 784, wasm, stock",
      value: plainGather,
      unit: "ms",
      note: "tfjs-backend-wasm 4.22.0",
    },
  );
}
trainer.dispose();
stockTrainer.dispose();
tf.dispose([a, b, sourceRows, rowsIndex]);

if (run("training")) {
  // 8,192 rows: each round puts them on each backend anew.
  const { speeds, medians, unavailable, ratios, blocks } = await trainingSpeed(
    selectRows({ ...train, labels }, [...Array(8192).keys()]),
  );
  rows.push(...trainingRows(speeds, unavailable, ratios));
  report.training = { machine: machine(), speeds, medians, unavailable, ratios, blocks };
}

// The codec and the aggregation, on the weights of mnist-mlp.
const weights = readWeights(model);
const bytes = encodeSafetensors(weights, { round: "1" });
const mb = bytes.byteLength / 1e6;
if (run("codecs")) {
  rows.push(
    {
      name: "safetensors encode",
      value: mb / (time(50, () => encodeSafetensors(weights)) / 1000),
      unit: "MB/s",
      note: `${mb.toFixed(2)} MB update`,
    },
    {
      name: "safetensors decode",
      value: mb / (time(50, () => decodeSafetensors(bytes)) / 1000),
      unit: "MB/s",
      note: "strict, with copies",
    },
  );
  // Update codecs on a delta of mnist-mlp's trainable weights: bytes on the
  // wire against f32, and decode speed (dense f32 values out per second).
  const specs = weightSpecs(model, { trainableOnly: true });
  const random = seededRandom(5);
  const delta = new Map(specs.map(({ name, shape }) => {
    const data = new Float32Array(elementCount(shape));
    for (let i = 0; i < data.length; i++) data[i] = 0.01 * (random() - 0.5);
    return [name, { shape, data }];
  }));
  const f32Bytes = encodeUpdate(delta, UpdateCodecSchema.parse("f32"), { round: "1" }).byteLength;
  for (
    const [label, codec] of [
      ["f32", "f32"],
      ["f16", "f16"],
      ["int8", "int8"],
      ["topk 1%, int8 values", { kind: "topk", fraction: 0.01 }],
    ] as const
  ) {
    const parsed = UpdateCodecSchema.parse(codec);
    const encoded = encodeUpdate(delta, parsed, { round: "1", codec: parsed.kind });
    rows.push({
      name: `update bytes, ${label}`,
      value: encoded.byteLength,
      unit: "B",
      note: `${(100 * encoded.byteLength / f32Bytes).toFixed(1)}% of f32 (mnist-mlp)`,
    });
    const ms = time(20, () => decodeUpdate(encoded, specs));
    rows.push({
      name: `decode, ${label}`,
      value: f32Bytes / 1e6 / (ms / 1000),
      unit: "MB/s",
      note: "dense f32 bytes out per second, checks included",
    });
  }
}

if (run("aggregation")) {
  const tensors = [...weights.values()].map((t) => t.data);
  const clients = Array.from(
    { length: 8 },
    () => ({ tensors, numLabeled: 100, numUnlabeled: 900 }),
  );
  const avgMs = time(20, () => fedAvg(clients, { unlabeledWeight: 0.5 }));
  rows.push({
    name: "FedAvg, 8 clients",
    value: (8 * mb) / (avgMs / 1000) / 1000,
    unit: "GB/s",
    note: "update bytes read per second",
  });
  // The other strategies over the same 8 updates (distinct values, so sorting works).
  const varied = clients.map((c, i) => ({
    ...c,
    clientId: `c${i}`,
    tensors: c.tensors.map((t) => t.map((v) => v * (1 + 0.01 * i))),
  }));
  for (
    const [name, config, repeats] of [
      ["FedAdam", { strategy: "fedadam" }, 10],
      ["median", { strategy: "median" }, 2],
      ["trimmed mean", { strategy: "trimmed-mean", trimBeta: 0.25 }, 2],
      ["multi-Krum", { strategy: "krum", krumF: 2, krumM: 4 }, 3],
    ] as const
  ) {
    const strategy = createStrategy(AggregationConfigSchema.parse(config));
    const ms = time(repeats, () => strategy.aggregate({ round: 1, results: varied, failures: [] }));
    rows.push({
      name: `${name}, 8 clients`,
      value: (8 * mb) / (ms / 1000) / 1000,
      unit: "GB/s",
      note: "update bytes read per second",
    });
  }
  // Streaming aggregation against a plain add.
  rows.push(...aggregationRows());
}
model.dispose();
stockModel.dispose();

// Ingest over HTTP.
if (run("ingest")) rows.push(...await federationIngestRows(), ...await ingestRows());

// Secure aggregation: rounds of 10, 50 and 100 clients, secure against plain.
if (run("secagg")) rows.push(...await secaggRows());

// The transformer: tokens a second, and the step's FLOP rate over the matmul's.
if (run("transformer")) rows.push(...await transformerRows());

console.log(`machine: ${machine()}, deno ${Deno.version.deno}`);
const width = Math.max(...rows.map((r) => r.name.length));
console.log(`${"benchmark".padEnd(width)}  ${"value".padStart(10)}  unit  note`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(width)}  ${(Number.isNaN(r.value) ? "-" : r.value.toFixed(2)).padStart(10)}  ${
      r.unit.padEnd(4)
    }  ${r.note}`,
  );
}
const out = args.out ??
  join("runs", "bench", `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
await Deno.mkdir(dirname(out), { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      machine: machine(),
      cpus: navigator.hardwareConcurrency,
      sections: only,
      rows,
      ...report,
    },
    null,
    2,
  ),
);
console.log(`figures written to ${out}`);
