/**
 * The Brown corpus as sequence datasets: tagging (a universal tag at each
 * word) and language modelling (the next word at each position), one row a
 * window of `maxLength` positions, with a holdout of whole documents that no
 * client holds, and the training documents grouped by genre for clients.
 * @module
 */
import { seededRandom, shuffle } from "../random.ts";
import { BOS, EOS, PAD, type Tokenizer } from "../tokenizer/tokenizer.ts";
import type { BrownDocument } from "./brown.ts";
import { UNIVERSAL_TAGS } from "./brown.ts";
import type { Dataset } from "./dataset.ts";

/** What a row predicts: the tag of each word, or the next word. */
export type BrownSequenceKind = "tagging" | "language-model";

/** Options of {@linkcode brownSequences}. */
export interface BrownSequenceOptions {
  kind: BrownSequenceKind;
  /** Positions in a row. */
  maxLength: number;
}

/**
 * Rows of the documents' words as ids (0 padding). Tagging: a sentence a row
 * (a longer one cut into windows), its words' universal tags as labels.
 * Language model: each document's words after `[BOS]`, `[EOS]` after each
 * sentence, in windows of `maxLength`, each position labelled with the word
 * that follows it (a window's last with the next window's first), so every
 * word but the first is a label once. Positions with no label are -1.
 *
 * @example
 * ```ts
 * import { brownSequences } from "./brown_sequences.ts";
 * import type { BrownDocument } from "./brown.ts";
 * import { Tokenizer, vocabularyOfWords } from "../tokenizer/tokenizer.ts";
 * import assert from "node:assert/strict";
 * const doc: BrownDocument = {
 *   id: "ca01",
 *   genre: "news",
 *   sentences: [{ words: ["The", "jury", "said"], tags: ["DET", "NOUN", "VERB"] }],
 * };
 * const tokenizer = new Tokenizer(await vocabularyOfWords(["the", "jury", "said"], { minCount: 1 }));
 * const rows = brownSequences([doc], tokenizer, { kind: "tagging", maxLength: 4 });
 * assert.deepEqual([...rows.labels], [5, 0, 1, -1]); // DET, NOUN, VERB, padding
 * ```
 */
export function brownSequences(
  documents: readonly BrownDocument[],
  tokenizer: Tokenizer,
  options: BrownSequenceOptions,
): Dataset {
  const { kind, maxLength } = options;
  if (!Number.isInteger(maxLength) || maxLength < 2) {
    throw new RangeError(`Cannot make Brown sequences: maxLength must be an integer ≥ 2`);
  }
  const rows: { ids: number[]; labels: number[] }[] = [];
  if (kind === "tagging") {
    for (const document of documents) {
      for (const sentence of document.sentences) {
        for (let start = 0; start < sentence.words.length; start += maxLength) {
          const words = sentence.words.slice(start, start + maxLength);
          rows.push({
            ids: words.map((w) => tokenizer.idOf(w)),
            labels: sentence.tags.slice(start, start + maxLength).map((t) =>
              UNIVERSAL_TAGS.indexOf(t)
            ),
          });
        }
      }
    }
  } else {
    for (const document of documents) {
      const stream = [BOS];
      for (const sentence of document.sentences) {
        for (const word of sentence.words) stream.push(tokenizer.idOf(word));
        stream.push(EOS);
      }
      // Window k holds stream[k T .. + T), each position labelled with the word after it
      // (the last with the next window's first), so every next word is a label once.
      for (let start = 0; start + 1 < stream.length; start += maxLength) {
        const ids = stream.slice(start, start + maxLength);
        rows.push({ ids, labels: stream.slice(start + 1, start + maxLength + 1) });
      }
    }
  }
  const x = new Float32Array(rows.length * maxLength).fill(PAD);
  const labels = new Int32Array(rows.length * maxLength).fill(-1);
  rows.forEach((row, r) => {
    x.set(row.ids, r * maxLength);
    labels.set(row.labels.slice(0, row.ids.length), r * maxLength);
  });
  return {
    x,
    labels,
    featureShape: [maxLength],
    labelShape: [maxLength],
    numClasses: kind === "tagging" ? UNIVERSAL_TAGS.length : tokenizer.size,
  };
}

