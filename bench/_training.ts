/**
 * Training speed per backend: a plain dropout step on batch 2B (one pass,
 * cross-entropy), an R-Drop step on batch B (one pass over [x; x], so the
 * same 2B rows), and inference on 2B rows, for mnist-mlp, through the
 * client's own trainer (gather on the device, async reads one step behind).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { cpus } from "node:os";
import { type BackendName, startBackend } from "../client/training/backend.ts";
import { LocalTrainer } from "../client/training/trainer.ts";
import type { Dataset } from "../shared/data/dataset.ts";
import { buildModel } from "../shared/model/model.ts";
import type { TrainingConfig } from "../shared/schemas/mod.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import type { Row } from "./_row.ts";

/** Figures of one backend. */
export interface BackendSpeed {
  backend: BackendName;
  device: string | null;
  /** Milliseconds per step: plain dropout on 2B rows, R-Drop on B rows (2B computed). */
  plainMs: number;
  rdropMs: number;
  /** Milliseconds to predict 2B rows. */
  inferenceMs: number;
  /** B. */
  batch: number;
}

/** The machine, in words: CPU model and count. */
export function machine(): string {
  const list = cpus();
  return `${list[0]?.model.trim() ?? "unknown CPU"} x ${list.length}`;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

/** Paired ratios of one backend, medians over the rounds. */
export interface Ratios {
  /** R-Drop step on B rows over the plain step on 2B rows, in the same block. */
  rdropOverPlain: number;
  /** cpu's step time over this backend's in the same round; absent for cpu. */
  speedUp?: { rdrop: number; plain: number };
}

/** Milliseconds a step (plain, R-Drop) and a prediction in one block. */
export interface Block {
  plainMs: number;
  rdropMs: number;
  inferenceMs: number;
}

/** One backend's model, trainer and steps, kept across rounds. */
interface Bench {
  backend: BackendName;
  device: string | null;
  batch: number;
  /**
   * Runs one block: a plain run and an R-Drop run (R-Drop first when
   * `rdropFirst`), then an inference; milliseconds a step or a prediction.
   */
  block(rdropFirst: boolean): Promise<Block>;
  dispose(): void;
}

async function prepare(backend: BackendName, rows: Dataset, steps: number): Promise<Bench> {
  const info = await startBackend(backend);
  const task = mnistMlpTask();
  const model = await buildModel(task.model.topology);
  const trainer = new LocalTrainer(model, rows, { seed: 1 });
  const b = task.training.labeledBatchSize + task.training.unlabeledBatchSize;
  const rdrop: TrainingConfig = { ...task.training, localSteps: steps };
  const plain: TrainingConfig = {
    ...rdrop,
    objective: "ce",
    labeledBatchSize: 2 * task.training.labeledBatchSize,
    unlabeledBatchSize: 2 * task.training.unlabeledBatchSize,
  };
  const x = tf.tensor(rows.x.subarray(0, 2 * b * 784), [2 * b, 784]);
  const predict = async () => {
    const start = performance.now();
    const out = model.predict(x) as tf.Tensor;
    await out.data();
    out.dispose();
    return performance.now() - start;
  };
  // Warm-up: shader compilation, allocation, the JIT.
  for (let i = 0; i < 2; i++) {
    await trainer.train({ ...plain, localSteps: 2 });
    await trainer.train({ ...rdrop, localSteps: 2 });
    await predict();
  }
  return {
    backend,
    device: info.device,
    batch: b,
    async block(rdropFirst) {
      await tf.setBackend(backend);
      const r0 = rdropFirst ? await trainer.train(rdrop) : null;
      const p = await trainer.train(plain);
      const r = r0 ?? await trainer.train(rdrop);
      return {
        plainMs: (1000 * p.seconds) / p.steps,
        rdropMs: (1000 * r.seconds) / r.steps,
        inferenceMs: await predict(),
      };
    },
    dispose() {
      x.dispose();
      trainer.dispose();
      model.dispose();
    },
  };
}

/** Options of {@linkcode trainingSpeed}. */
export interface TrainingSpeedOptions {
  /**
   * Rounds: each runs one block of every backend in turn, each backend's
   * model and rows staying on it, so that changes in the machine's speed
   * (large on a shared 2-core machine) fall on all of them alike. Odd rounds
   * run the R-Drop step before the plain one.
   * @default 7
   */
  rounds?: number;
}

/**
 * Measures every backend that starts here (`webgpu` even on a software
 * adapter, since that is what this machine has); one that cannot start is
 * listed with the reason. A time is the fastest of the rounds' blocks (the
 * machine's noise only ever adds time; `medians` has the medians). Ratios
 * are paired, then the median taken: `ratios[b].rdropOverPlain` of each
 * block's R-Drop and plain steps, `ratios[b].speedUp` of cpu's step time
 * over b's in the same round.
 */
export async function trainingSpeed(
  rows: Dataset,
  options: TrainingSpeedOptions = {},
): Promise<
  {
    speeds: BackendSpeed[];
    medians: BackendSpeed[];
    unavailable: { backend: string; reason: string }[];
    ratios: Record<string, Ratios>;
    /** Every block, per backend, in the order run. */
    blocks: Record<string, Block[]>;
  }
> {
  const { rounds = 7 } = options;
  const plan: [BackendName, number][] = [
    ["cpu", 3],
    ["wasm", 20],
    ["webgpu", 5],
    ["tensorflow", 20],
  ];
  const benches: Bench[] = [];
  const unavailable: { backend: string; reason: string }[] = [];
  for (const [backend, steps] of plan) {
    try {
      benches.push(await prepare(backend, rows, steps));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (!/^Cannot start backend/.test(reason)) throw error;
      unavailable.push({ backend, reason: reason.replace(/^Cannot start backend "\w+": /, "") });
    }
  }
  const blocks = new Map<BackendName, Block[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const bench of benches) {
        const block = await bench.block(round % 2 === 1);
        blocks.set(bench.backend, [...(blocks.get(bench.backend) ?? []), block]);
      }
    }
  } finally {
    for (const bench of benches) {
      await tf.setBackend(bench.backend);
      bench.dispose();
    }
    await startBackend("wasm");
  }
  const summary = (pick: (values: number[]) => number) =>
    benches.map((bench): BackendSpeed => {
      const list = blocks.get(bench.backend)!;
      return {
        backend: bench.backend,
        device: bench.device,
        batch: bench.batch,
        plainMs: pick(list.map((s) => s.plainMs)),
        rdropMs: pick(list.map((s) => s.rdropMs)),
        inferenceMs: pick(list.map((s) => s.inferenceMs)),
      };
    });
  const speeds = summary((values) => Math.min(...values));
  const cpu = blocks.get("cpu");
  const ratios: Record<string, Ratios> = {};
  for (const [backend, list] of blocks) {
    ratios[backend] = {
      rdropOverPlain: median(list.map((b) => b.rdropMs / b.plainMs)),
      ...(cpu && backend !== "cpu"
        ? {
          speedUp: {
            rdrop: median(list.map((b, i) => cpu[i]!.rdropMs / b.rdropMs)),
            plain: median(list.map((b, i) => cpu[i]!.plainMs / b.plainMs)),
          },
        }
        : {}),
    };
  }
  return {
    speeds,
    medians: summary(median),
    unavailable,
    ratios,
    blocks: Object.fromEntries(blocks),
  };
}

