/**
 * Masked-token prediction's inputs and labels (BERT's recipe): of each row's
 * real tokens (not `[PAD]`, and not the special tokens), a share `rate` is
 * chosen; a chosen token becomes `[MASK]` 80% of the time, a random word 10%
 * and stays itself 10%, and is the label of its position; every other
 * position has no label (-1). The rows are masked once, before R-Drop's
 * `[x; x]`, so both twins see the same masked input.
 * @module
 */
import type { Dataset } from "../data/dataset.ts";
import { type Random, seededRandom } from "../random.ts";
import { MASK, SPECIAL_TOKENS } from "./tokenizer.ts";

/** Options of {@linkcode maskTokens}. */
export interface MaskTokensOptions {
  /** Tokens in the vocabulary: random replacements are drawn from its words. */
  vocabSize: number;
  /** Share of each row's real tokens chosen. @default 0.15 */
  rate?: number;
  /** Where the draws come from. */
  random: Random;
}

/** Masked rows: the model's input and the labels at the chosen positions. */
export interface MaskedTokens {
  input: Float32Array;
  labels: Int32Array;
}

/**
 * Masks `ids` (rows of token ids, any length; 0 is padding).
 *
 * @example
 * ```ts
 * import { maskTokens } from "./masking.ts";
 * import { seededRandom } from "../random.ts";
 * import assert from "node:assert/strict";
 * const ids = Float32Array.from([3, 7, 8, 9, 10, 4, 0, 0]);
 * const { input, labels } = maskTokens(ids, { vocabSize: 20, rate: 0.5, random: seededRandom(1) });
 * assert.deepEqual([...labels.slice(6)], [-1, -1]); // padding is never chosen
 * assert.equal(labels[0], -1); // nor [BOS]
 * for (let i = 0; i < 8; i++) if (labels[i] === -1) assert.equal(input[i], ids[i]);
 * ```
 */
export function maskTokens(ids: ArrayLike<number>, options: MaskTokensOptions): MaskedTokens {
  const { vocabSize, rate = 0.15, random } = options;
  const words = SPECIAL_TOKENS.length;
  if (!Number.isInteger(vocabSize) || vocabSize <= words) {
    throw new RangeError(`Cannot mask tokens: vocabSize must exceed ${words}, got ${vocabSize}`);
  }
  if (!(rate > 0 && rate <= 1)) {
    throw new RangeError(`Cannot mask tokens: rate must be in (0, 1], got ${rate}`);
  }
  const input = Float32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(-1);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    // Padding and the special tokens are never chosen.
    if (id < words || random() >= rate) continue;
    labels[i] = id;
    const draw = random();
    if (draw < 0.8) input[i] = MASK;
    else if (draw < 0.9) input[i] = words + Math.floor(random() * (vocabSize - words));
  }
  return { input, labels };
}

/**
 * The trainer's masking for a task's input: the vocabulary's size for a
 * masked language model, undefined for any other task.
 *
 * @example
 * ```ts
 * import { maskedTokensOf } from "./masking.ts";
 * import assert from "node:assert/strict";
 * assert.equal(maskedTokensOf({}), undefined);
 * ```
 */
export function maskedTokensOf(
  input: { sequence?: { kind: string; vocabulary: { tokens: string[] } } },
): { vocabSize: number } | undefined {
  return input.sequence?.kind === "masked-language-model"
    ? { vocabSize: input.sequence.vocabulary.tokens.length }
    : undefined;
}

/**
 * A masked language model's holdout: its rows masked once, by a seed, so that
 * every round is measured on the same masked input.
 *
 * @example
 * ```ts
 * import { maskDataset } from "./masking.ts";
 * import assert from "node:assert/strict";
 * const rows = { x: Float32Array.from([3, 9, 8, 4]), labels: Int32Array.from([-1, -1, -1, -1]), featureShape: [4], labelShape: [4], numClasses: 12 };
 * const masked = maskDataset(rows, { vocabSize: 12, rate: 1, seed: 1 });
 * assert.deepEqual([...masked.labels], [-1, 9, 8, -1]);
 * ```
 */
export function maskDataset(
  dataset: Dataset,
  options: { vocabSize: number; rate?: number; seed?: number },
): Dataset {
  const { input, labels } = maskTokens(dataset.x, {
    vocabSize: options.vocabSize,
    rate: options.rate,
    random: seededRandom(options.seed ?? 0),
  });
  // Its classes are the vocabulary's tokens, whatever the rows were labelled with before.
  return {
    ...dataset,
    x: input,
    labels,
    labelShape: [...dataset.featureShape],
    numClasses: options.vocabSize,
  };
}
