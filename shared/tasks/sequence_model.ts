/**
 * The transformer a sequence task's `model.transformer` asks for: its
 * vocabulary and length from `input.sequence`, its output from the task's
 * kind (the next token over the vocabulary, a label at each position, or a
 * label for the row).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { InputSpec, TransformerConfig } from "../schemas/mod.ts";
import { predictsTokens, TransformerConfigSchema } from "../schemas/mod.ts";
import type { TransformerSpec } from "../transformer/model.ts";
import { checkTransformerSpec, transformerTopology } from "../transformer/model.ts";

/**
 * The spec of a sequence task's transformer; a RangeError when the input has
 * no `sequence` or the settings do not fit it (naming the field).
 *
 * @example
 * ```ts
 * import { transformerSpecOf } from "./sequence_model.ts";
 * import { buildVocabulary } from "../tokenizer/tokenizer.ts";
 * import assert from "node:assert/strict";
 * const vocabulary = await buildVocabulary(["a b c"], { minCount: 1 });
 * const spec = transformerSpecOf(
 *   { labels: [], sequence: { kind: "language-model", maxLength: 8, vocabulary } },
 *   { layers: 1, dModel: 16, heads: 2, dropout: 0.1 },
 * );
 * assert.equal(spec.causal, true);
 * assert.equal(spec.output.classes, vocabulary.tokens.length);
 * ```
 */
export function transformerSpecOf(
  input: Pick<InputSpec, "labels" | "sequence">,
  config: Partial<TransformerConfig>,
): TransformerSpec {
  const sequence = input.sequence;
  if (!sequence) {
    throw new RangeError("model.transformer needs input.sequence: the task's tokens and kind");
  }
  const settings = TransformerConfigSchema.parse(config);
  const model = predictsTokens(sequence.kind);
  const vocabSize = sequence.vocabulary.tokens.length;
  const tied = settings.tied ?? model;
  if (tied && !model) {
    throw new RangeError(
      "model.transformer.tied: only a language model's output is over the vocabulary",
    );
  }
  const spec: TransformerSpec = {
    vocabSize,
    layers: settings.layers,
    dModel: settings.dModel,
    heads: settings.heads,
    ffn: settings.ffn ?? 4 * settings.dModel,
    maxLength: sequence.maxLength,
    causal: settings.causal ?? sequence.kind === "language-model",
    dropout: settings.dropout,
    tied,
    output: sequence.kind === "sequence-classification"
      ? { kind: "sequence", classes: input.labels.length }
      : { kind: "tokens", classes: model ? vocabSize : input.labels.length },
  };
  checkTransformerSpec(spec);
  return spec;
}

/**
 * The Layers topology of a sequence task's transformer (what /v1/task
 * serves; every client builds the same model from it).
 *
 * @example
 * ```ts
 * import { sequenceTopology } from "./sequence_model.ts";
 * import { buildVocabulary } from "../tokenizer/tokenizer.ts";
 * import assert from "node:assert/strict";
 * const vocabulary = await buildVocabulary(["a b c"], { minCount: 1 });
 * const topology = await sequenceTopology(
 *   { labels: ["x", "y"], sequence: { kind: "token-classification", maxLength: 8, vocabulary } },
 *   { layers: 1, dModel: 16, heads: 2 },
 * );
 * assert.equal(topology.class_name, "Model");
 * ```
 */
export async function sequenceTopology(
  input: Pick<InputSpec, "labels" | "sequence">,
  config: Partial<TransformerConfig>,
): Promise<Record<string, unknown>> {
  const spec = transformerSpecOf(input, config);
  // The model is built once to write its topology: on whichever backend is ready.
  await tf.ready();
  return transformerTopology(spec);
}

/**
 * The transformer of the built-in text tasks (`brown-lm`, `brown-pos`,
 * `spam-transformer`): 2 blocks, dModel 64, 4 heads, an MLP of 128, dropout
 * 0.1.
 *
 * @example
 * ```ts
 * import { SMALL_TRANSFORMER } from "./sequence_model.ts";
 * import assert from "node:assert/strict";
 * assert.equal(SMALL_TRANSFORMER.layers, 2);
 * ```
 */
export const SMALL_TRANSFORMER = {
  layers: 2,
  dModel: 64,
  heads: 4,
  ffn: 128,
  dropout: 0.1,
} as const;

/**
 * The attention projections of every block of a transformer, as layer-name
 * globs: where LoRA adapters go when a pretrained encoder is fine-tuned.
 *
 * @example
 * ```ts
 * import { ATTENTION_PROJECTIONS } from "./sequence_model.ts";
 * import assert from "node:assert/strict";
 * assert.ok(ATTENTION_PROJECTIONS.includes("block*_query"));
 * ```
 */
export const ATTENTION_PROJECTIONS = [
  "block*_query",
  "block*_key",
  "block*_value",
  "block*_output",
];
