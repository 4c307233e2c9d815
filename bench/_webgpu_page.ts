/**
 * The browser side of the transformer's WebGPU rows, bundled by
 * bench/_transformer_webgpu.ts: starts tfjs's webgpu backend, trains the
 * benchmark's model with the project's trainer, and leaves the figures in
 * `globalThis.webgpuBench`, a promise the bench awaits. One warm-up step of
 * each objective (a plain step, an R-Drop step) compiles the shaders; then
 * `runs` timed runs of `steps` steps, plain and R-Drop alternating. The query
 * string gives them: `?steps=N&runs=R`. Progress goes to the console as
 * lines starting `bench: `.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import { LocalTrainer } from "../client/training/trainer.ts";
import { type AdapterLike, describeAdapter } from "../client/training/gpu_adapter.ts";
import { TrainingConfigSchema } from "../shared/schemas/mod.ts";
import { transformerModel } from "../shared/transformer/model.ts";
import { rows, SPEC } from "./_transformer_data.ts";

/** What the page reports: its figures, or why it could not measure. */
export type WebGpuBench =
  | {
    /** The adapter as the project describes it (gpu_adapter.ts's describeAdapter). */
    adapter: string;
    /** The adapter's own `info` fields, as the browser reports them. */
    adapterInfo: Record<string, string>;
    /** Whether the browser flags it as a fallback (software) adapter. */
    fallback: boolean | null;
    /** The tfjs backend that ran. */
    backend: string;
    /** Seconds a plain step (median of the runs). */
    plainSeconds: number;
    /** Seconds an R-Drop step (median of the runs). */
    rdropSeconds: number;
    /** Seconds a step of each run, plain. */
    plainRuns: number[];
    /** Seconds a step of each run, R-Drop. */
    rdropRuns: number[];
    /** Seconds of the warm-up steps, plain and R-Drop. */
    warmUp: [number, number];
    /** Steps a run. */
    steps: number;
  }
  | { error: string };

const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!;

async function measure(): Promise<WebGpuBench> {
  const query = new URLSearchParams(location.search);
  const steps = Number(query.get("steps") ?? "1");
  const runs = Number(query.get("runs") ?? "1");
  const gpu = (navigator as unknown as {
    gpu?: { requestAdapter(): Promise<(AdapterLike & { info?: object }) | null> };
  }).gpu;
  if (!gpu) return { error: "this Chromium exposes no WebGPU (navigator.gpu is missing)" };
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { error: "WebGPU has no adapter here" };
  if (!(await tf.setBackend("webgpu"))) return { error: "tfjs could not start webgpu" };
  await tf.ready();
  const info: Record<string, string> = {};
  for (const key of ["vendor", "architecture", "device", "description"]) {
    const value = (adapter.info as Record<string, unknown> | undefined)?.[key];
    if (typeof value === "string" && value !== "") info[key] = value;
  }

  const t = SPEC.maxLength;
  const model = transformerModel(SPEC, { seed: 1 });
  const trainer = new LocalTrainer(model, rows(64, 2), { seed: 3 });
  // 2,048 tokens a pass either way: 16 rows, or the twins of 8.
  const configs = {
    ce: TrainingConfigSchema.parse({
      objective: "ce",
      localSteps: steps,
      labeledBatchSize: 2048 / t,
      unlabeledBatchSize: 0,
      learningRate: 0.001,
    }),
    rdrop: TrainingConfigSchema.parse({
      objective: "rdrop",
      localSteps: steps,
      labeledBatchSize: 1024 / t,
      unlabeledBatchSize: 0,
      learningRate: 0.001,
    }),
  };
  // The trainer's time of a run ends when its last step's loss is read back,
  // after the device has run every command queued before it.
  const step = async (objective: "ce" | "rdrop", localSteps: number, label: string) => {
    const result = await trainer.train({ ...configs[objective], localSteps });
    if (!Number.isFinite(result.loss)) throw new Error(`the loss became ${result.loss}`);
    const seconds = result.seconds / localSteps;
    console.log(`bench: ${objective} ${label}: ${seconds.toFixed(2)} s a step`);
    return seconds;
  };
  try {
    // Warm-up: compiles each objective's shaders and fills tfjs's buffer pools.
    const warmUp: [number, number] = [
      await step("ce", 1, "warm-up"),
      await step("rdrop", 1, "warm-up"),
    ];
    const plainRuns: number[] = [];
    const rdropRuns: number[] = [];
    for (let i = 1; i <= runs; i++) {
      plainRuns.push(await step("ce", steps, `run ${i}`));
      rdropRuns.push(await step("rdrop", steps, `run ${i}`));
    }
    return {
      adapter: describeAdapter(adapter),
      adapterInfo: info,
      fallback: (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
        (adapter.info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? null,
      backend: tf.getBackend(),
      plainSeconds: median(plainRuns),
      rdropSeconds: median(rdropRuns),
      plainRuns,
      rdropRuns,
      warmUp,
      steps,
    };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

(globalThis as { webgpuBench?: Promise<WebGpuBench> }).webgpuBench = measure().catch((
  error,
) => ({ error: error instanceof Error ? error.message : String(error) }));
