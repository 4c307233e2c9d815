/**
 * The built-in task `spam-text`: spam or ham from an e-mail's subject and body
 * (hashed word ids, see `shared/preprocess/text.ts`) with a small
 * bag-of-embeddings network: Embedding, mean over the words, a dense layer
 * with dropout, 2 logits.
 * @module
 */
import {
  dense,
  dropout as dropoutLayer,
  embedding,
  globalAveragePooling1d,
  sequential,
} from "./layers.ts";
import type { TaskConfig, TaskConfigInput } from "../schemas/mod.ts";
import { builtinTaskConfig } from "./_task.ts";

/** Options of {@linkcode spamTextTopology}. */
export interface SpamTextOptions {
  /** Token ids are in `[0, vocabSize)`; 0 is padding. */
  vocabSize: number;
  /** Token ids per row. */
  maxLength: number;
  /** Size of a word's vector. @default 32 */
  embedding?: number;
  /** Dropout rate before and after the dense layer. @default 0.3 */
  dropout?: number;
}

/**
 * The Layers topology of the text classifier (as `model.toJSON()` writes it,
 * so it needs no backend); input `[maxLength]` token ids, output 2 logits.
 * Layers: embedding, pool, dropout1, dense1 (32, relu), dropout2, logits.
 * The mean runs over all `maxLength` steps, padding included: tfjs's
 * GlobalAveragePooling1D takes no mask.
 *
 * @example
 * ```ts
 * import { spamTextTopology } from "./spam_text.ts";
 * import assert from "node:assert/strict";
 * const topology = spamTextTopology({ vocabSize: 1000, maxLength: 64 });
 * assert.equal(topology.class_name, "Sequential");
 * ```
 */
export function spamTextTopology(options: SpamTextOptions): Record<string, unknown> {
  const { vocabSize, maxLength, embedding: size = 32, dropout = 0.3 } = options;
  return sequential("spam_text", [
    embedding("embedding", vocabSize, size, maxLength),
    globalAveragePooling1d("pool"),
    dropoutLayer("dropout1", dropout),
    dense("dense1", 32, "relu"),
    dropoutLayer("dropout2", dropout),
    dense("logits", 2, "linear"),
  ]);
}

/**
 * The task config of `spam-text`, with overrides merged over its defaults
 * (vocabSize 8192, maxLength 256, labels `ham` and `spam`).
 *
 * @example
 * ```ts
 * import { spamTextTask } from "./spam_text.ts";
 * import assert from "node:assert/strict";
 * const task = spamTextTask({ maxLength: 128 });
 * assert.deepEqual(task.input.shape, [128]);
 * assert.deepEqual(task.input.labels, ["ham", "spam"]);
 * ```
 */
export function spamTextTask(
  overrides: {
    training?: TaskConfigInput["training"];
    rounds?: TaskConfigInput["rounds"];
    aggregation?: TaskConfigInput["aggregation"];
    vocabSize?: number;
    maxLength?: number;
    embedding?: number;
    dropout?: number;
  } = {},
): TaskConfig {
  const { vocabSize = 8192, maxLength = 256 } = overrides;
  const topology = spamTextTopology({
    vocabSize,
    maxLength,
    embedding: overrides.embedding,
    dropout: overrides.dropout,
  });
  return builtinTaskConfig({
    id: "spam-text",
    topology,
    input: {
      shape: [maxLength],
      labels: ["ham", "spam"],
      text: { vocabSize, maxLength, lowercase: true },
    },
    learningRate: 0.005,
  }, overrides);
}
