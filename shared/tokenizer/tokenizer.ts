/**
 * A word-level tokenizer that travels with its task: a vocabulary built from
 * the task's text (words at least `minCount` times, most frequent first, ties
 * by the word), served with the task and versioned by the SHA-256 of its
 * contents, so every client applies the same one and a client holding
 * another is refused with the reason.
 *
 * Word-level rather than byte-pair: the tagging tasks label words (the Brown
 * corpus tags each word), and one token a word keeps a label a position with
 * no alignment step; the frequency cut keeps the vocabulary small, and the
 * rest become `[UNK]`.
 *
 * Words: the text lower-cased (unless the vocabulary keeps case) and split
 * into runs of letters, digits and apostrophes, and single other
 * non-space characters (punctuation is a token of its own).
 * @module
 */
import { toHex } from "../hex.ts";

/** The special tokens, at ids 0 to 4 of every vocabulary. */
export const SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[MASK]", "[BOS]", "[EOS]"] as const;

/** The ids of the special tokens. */
export const PAD = 0, UNK = 1, MASK = 2, BOS = 3, EOS = 4;

/** A vocabulary as a task serves it. */
export interface Vocabulary {
  /** How text becomes words: `word` is the only kind. */
  kind: "word";
  /** Whether text is lower-cased before it is split. */
  lowercase: boolean;
  /** Every token by id: the special tokens, then the words. */
  tokens: string[];
  /** SHA-256 (hex) of kind, lowercase and tokens: the vocabulary's version. */
  hash: string;
}

/** Options of {@linkcode buildVocabulary}. */
export interface BuildVocabularyOptions {
  /** A word enters the vocabulary when it occurs at least this often. @default 2 */
  minCount?: number;
  /** At most this many tokens, the special ones included. @default 30000 */
  maxSize?: number;
  /** Lower-case text before splitting it. @default true */
  lowercase?: boolean;
}

const WORD = /[\p{L}\p{N}']+|[^\s\p{L}\p{N}']/gu;

/**
 * The words of `text`, as the tokenizer splits it.
 *
 * @example
 * ```ts
 * import { words } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(words("The jury's report, 1961.", true), ["the", "jury's", "report", ",", "1961", "."]);
 * ```
 */
export function words(text: string, lowercase: boolean): string[] {
  return (lowercase ? text.toLowerCase() : text).match(WORD) ?? [];
}

