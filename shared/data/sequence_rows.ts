/**
 * Rows of a sequence task from a client's examples, tokenized with the
 * task's vocabulary:
 *
 * - `language-model`: `{"text": "..."}`; the text's words after `[BOS]` and
 *   before `[EOS]`, cut into windows of `maxLength`, each position labelled
 *   with the token that follows it (a window's last with the next window's
 *   first), so every token but the first is a label once.
 * - `masked-language-model`: `{"text": "..."}` (a `label` or `tags` are not
 *   used, so a classification task's file serves); the text's words (after
 *   `[BOS]`, before `[EOS]`) in windows of `maxLength`, with no label: the
 *   trainer masks them afresh each step (`shared/tokenizer/masking.ts`).
 * - `token-classification`: `{"tokens": ["The", "jury"], "tags": ["DET",
 *   "NOUN"]}`, a tag per token (`null` for a token without one; no `tags` for
 *   an unlabeled row), or `{"text": "..."}` for an unlabeled row; cut into
 *   windows of `maxLength`.
 * - `sequence-classification`: `{"text": "...", "label": "pos"}` (`label`
 *   optional); a text longer than `maxLength` gives a window per part, each
 *   with the text's label.
 *
 * Padding is id 0 with label -1. An untagged example none of whose words is
 * in the vocabulary is left out (a row of `[UNK]` teaches nothing: a
 * one-word line of a rare name, say); when every example is such, the data
 * is refused (text in another language, or for another task).
 * @module
 */
import type { Dataset } from "./dataset.ts";
import { type InputSpec, predictsTokens, type SequenceInput } from "../schemas/mod.ts";
import { BOS, EOS, PAD, Tokenizer } from "../tokenizer/tokenizer.ts";

/** One example of a sequence task, as a data file's line gives it. */
export interface SequenceExample {
  /** Raw text (split into words by the task's tokenizer). */
  text?: string;
  /** Words already split (token classification). */
  tokens?: string[];
  /** A tag per token, null for none (token classification). */
  tags?: (string | null)[];
  /** The row's class name or index (sequence classification). */
  label?: string | number | null;
}

/** An example that cannot become rows; the message says why. */
export class SequenceExampleError extends TypeError {
  /** Creates the error. */
  constructor(detail: string) {
    super(detail);
    this.name = "SequenceExampleError";
  }
}

function labelIndex(value: string | number, names: string[], what: string): number {
  const index = typeof value === "number"
    ? value
    : names.includes(value)
    ? names.indexOf(value)
    : /^\d+$/.test(value)
    ? Number(value)
    : -1;
  if (!Number.isInteger(index) || index < 0 || index >= names.length) {
    throw new SequenceExampleError(
      `${what} "${value}" is not one of the task's labels (${names.slice(0, 12).join(", ")}${
        names.length > 12 ? ", ..." : ""
      })`,
    );
  }
  return index;
}

/**
 * Turns examples into rows; errors are {@linkcode SequenceExampleError}s
 * with `example N:` in front (N counted from 1), or the caller's own words
 * through `where`.
 *
 * @example
 * ```ts
 * import { sequenceRows } from "./sequence_rows.ts";
 * import { buildVocabulary } from "../tokenizer/tokenizer.ts";
 * import assert from "node:assert/strict";
 * const vocabulary = await buildVocabulary(["the cat sat"], { minCount: 1 });
 * const input = {
 *   shape: [4],
 *   labels: [],
 *   sequence: { kind: "language-model" as const, maxLength: 4, vocabulary },
 * };
 * const rows = sequenceRows([{ text: "The cat sat" }], input);
 * assert.equal(rows.x.length, 4); // [BOS] the cat sat
 * assert.equal(rows.labels[0], rows.x[1]); // each position predicts the next token
 * assert.equal(rows.labels[3], 4); // and the last, [EOS]
 * ```
 */
export function sequenceRows(
  examples: Iterable<SequenceExample>,
  input: Pick<InputSpec, "labels" | "sequence">,
  where: (index: number) => string = (index) => `example ${index + 1}`,
): Dataset {
  const sequence = input.sequence;
  if (!sequence) throw new TypeError("Cannot make sequence rows: the task has no input.sequence");
  const tokenizer = new Tokenizer(sequence.vocabulary);
  const { maxLength } = sequence;
  const rows: { ids: number[]; labels: number[] }[] = [];
  let index = 0;
  let unknown: { index: number; message: string } | null = null;
  for (const example of examples) {
    try {
      rows.push(...exampleRows(example, tokenizer, sequence, input.labels));
    } catch (error) {
      if (error instanceof UnknownWordsError) unknown ??= { index, message: error.message };
      else if (error instanceof SequenceExampleError || error instanceof RangeError) {
        throw new SequenceExampleError(`${where(index)}: ${error.message}`);
      } else throw error;
    }
    index++;
  }
  if (rows.length === 0 && unknown) {
    throw new SequenceExampleError(
      `${where(unknown.index)}: ${unknown.message}, nor is any word of the other ${
        index - 1
      } examples: is this data for another task?`,
    );
  }
  if (rows.length === 0) throw new SequenceExampleError("Cannot make sequence rows: no example");
  const perRow = sequence.kind === "sequence-classification" ? 1 : maxLength;
  const x = new Float32Array(rows.length * maxLength).fill(PAD);
  const labels = new Int32Array(rows.length * perRow).fill(-1);
  rows.forEach((row, r) => {
    x.set(row.ids, r * maxLength);
    labels.set(row.labels, r * perRow);
  });
  return {
    x,
    labels,
    featureShape: [maxLength],
    ...(perRow > 1 ? { labelShape: [maxLength] } : {}),
    numClasses: predictsTokens(sequence.kind) ? tokenizer.size : input.labels.length,
  };
}

