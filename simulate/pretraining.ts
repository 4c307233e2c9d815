/**
 * The federated pretraining that the `pretrained-*` arms start from: the
 * task's own transformer, trained self-supervised on every client's rows
 * (masked tokens for a bidirectional model, the next token for a causal
 * one), once per seed.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type TaskConfig, TaskConfigSchema } from "../shared/schemas/mod.ts";
import { transformerTopology } from "../shared/transformer/model.ts";
import { transformerSpecOfTopology } from "../shared/transformer/spec_of_topology.ts";
import { dirname, join } from "node:path";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../shared/wire/safetensors.ts";
import type { SimulationConfig } from "./config.ts";

/**
 * The pretraining task of a transformer task: the same blocks and
 * vocabulary, its output over the vocabulary (tied), its kind
 * `masked-language-model` (or `language-model` for a causal model). The
 * fine-tuning arms load its weights by name; their head starts fresh.
 *
 * @throws {TypeError} A task that is not a transformer over sequences.
 *
 * @example
 * ```ts ignore
 * import { pretrainingTask } from "./pretraining.ts";
 * const task = await pretrainingTask(base); // base: brown-pos's config
 * ```
 */
export async function pretrainingTask(base: TaskConfig): Promise<TaskConfig> {
  const spec = transformerSpecOfTopology(base.model.topology);
  const sequence = base.input.sequence;
  if (!spec || !sequence) {
    throw new TypeError(
      `the pretrained-* arms need a transformer task over sequences (brown-lm, brown-pos, or a task file with model.transformer); "${base.id}" is not one`,
    );
  }
  await tf.ready();
  const topology = transformerTopology({
    ...spec,
    tied: true,
    output: { kind: "tokens", classes: spec.vocabSize },
  });
  return TaskConfigSchema.parse({
    ...base,
    id: `${base.id}-pretraining`,
    model: { topology, seed: base.model.seed },
    input: {
      ...base.input,
      labels: [],
      sequence: { ...sequence, kind: spec.causal ? "language-model" : "masked-language-model" },
    },
  });
}

/**
 * The simulation settings a seed's pretraining runs with: the pretraining's
 * rounds, and its local steps, fraction and learning rate where given (else
 * the fine-tuning's), every client's rows.
 *
 * @example
 * ```ts
 * import { pretrainingConfig } from "./pretraining.ts";
 * import { SimulationConfigSchema } from "./config.ts";
 * import assert from "node:assert/strict";
 * const config = SimulationConfigSchema.parse({ pretrainRounds: 30, pretrainLocalSteps: 25 });
 * assert.equal(pretrainingConfig(config).localSteps, 25);
 * ```
 */
export function pretrainingConfig(config: SimulationConfig): SimulationConfig {
  return {
    ...config,
    rounds: config.pretrainRounds,
    localSteps: config.pretrainLocalSteps ?? config.localSteps,
    fraction: config.pretrainFraction ?? config.fraction,
    learningRate: config.pretrainLearningRate ?? config.learningRate,
    labeledClients: undefined,
  };
}

/** What fixes a seed's pretraining: the settings it ran with. */
export type PretrainingSettings = Record<string, unknown>;

/**
 * The settings that decide a seed's pretraining (the task, the partition, the
 * pretraining's rounds, steps, fraction, batch and learning rate), to check
 * that a saved one fits the run that would reuse it.
 *
 * @example
 * ```ts
 * import { pretrainingSettings } from "./pretraining.ts";
 * import { SimulationConfigSchema } from "./config.ts";
 * import assert from "node:assert/strict";
 * const settings = pretrainingSettings(SimulationConfigSchema.parse({ task: "brown-pos" }), 1);
 * assert.equal(settings.rounds, 10);
 * ```
 */
export function pretrainingSettings(config: SimulationConfig, seed: number): PretrainingSettings {
  const run = pretrainingConfig(config);
  return {
    task: run.task,
    seed,
    clients: run.clients,
    beta: run.beta,
    rounds: run.rounds,
    localSteps: run.localSteps,
    fraction: run.fraction,
    learningRate: run.learningRate,
    batch: run.labeledBatchSize,
    dropout: config.dropout,
    codec: config.codec,
    strategy: config.strategy,
  };
}

/** Where a run keeps a seed's pretrained weights. */
function pretrainedPath(dir: string, seed: number): string {
  return join(dir, "pretraining", `seed-${seed}.safetensors`);
}

/**
 * Writes a seed's pretrained weights into the run's folder
 * (`pretraining/seed-N.safetensors`, with the settings in its metadata), so
 * that a later run can start from them (`--pretrained-from`).
 *
 * @example
 * ```ts ignore
 * import { savePretrained } from "./pretraining.ts";
 * await savePretrained("runs/sim", pretrainingSettings(config, 1), weights);
 * ```
 */
export async function savePretrained(
  dir: string,
  settings: PretrainingSettings,
  weights: Map<string, Float32Tensor>,
): Promise<void> {
  const path = pretrainedPath(dir, settings.seed as number);
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeFile(
    path,
    encodeSafetensors(weights, { pretraining: JSON.stringify(settings) }),
  );
}

/**
 * A seed's pretrained weights from an earlier run's folder.
 *
 * @throws {Error} No pretraining of that seed there, or one made with other
 * settings (the message names the first that differs).
 *
 * @example
 * ```ts ignore
 * import { loadPretrained, pretrainingSettings } from "./pretraining.ts";
 * const weights = await loadPretrained("runs/sim", pretrainingSettings(config, 1));
 * ```
 */
export async function loadPretrained(
  dir: string,
  settings: PretrainingSettings,
): Promise<Map<string, Float32Tensor>> {
  const path = pretrainedPath(dir, settings.seed as number);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(`--pretrained-from ${dir}: no pretraining of seed ${settings.seed} (${path})`);
  }
  const file = decodeSafetensors(bytes);
  const saved = JSON.parse(file.metadata.pretraining ?? "{}") as PretrainingSettings;
  for (const [key, value] of Object.entries(settings)) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(value)) {
      throw new Error(
        `--pretrained-from ${dir}: seed ${settings.seed} was pretrained with ${key} ${
          JSON.stringify(saved[key])
        }, this run asks for ${JSON.stringify(value)}`,
      );
    }
  }
  return new Map([...file.tensors].map(([name, t]) => [name, { shape: t.shape, data: t.data }]));
}