/** SHA-256 (hex) of a vocabulary's contents: kind, lowercase and its tokens in order. */
export async function vocabularyHash(vocabulary: Omit<Vocabulary, "hash">): Promise<string> {
  const text = JSON.stringify([vocabulary.kind, vocabulary.lowercase, vocabulary.tokens]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toHex(new Uint8Array(digest));
}

/**
 * A vocabulary from texts: the special tokens, then the words that occur at
 * least `minCount` times, most frequent first (ties in JavaScript's string order, by UTF-16 code units).
 *
 * @example
 * ```ts
 * import { buildVocabulary } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 * const vocabulary = await buildVocabulary(["a cat", "a dog", "a cat"], { minCount: 2 });
 * assert.deepEqual(vocabulary.tokens.slice(5), ["a", "cat"]);
 * ```
 */
export async function buildVocabulary(
  texts: Iterable<string>,
  options: BuildVocabularyOptions = {},
): Promise<Vocabulary> {
  const lowercase = options.lowercase ?? true;
  function* all(): Generator<string> {
    for (const text of texts) yield* words(text, lowercase);
  }
  return await vocabularyOfWords(all(), options);
}

/**
 * A vocabulary from words already split (a tagged corpus's, one label a
 * word), counted as they are (lower-cased unless `lowercase` is false).
 *
 * @example
 * ```ts
 * import { vocabularyOfWords } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 * const vocabulary = await vocabularyOfWords(["term-end", "Term-end", "jury"], { minCount: 2 });
 * assert.deepEqual(vocabulary.tokens.slice(5), ["term-end"]);
 * ```
 */
export async function vocabularyOfWords(
  list: Iterable<string>,
  options: BuildVocabularyOptions = {},
): Promise<Vocabulary> {
  const { minCount = 2, maxSize = 30000, lowercase = true } = options;
  if (!Number.isInteger(minCount) || minCount < 1) {
    throw new RangeError(
      `Cannot build a vocabulary: minCount must be an integer ≥ 1, got ${minCount}`,
    );
  }
  if (!Number.isInteger(maxSize) || maxSize <= SPECIAL_TOKENS.length) {
    throw new RangeError(
      `Cannot build a vocabulary: maxSize must be an integer > ${SPECIAL_TOKENS.length}, got ${maxSize}`,
    );
  }
  const counts = new Map<string, number>();
  for (const item of list) {
    const word = lowercase ? item.toLowerCase() : item;
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const kept = [...counts].filter(([word, n]) => n >= minCount && !isSpecial(word))
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, maxSize - SPECIAL_TOKENS.length)
    .map(([word]) => word);
  const vocabulary = { kind: "word" as const, lowercase, tokens: [...SPECIAL_TOKENS, ...kept] };
  return { ...vocabulary, hash: await vocabularyHash(vocabulary) };
}

function isSpecial(word: string): boolean {
  return (SPECIAL_TOKENS as readonly string[]).includes(word);
}

/**
 * Checks a vocabulary as a client receives it: its special tokens in place,
 * no token twice, and its hash that of its contents, and (when given) the
 * hash the client expects. Throws a RangeError that says which.
 */
export async function checkVocabulary(
  vocabulary: Vocabulary,
  expectedHash?: string,
): Promise<void> {
  if (vocabulary.kind !== "word") {
    throw new RangeError(`Cannot use the vocabulary: kind "${vocabulary.kind}" is not word`);
  }
  if (SPECIAL_TOKENS.some((token, i) => vocabulary.tokens[i] !== token)) {
    throw new RangeError(`Cannot use the vocabulary: ids 0-4 must be ${SPECIAL_TOKENS.join(", ")}`);
  }
  if (new Set(vocabulary.tokens).size !== vocabulary.tokens.length) {
    throw new RangeError("Cannot use the vocabulary: a token appears twice");
  }
  const actual = await vocabularyHash(vocabulary);
  if (actual !== vocabulary.hash) {
    throw new RangeError(
      `Cannot use the vocabulary: its contents hash to ${actual}, not the ${vocabulary.hash} it carries`,
    );
  }
  if (expectedHash !== undefined && expectedHash !== vocabulary.hash) {
    throw new RangeError(
      `Cannot use the vocabulary: the task's is version ${vocabulary.hash}, this client holds ${expectedHash}`,
    );
  }
}

/** One window of a tokenized text: ids padded to the length, and which positions are real. */
export interface TokenWindow {
  ids: Int32Array;
  /** 1 at a real position, 0 at padding. */
  mask: Uint8Array;
}

/** Options of {@linkcode Tokenizer.windows}. */
export interface WindowOptions {
  /** Positions in a window. */
  maxLength: number;
  /** Start each window with `[BOS]`. @default false */
  bos?: boolean;
  /** End the text's last window with `[EOS]`. @default false */
  eos?: boolean;
}

/**
 * Text to ids and back over one vocabulary.
 *
 * @example
 * ```ts
 * import { buildVocabulary, Tokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 * const tokenizer = new Tokenizer(await buildVocabulary(["the cat sat", "the cat ran"], { minCount: 1 }));
 * assert.equal(tokenizer.decode(tokenizer.encode("The cat sat")), "the cat sat");
 * ```
 */
export class Tokenizer {
  readonly vocabulary: Vocabulary;
  readonly #ids: Map<string, number>;

  /** A tokenizer over `vocabulary` (check one received with {@linkcode checkVocabulary}). */
  constructor(vocabulary: Vocabulary) {
    this.vocabulary = vocabulary;
    this.#ids = new Map(vocabulary.tokens.map((token, id) => [token, id]));
  }

  /** Tokens in the vocabulary. */
  get size(): number {
    return this.vocabulary.tokens.length;
  }

  /** The id of one word as it is (lower-cased if the vocabulary is), `[UNK]` if unknown. */
  idOf(word: string): number {
    return this.#ids.get(this.vocabulary.lowercase ? word.toLowerCase() : word) ?? UNK;
  }

  /** The ids of `text`'s words, `[UNK]` for a word not in the vocabulary. */
  encode(text: string): number[] {
    return words(text, this.vocabulary.lowercase).map((word) => this.#ids.get(word) ?? UNK);
  }

  /**
   * The ids of `text`, refusing a text none of whose words is known (a text
   * in another language, or of another task): a row of `[UNK]` teaches
   * nothing.
   */
  encodeKnown(text: string): number[] {
    const ids = this.encode(text);
    if (ids.length > 0 && ids.every((id) => id === UNK)) {
      throw new RangeError(
        `Cannot tokenize "${
          text.slice(0, 60)
        }": none of its ${ids.length} words is in the vocabulary`,
      );
    }
    return ids;
  }

  /** The tokens of `ids` joined by spaces, padding left out. */
  decode(ids: Iterable<number>): string {
    const out: string[] = [];
    for (const id of ids) {
      if (id === PAD) continue;
      const token = this.vocabulary.tokens[id];
      if (token === undefined) {
        throw new RangeError(`Cannot decode: id ${id} is not in the vocabulary`);
      }
      out.push(token);
    }
    return out.join(" ");
  }

  /**
   * `ids` cut into windows of `maxLength` (the last padded with `[PAD]`, its
   * mask 0 there), with `[BOS]` and `[EOS]` where asked.
   */
  windows(ids: readonly number[], options: WindowOptions): TokenWindow[] {
    const { maxLength, bos = false, eos = false } = options;
    const room = maxLength - (bos ? 1 : 0);
    if (!Number.isInteger(maxLength) || room < 1) {
      throw new RangeError(`Cannot cut windows: maxLength ${maxLength} leaves no room for a token`);
    }
    const all = eos ? [...ids, EOS] : [...ids];
    const out: TokenWindow[] = [];
    for (let start = 0; start < all.length; start += room) {
      const part = [...(bos ? [BOS] : []), ...all.slice(start, start + room)];
      const window = new Int32Array(maxLength);
      const mask = new Uint8Array(maxLength);
      window.set(part);
      mask.fill(1, 0, part.length);
      out.push({ ids: window, mask });
    }
    return out;
  }
}