/** Options of {@linkcode splitBrown}. */
export interface SplitBrownOptions {
  /** Documents held out, whole. @default 50 */
  holdoutDocuments?: number;
  /** Seed of the draw. @default 0 */
  seed?: number;
}

/**
 * The documents split into training and a holdout of exactly
 * `holdoutDocuments` whole documents, drawn across genres in proportion (by
 * largest remainder; each genre gives at least one when there are enough to
 * go round, and keeps at least one).
 *
 * @example
 * ```ts
 * import { splitBrown } from "./brown_sequences.ts";
 * import assert from "node:assert/strict";
 * const docs = ["a", "a", "a", "b", "b", "b"].map((genre, i) => ({ id: `c${i}`, genre, sentences: [] }));
 * const { train, holdout } = splitBrown(docs, { holdoutDocuments: 2 });
 * assert.deepEqual(holdout.map((d) => d.genre).sort(), ["a", "b"]);
 * assert.equal(train.length, 4);
 * ```
 */
export function splitBrown(
  documents: readonly BrownDocument[],
  options: SplitBrownOptions = {},
): { train: BrownDocument[]; holdout: BrownDocument[] } {
  const { holdoutDocuments = 50, seed = 0 } = options;
  if (!Number.isInteger(holdoutDocuments) || holdoutDocuments < 1) {
    throw new RangeError("Cannot split the Brown corpus: holdoutDocuments must be an integer ≥ 1");
  }
  const random = seededRandom(seed);
  const byGenre = [...brownGenres(documents).values()];
  if (holdoutDocuments > documents.length - byGenre.length) {
    throw new RangeError(
      `Cannot split the Brown corpus: holding out ${holdoutDocuments} of ${documents.length} documents leaves a genre none`,
    );
  }
  // Shares by largest remainder, each genre at least one when there are enough to go round,
  // none a whole genre: exactly holdoutDocuments in all.
  const exact = byGenre.map((docs) => (holdoutDocuments * docs.length) / documents.length);
  const shares = exact.map((x) => Math.floor(x));
  const floor = holdoutDocuments >= byGenre.length ? 1 : 0;
  shares.forEach((n, g) => (shares[g] = Math.min(Math.max(n, floor), byGenre[g]!.length - 1)));
  const byRemainder = exact.map((x, g) => ({ g, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r);
  for (let total = shares.reduce((a, b) => a + b, 0); total !== holdoutDocuments;) {
    const step = total < holdoutDocuments ? 1 : -1;
    const fits = (g: number) => step > 0 ? shares[g]! < byGenre[g]!.length - 1 : shares[g]! > floor;
    const pick = (step > 0 ? byRemainder : [...byRemainder].reverse()).find(({ g }) => fits(g));
    if (!pick) break;
    shares[pick.g]! += step;
    total += step;
  }
  const held = new Set<string>();
  byGenre.forEach((docs, g) => {
    for (const d of shuffle([...docs], random).slice(0, shares[g])) held.add(d.id);
  });
  return {
    train: documents.filter((d) => !held.has(d.id)),
    holdout: documents.filter((d) => held.has(d.id)),
  };
}

/**
 * The documents by genre, genres in first-seen order: the natural non-IID
 * partition of clients.
 *
 * @example
 * ```ts
 * import { brownGenres } from "./brown_sequences.ts";
 * import assert from "node:assert/strict";
 * const docs = ["a", "b", "a"].map((genre, i) => ({ id: `c${i}`, genre, sentences: [] }));
 * assert.deepEqual([...brownGenres(docs).keys()], ["a", "b"]);
 * ```
 */
export function brownGenres(documents: readonly BrownDocument[]): Map<string, BrownDocument[]> {
  const byGenre = new Map<string, BrownDocument[]>();
  for (const d of documents) {
    const list = byGenre.get(d.genre) ?? [];
    list.push(d);
    byGenre.set(d.genre, list);
  }
  return byGenre;
}
