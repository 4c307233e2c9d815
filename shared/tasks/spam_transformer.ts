/**
 * The built-in task `spam-transformer`: spam or ham from the first words of
 * an e-mail (its subject, then its body), with a transformer encoder over a
 * word vocabulary built from the training e-mails: the sequence task of the
 * SpamAssassin corpus, which a federated masked-token pretraining on the
 * e-mails' text (without their labels) can start.
 * @module
 */
import { loadSpamAssassin } from "../data/spam.ts";
import { splitHoldout } from "../data/partition.ts";
import { type Dataset, selectRows } from "../data/dataset.ts";
import type { TaskConfig, TransformerConfig } from "../schemas/mod.ts";
import { Tokenizer, vocabularyOfWords, words } from "../tokenizer/tokenizer.ts";
import { builtinTaskConfig, type TaskOverrides } from "./_task.ts";
import { sequenceTopology, SMALL_TRANSFORMER } from "./sequence_model.ts";

/** Options of {@linkcode spamTransformerTask}. */
export interface SpamTransformerOptions extends TaskOverrides {
  /** Words of an e-mail read (its first ones). @default 64 */
  maxLength?: number;
  /** Most tokens in the vocabulary. @default 8000 */
  vocabularySize?: number;
  /** A word enters the vocabulary when it occurs this often in training e-mails. @default 2 */
  minCount?: number;
  /** The transformer's settings. @default 2 blocks, dModel 64, 4 heads, MLP 128, dropout 0.1 */
  transformer?: Partial<TransformerConfig>;
  /** Fraction of the e-mails held out. @default 0.2 (the split of `spam-text`) */
  holdoutFraction?: number;
  /** Seed of the holdout draw. @default 0 */
  seed?: number;
}

/** The task, its rows (an e-mail a row) and its tokenizer. */
export interface SpamTransformerTask {
  config: TaskConfig;
  /** Training e-mails, every label kept. */
  train: Dataset;
  /** Held-out e-mails. */
  holdout: Dataset;
  tokenizer: Tokenizer;
}

/**
 * Loads the corpus, splits it as `spam-text` does (the same held-out
 * e-mails), builds the vocabulary from the training e-mails only (lowercased
 * words, `[UNK]` for the rest) and makes a row of each e-mail's first
 * `maxLength` words, labelled 0 (ham) or 1 (spam), as a
 * `sequence-classification` client's JSONL line `{"text", "label"}` gives its
 * first window.
 *
 * @example
 * ```ts ignore
 * import { spamTransformerTask } from "./spam_transformer.ts";
 * const { config, train, holdout } = await spamTransformerTask();
 * ```
 */
export async function spamTransformerTask(
  options: SpamTransformerOptions = {},
): Promise<SpamTransformerTask> {
  const maxLength = options.maxLength ?? 64;
  const { texts, labels } = await loadSpamAssassin();
  const split = splitHoldout(labels.length, {
    holdoutFraction: options.holdoutFraction ?? 0.2,
    seed: options.seed ?? 0,
  });
  const vocabulary = await vocabularyOfWords(
    (function* () {
      for (const i of split.train) yield* words(texts[i]!, true);
    })(),
    { minCount: options.minCount ?? 2, maxSize: options.vocabularySize ?? 8000, lowercase: true },
  );
  const tokenizer = new Tokenizer(vocabulary);
  const x = new Float32Array(texts.length * maxLength);
  texts.forEach((text, i) => x.set(tokenizer.encode(text).slice(0, maxLength), i * maxLength));
  const all: Dataset = { x, labels, featureShape: [maxLength], numClasses: 2 };
  const input = {
    shape: [maxLength],
    labels: ["ham", "spam"],
    sequence: { kind: "sequence-classification" as const, maxLength, vocabulary },
  };
  const topology = await sequenceTopology(input, {
    ...SMALL_TRANSFORMER,
    ...options.transformer,
  });
  const config = builtinTaskConfig(
    { id: "spam-transformer", topology, input, learningRate: 0.002 },
    {
      ...options,
      training: {
        labeledBatchSize: 16,
        unlabeledBatchSize: 16,
        localSteps: 20,
        ...options.training,
      },
    },
  );
  return {
    config,
    train: selectRows(all, split.train),
    holdout: selectRows(all, split.holdout),
    tokenizer,
  };
}