/** An example with no known word: left out, unless all are. */
class UnknownWordsError extends SequenceExampleError {}

/** `ids` of a text, or an {@linkcode UnknownWordsError} when none is known. */
function known(tokenizer: Tokenizer, text: string): number[] {
  try {
    return tokenizer.encodeKnown(text);
  } catch (error) {
    if (error instanceof RangeError) throw new UnknownWordsError(error.message);
    throw error;
  }
}

function exampleRows(
  example: SequenceExample,
  tokenizer: Tokenizer,
  sequence: SequenceInput,
  names: string[],
): { ids: number[]; labels: number[] }[] {
  if (!example || typeof example !== "object" || Array.isArray(example)) {
    throw new SequenceExampleError("expected an object");
  }
  const { text, tokens, tags, label } = example;
  const { kind, maxLength } = sequence;
  if (text !== undefined && typeof text !== "string") {
    throw new SequenceExampleError('"text" must be a string');
  }
  const tokensTaken = kind === "token-classification" || kind === "masked-language-model";
  if (!tokensTaken && (tokens !== undefined || tags !== undefined)) {
    throw new SequenceExampleError(`a ${kind} task takes "text", not "tokens" or "tags"`);
  }
  // A masked language model reads any text: a classified one's label is not used.
  if (
    kind !== "sequence-classification" && kind !== "masked-language-model" &&
    label !== undefined && label !== null
  ) {
    throw new SequenceExampleError(
      `a ${kind} task has no row label: ${
        kind === "token-classification" ? 'give "tags"' : "its tokens are its labels"
      }`,
    );
  }
  if (kind === "masked-language-model") {
    // Any text serves: tagged sentences too (their tags are not used).
    if ((text === undefined) === (tokens === undefined)) {
      throw new SequenceExampleError('expected "text" or "tokens"');
    }
    const words = tokens ? tokens.map((t) => tokenizer.idOf(String(t))) : known(tokenizer, text!);
    if (tokens && words.length > 0 && words.every((id) => id === 1)) {
      throw new UnknownWordsError(`none of its ${words.length} tokens is in the vocabulary`);
    }
    const stream = [BOS, ...words, EOS];
    const out = [];
    for (let start = 0; start < stream.length; start += maxLength) {
      const ids = stream.slice(start, start + maxLength);
      out.push({ ids, labels: ids.map(() => -1) });
    }
    return out;
  }
  if (kind === "language-model") {
    if (text === undefined) throw new SequenceExampleError('expected "text"');
    const stream = [BOS, ...known(tokenizer, text), EOS];
    const out = [];
    for (let start = 0; start + 1 < stream.length; start += maxLength) {
      const ids = stream.slice(start, start + maxLength);
      out.push({ ids, labels: stream.slice(start + 1, start + 1 + ids.length) });
    }
    return out;
  }
  if (kind === "sequence-classification") {
    if (text === undefined) throw new SequenceExampleError('expected "text"');
    const ids = known(tokenizer, text);
    const labelled = label === undefined || label === null || label === ""
      ? -1
      : labelIndex(label, names, "label");
    const out = [];
    for (let start = 0; start < ids.length; start += maxLength) {
      out.push({ ids: ids.slice(start, start + maxLength), labels: [labelled] });
    }
    return out;
  }
  // Token classification: words given, or split from the text.
  if ((text === undefined) === (tokens === undefined)) {
    throw new SequenceExampleError('expected "tokens" (with optional "tags") or "text"');
  }
  if (
    tokens !== undefined && (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string"))
  ) {
    throw new SequenceExampleError('"tokens" must be an array of strings');
  }
  if (tags !== undefined && (!Array.isArray(tags) || tags.length !== tokens?.length)) {
    throw new SequenceExampleError(
      `"tags" must be an array with a tag (or null) for each of the ${tokens?.length ?? 0} tokens`,
    );
  }
  const ids = tokens ? tokens.map((t) => tokenizer.idOf(t)) : known(tokenizer, text!);
  // Tagged tokens teach their tags even when unknown; untagged ones teach nothing then.
  if (tokens && !tags && ids.length > 0 && ids.every((id) => id === 1)) {
    throw new UnknownWordsError(`none of its ${ids.length} tokens is in the vocabulary`);
  }
  const labels = ids.map((_, i) => {
    const tag = tags?.[i];
    return tag === undefined || tag === null ? -1 : labelIndex(tag, names, "tag");
  });
  const out = [];
  for (let start = 0; start < ids.length; start += maxLength) {
    out.push({
      ids: ids.slice(start, start + maxLength),
      labels: labels.slice(start, start + maxLength),
    });
  }
  return out;
}