/** Table rows of {@linkcode trainingSpeed}'s figures. */
export function trainingRows(
  speeds: BackendSpeed[],
  unavailable: { backend: string; reason: string }[],
  ratios: Record<string, Ratios>,
): Row[] {
  const rows: Row[] = [];
  const cpu = speeds.find((s) => s.backend === "cpu");
  for (const s of speeds) {
    const b = s.batch;
    const on = `${s.backend}${s.device ? ` (${s.device})` : ""}`;
    rows.push(
      {
        name: `train step, plain dropout, 2B = ${2 * b}, ${s.backend}`,
        value: s.plainMs,
        unit: "ms",
        note: `${((2 * b * 1000) / s.plainMs).toFixed(0)} examples/s on ${on}`,
      },
      {
        name: `train step, R-Drop, B = ${b}, ${s.backend}`,
        value: s.rdropMs,
        unit: "ms",
        note: `${((b * 1000) / s.rdropMs).toFixed(0)} examples/s (${
          ((2 * b * 1000) / s.rdropMs).toFixed(0)
        } rows/s); ${
          ratios[s.backend]?.rdropOverPlain.toFixed(3)
        }x the plain step on 2B (median of blocks)`,
      },
      {
        name: `inference, ${2 * b} rows, ${s.backend}`,
        value: s.inferenceMs,
        unit: "ms",
        note: `${((2 * b * 1000) / s.inferenceMs).toFixed(0)} examples/s`,
      },
    );
    const up = ratios[s.backend]?.speedUp;
    if (cpu && up) {
      rows.push({
        name: `train step speed-up over cpu, ${s.backend}`,
        value: up.rdrop,
        unit: "x",
        note: `R-Drop step; plain step ${up.plain.toFixed(1)}x (medians of the rounds' ratios)`,
      });
    }
  }
  for (const u of unavailable) {
    rows.push({
      name: `training, ${u.backend}`,
      value: NaN,
      unit: "",
      note: `not run: ${u.reason}`,
    });
  }
  return rows;
}
