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
