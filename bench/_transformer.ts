/**
 * The transformer's training speed on wasm: tokens a second of a plain step
 * (dropout on, one pass over 2,048 tokens) and of an R-Drop step (one pass
 * over the twins of 1,024 tokens, 2,048 in all), and the step's FLOP rate
 * divided by the same backend's 512x512x512 matmul rate, measured in the same
 * run (before and after the steps; the faster counts). The model: 2 blocks,
 * dModel 128, 4 heads, MLP 512, 128 positions, a vocabulary of 1,000, tied,
 * causal. A masked-token R-Drop step (bidirectional, a vocabulary of 8,000)
 * with its output at the masked tokens only, against the same step with the
 * output at every position. Then the same model and R-Drop step in PyTorch on one thread
 * (bench/_transformer_torch.py, Debian's python3-torch), as tfjs's wasm runs
 * here, and tfjs's tokens a second over PyTorch's. Then the same trainer on
 * tfjs's webgpu backend in headless Chromium (bench/_transformer_webgpu.ts),
 * and its tokens a second over wasm's.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { startBackend } from "../client/training/backend.ts";
import { LocalTrainer } from "../client/training/trainer.ts";
import { TrainingConfigSchema } from "../shared/schemas/mod.ts";
import { transformerModel, type TransformerSpec } from "../shared/transformer/model.ts";
import type { Row } from "./_row.ts";
import { rows, SPEC } from "./_transformer_data.ts";
import { webGpuRows } from "./_transformer_webgpu.ts";

/** The benchmark's model and rows (bench/_transformer_data.ts). */
export { rows, SPEC };

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

/**
 * The masked-token step's model: the benchmark's, bidirectional, over a
 * vocabulary of 8,000 (brown-pos's), tied.
 */
const MASKED_SPEC: TransformerSpec = {
  ...SPEC,
  vocabSize: 8000,
  causal: false,
  tied: true,
  output: { kind: "tokens", classes: 8000 },
};

/**
 * Seconds a step of `objective` takes over `batch` rows (median of 3 runs of
 * 4 steps); with `masked`, a masked-token step of {@linkcode MASKED_SPEC},
 * its output at the masked positions or (`fullOutput`) at every position.
 */
async function stepSeconds(
  objective: "ce" | "rdrop",
  batch: number,
  masked?: { fullOutput: boolean },
): Promise<number> {
  const model = transformerModel(masked ? MASKED_SPEC : SPEC, { seed: 1 });
  const trainer = new LocalTrainer(model, rows(64, 2), {
    seed: 3,
    maskedTokens: masked && { vocabSize: MASKED_SPEC.vocabSize, ...masked },
  });
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

/** What bench/_transformer_torch.py reports. */
interface TorchResult {
  torch: string;
  blas: string;
  seconds: number;
  matmul_gflops: number;
}

/** Runs the PyTorch twin of the benchmark; the reason instead where it cannot run. */
async function torchStep(): Promise<TorchResult | string> {
  const script = new URL("./_transformer_torch.py", import.meta.url).pathname;
  const spec = JSON.stringify(SPEC);
  try {
    const { code, stdout, stderr } = await new Deno.Command("/usr/bin/python3", {
      args: [script, spec, String(1024 / SPEC.maxLength), "4"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    if (code !== 0) {
      const why = text.decode(stderr).trim().split("\n").at(-1) ?? `exit ${code}`;
      return why.includes("No module named 'torch'") ? "torch is not installed" : why;
    }
    return JSON.parse(text.decode(stdout).trim().split("\n").at(-1)!) as TorchResult;
  } catch (error) {
    return `/usr/bin/python3 could not run: ${error instanceof Error ? error.message : error}`;
  }
}

/** The transformer rows of `deno task bench`, on wasm, PyTorch's, and WebGPU's in Chromium. */
export async function transformerRows(): Promise<Row[]> {
  const backend = await startBackend("wasm");
  const before = await matmulMs();
  const t = SPEC.maxLength;
  const plain = await stepSeconds("ce", 2048 / t);
  const rdrop = await stepSeconds("rdrop", 1024 / t);
  const maskedAt = await stepSeconds("rdrop", 1024 / t, { fullOutput: false });
  const maskedFull = await stepSeconds("rdrop", 1024 / t, { fullOutput: true });
  const matmulRate = (2 * 512 ** 3) / (Math.min(before, await matmulMs()) / 1000);
  const torch = await torchStep();
  const webgpu = await webGpuRows({ plain, rdrop });
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
    typeof torch === "string"
      ? {
        name: "transformer R-Drop step, PyTorch",
        value: NaN,
        unit: "tok/s",
        note: `not measured: ${torch}`,
      }
      : {
        name: "transformer R-Drop step, PyTorch",
        value: 2048 / torch.seconds,
        unit: "tok/s",
        note: `the same model and step, 1 thread; torch ${torch.torch}, BLAS ${torch.blas}, ${
          torch.matmul_gflops.toFixed(1)
        } GF/s on the 512 matmul`,
      },
    {
      name: "transformer R-Drop step, wasm / PyTorch",
      value: typeof torch === "string" ? NaN : torch.seconds / rdrop,
      unit: "x",
      note: "tokens a second, the same run",
    },
    {
      name: "masked-token R-Drop step, output at the masked tokens, wasm",
      value: 2048 / maskedAt,
      unit: "tok/s",
      note: `bidirectional, a vocabulary of 8,000, 15% masked; otherwise as above`,
    },
    {
      name: "masked-token R-Drop step, output everywhere, wasm",
      value: 2048 / maskedFull,
      unit: "tok/s",
      note: "the reference: the same step with the tied output at every position (fullOutput)",
    },
    {
      name: "masked-token R-Drop step, masked / everywhere",
      value: maskedFull / maskedAt,
      unit: "x",
      note: "tokens a second, the same run",
    },
    ...webgpu,
  ];
}
