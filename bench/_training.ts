/**
 * Training speed per backend: a plain dropout step on batch 2B (one pass,
 * cross-entropy), an R-Drop step on batch B (one pass over [x; x], so the
 * same 2B rows), and inference on 2B rows, for mnist-mlp, through the
 * client's own trainer (gather on the device, async reads one step behind).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { cpus } from "node:os";
import { type BackendName, startBackend } from "../client/backend.ts";
import { LocalTrainer } from "../client/trainer.ts";
import type { Dataset } from "../shared/dataset.ts";
import { buildModel } from "../shared/model.ts";
import type { TrainingConfig } from "../shared/schemas.ts";
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

async function measure(
  backend: BackendName,
  rows: Dataset,
  steps: number,
  repeats: number,
): Promise<BackendSpeed> {
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
  try {
    // Warm-up (shader compilation, allocation), then alternate the two so
    // that drift in the machine's speed hits both alike.
    await trainer.train({ ...plain, localSteps: 2 });
    await trainer.train({ ...rdrop, localSteps: 2 });
    await predict();
    const plainMs: number[] = [];
    const rdropMs: number[] = [];
    const inferenceMs: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const p = await trainer.train(plain);
      const r = await trainer.train(rdrop);
      plainMs.push((1000 * p.seconds) / p.steps);
      rdropMs.push((1000 * r.seconds) / r.steps);
      inferenceMs.push(await predict());
    }
    return {
      backend,
      device: info.device,
      plainMs: median(plainMs),
      rdropMs: median(rdropMs),
      inferenceMs: median(inferenceMs),
      batch: b,
    };
  } finally {
    x.dispose();
    trainer.dispose();
    model.dispose();
  }
}

/**
 * Measures every backend that starts here (`webgpu` even on a software
 * adapter, since that is what this machine has); one that cannot start is
 * listed with the reason.
 */
export async function trainingSpeed(
  rows: Dataset,
): Promise<{ speeds: BackendSpeed[]; unavailable: { backend: string; reason: string }[] }> {
  const plan: [BackendName, number, number][] = [
    ["cpu", 3, 3],
    ["wasm", 20, 7],
    ["webgpu", 10, 5],
    ["tensorflow", 20, 5],
  ];
  const speeds: BackendSpeed[] = [];
  const unavailable: { backend: string; reason: string }[] = [];
  for (const [backend, steps, repeats] of plan) {
    try {
      speeds.push(await measure(backend, rows, steps, repeats));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (!/^Cannot start backend/.test(reason)) throw error;
      unavailable.push({ backend, reason: reason.replace(/^Cannot start backend "\w+": /, "") });
    }
  }
  await startBackend("wasm");
  return { speeds, unavailable };
}

/** Table rows of {@linkcode trainingSpeed}'s figures. */
export function trainingRows(
  speeds: BackendSpeed[],
  unavailable: { backend: string; reason: string }[],
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
        } rows/s); ${(s.rdropMs / s.plainMs).toFixed(3)}x the plain step on 2B`,
      },
      {
        name: `inference, ${2 * b} rows, ${s.backend}`,
        value: s.inferenceMs,
        unit: "ms",
        note: `${((2 * b * 1000) / s.inferenceMs).toFixed(0)} examples/s`,
      },
    );
    if (cpu && s !== cpu) {
      rows.push({
        name: `train step speed-up over cpu, ${s.backend}`,
        value: cpu.rdropMs / s.rdropMs,
        unit: "x",
        note: `R-Drop step; plain step ${(cpu.plainMs / s.plainMs).toFixed(1)}x`,
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
