/**
 * Where an R-Drop step of the benchmark transformer (bench/_transformer.ts)
 * spends its time on wasm: tfjs's kernels from `tf.profile`, grouped by
 * what they compute (told apart by their shapes), plus the project's wasm
 * kernels that run outside tfjs's (the fused layers and loss), timed by
 * wrapping them; the rest of the
 * step (the tape, Adam, JavaScript) is what the wall clock adds. `--stock`
 * profiles tfjs's own ops (the trainer's `wasmKernels: false`).
 *
 * `deno run -A bench/_transformer_profile.ts [--stock]`
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { startBackend } from "../client/training/backend.ts";
import { simdKernels } from "../client/training/simd_kernels.ts";
import { LocalTrainer } from "../client/training/trainer.ts";
import { TrainingConfigSchema } from "../shared/schemas/mod.ts";
import { transformerModel } from "../shared/transformer/model.ts";
import { rows, SPEC } from "./_transformer.ts";

/** The group of a tfjs kernel of this model, from its name and input shapes. */
function group(name: string, shapes: (number[] | null)[]): string | null {
  // Scopes (an op's customGrad) only wrap kernels or the wasm kernels timed
  // apart: they would count twice.
  if (!tf.getKernel(name, "wasm")) return null;
  const { dModel: d, heads, vocabSize: v } = SPEC;
  const first = shapes[0] ?? [];
  const dims = shapes.flatMap((s) => s ?? []);
  if (["Slice", "Tile", "FusedBatchNorm", "Rsqrt"].includes(name)) return "layer norm";
  if (name === "Add" && first.length === 3 && (first[0] === 1 || first[2] === 1)) {
    return "layer norm";
  }
  if (["Pow", "Tanh"].includes(name)) return "GELU";
  if (name === "BatchMatMul" || name === "_FusedMatMul") {
    if (first.length === 4) return "attention matmuls";
    return dims.includes(v) ? "tied output matmul" : "dense matmuls";
  }
  if (first.length === 4 && first[1] === heads) return "attention softmax, masks, dropout";
  if (["GatherV2", "UnsortedSegmentSum"].includes(name)) return "embedding gather/scatter";
  if (dims.includes(v)) return "loss (log-softmax, KL, CE)";
  if (name === "Transpose") return "transposes";
  if (["Reshape", "Identity", "Cast", "ZerosLike"].includes(name)) return "reshapes, copies";
  if (name === "Sum" && first.length === 3 && first[0] === 1) return "dense matmuls";
  if (first.includes(SPEC.ffn) || (first.length === 0 && shapes[1]?.includes(SPEC.ffn))) {
    return "GELU";
  }
  if (first.at(-1) === d) return "element-wise (residual, dropout, norm)";
  return "other kernels";
}

/** Wraps the project's transformer kernels with timers, into `times` (ms by group). */
function timeKernels(times: Map<string, number>): void {
  const kernels = simdKernels()?.transformer as unknown as Record<string, (...a: number[]) => void>;
  if (!kernels) return;
  const groups: Record<string, string> = {
    layerNormForward: "layer norm",
    layerNormBackward: "layer norm",
    geluForward: "GELU",
    geluBackward: "GELU",
    gemm: "attention matmuls",
    transpose: "transposes",
    mul: "attention softmax, masks, dropout",
    softmaxRows: "attention softmax, masks, dropout",
    softmaxRowsBackward: "attention softmax, masks, dropout",
    rowMaxSumExp: "loss (log-softmax, KL, CE)",
    rdropRows: "loss (log-softmax, KL, CE)",
    rdropBackward: "loss (log-softmax, KL, CE)",
  };
  for (const [name, what] of Object.entries(groups)) {
    const own = kernels[name]!;
    kernels[name] = (...args: number[]) => {
      const start = performance.now();
      own(...args);
      times.set(what, (times.get(what) ?? 0) + performance.now() - start);
    };
  }
}

if (import.meta.main) {
  const stock = Deno.args.includes("--stock");
  await startBackend("wasm");
  const model = transformerModel(SPEC, { seed: 1 });
  const trainer = new LocalTrainer(model, rows(64, 2), { seed: 3, wasmKernels: !stock });
  const config = TrainingConfigSchema.parse({
    objective: "rdrop",
    localSteps: 1,
    labeledBatchSize: 1024 / SPEC.maxLength,
    unlabeledBatchSize: 0,
    learningRate: 0.001,
  });
  await trainer.train(config);
  const times = new Map<string, number>();
  timeKernels(times);
  const steps = 3;
  let wall = 0;
  for (let i = 0; i < steps; i++) {
    const profile = await tf.profile(async () => {
      wall += (await trainer.train(config)).seconds * 1000;
    });
    for (const kernel of profile.kernels) {
      const what = group(kernel.name, kernel.inputShapes);
      if (what === null || typeof kernel.kernelTimeMs !== "number") continue;
      times.set(what, (times.get(what) ?? 0) + kernel.kernelTimeMs);
    }
  }
  const counted = [...times.values()].reduce((a, b) => a + b, 0);
  times.set("the rest (tape, Adam, JavaScript)", Math.max(0, wall - counted));
  console.log(
    `R-Drop step, ${stock ? "tfjs's ops" : "the project's kernels"}: ${
      (wall / steps).toFixed(0)
    } ms`,
  );
  for (const [what, ms] of [...times].sort((a, b) => b[1] - a[1])) {
    const share = (100 * ms / wall).toFixed(0).padStart(3);
    console.log(`${(ms / steps).toFixed(1).padStart(8)} ms ${share}%  ${what}`);
  }
  trainer.dispose();
  model.dispose();
}
