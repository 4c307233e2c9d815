import assert from "node:assert/strict";
import { sequenceRows } from "./sequence_rows.ts";
import { parseDataFile } from "./data_file.ts";
import { BOS, buildVocabulary, EOS, PAD, UNK } from "../tokenizer/tokenizer.ts";
import { InputSpecSchema, type SequenceKind } from "../schemas/mod.ts";

const vocabulary = await buildVocabulary(["the jury said the city was fine"], { minCount: 1 });
const id = (word: string) => vocabulary.tokens.indexOf(word);

function input(kind: SequenceKind, maxLength: number, labels: string[] = []) {
  return InputSpecSchema.parse({
    shape: [maxLength],
    labels,
    sequence: { kind, maxLength, vocabulary },
  });
}

Deno.test("a language model's text becomes windows, each position labelled with the next token", () => {
  const rows = sequenceRows([{ text: "The jury said the city" }], input("language-model", 4));
  // [BOS] the jury said | the city [EOS] pad
  assert.deepEqual([...rows.x], [
    BOS,
    id("the"),
    id("jury"),
    id("said"),
    id("the"),
    id("city"),
    EOS,
    PAD,
  ]);
  assert.deepEqual([...rows.labels], [
    id("the"),
    id("jury"),
    id("said"),
    id("the"),
    id("city"),
    EOS,
    -1,
    -1,
  ]);
  assert.deepEqual(rows.labelShape, [4]);
  assert.equal(rows.numClasses, vocabulary.tokens.length);
});

Deno.test("token classification keeps a tag per token, -1 for none, and cuts long sentences", () => {
  const rows = sequenceRows(
    [
      { tokens: ["The", "jury", "said"], tags: ["DET", null, "VERB"] },
      { tokens: ["the", "city"] },
    ],
    input("token-classification", 2, ["DET", "NOUN", "VERB"]),
  );
  assert.deepEqual([...rows.x], [id("the"), id("jury"), id("said"), PAD, id("the"), id("city")]);
  assert.deepEqual([...rows.labels], [0, -1, 2, -1, -1, -1]);
});

Deno.test("sequence classification gives each window of a text the text's label", () => {
  const rows = sequenceRows(
    [{ text: "the city was fine", label: "pos" }, { text: "the jury" }],
    input("sequence-classification", 3, ["neg", "pos"]),
  );
  assert.deepEqual([...rows.labels], [1, 1, -1]);
  assert.equal(rows.labelShape, undefined);
  assert.deepEqual([...rows.x.subarray(3, 6)], [id("fine"), PAD, PAD]);
});

Deno.test("data with no known word, a wrong field or an unknown tag is refused naming the line", () => {
  assert.throws(
    () =>
      parseDataFile('{"text": "quagga"}\n{"text": "zebra quokka"}\n', {
        format: "jsonl",
        input: input("language-model", 4),
      }),
    /line 1: Cannot tokenize "quagga": none of its 1 words is in the vocabulary, nor is any word of the other 1 examples: is this data for another task\?/,
  );
  // One such line among known ones is left out; the rest are read.
  const kept = parseDataFile('{"text": "the jury"}\n{"text": "zebra quokka"}\n', {
    format: "jsonl",
    input: input("language-model", 4),
  });
  assert.equal(kept.x.length, 4);
  assert.throws(
    () =>
      parseDataFile('{"text": "the jury", "label": "x"}\n', {
        format: "jsonl",
        input: input("language-model", 4),
      }),
    /line 1: a language-model task has no row label: its tokens are its labels/,
  );
  assert.throws(
    () =>
      parseDataFile('\n{"tokens": ["the"], "tags": ["ADJ"]}\n', {
        format: "jsonl",
        input: input("token-classification", 4, ["DET", "NOUN"]),
      }),
    /line 2: tag "ADJ" is not one of the task's labels \(DET, NOUN\)/,
  );
  assert.throws(
    () =>
      parseDataFile('{"tokens": ["the", "jury"], "tags": ["DET"]}\n', {
        format: "jsonl",
        input: input("token-classification", 4, ["DET", "NOUN"]),
      }),
    /line 1: "tags" must be an array with a tag \(or null\) for each of the 2 tokens/,
  );
  assert.throws(
    () => parseDataFile("text\nthe jury\n", { format: "csv", input: input("language-model", 4) }),
    /a language-model task reads JSONL files/,
  );
  // Unknown words among known ones are [UNK], not an error.
  const rows = parseDataFile('{"text": "the zebra"}\n', {
    format: "jsonl",
    input: input("language-model", 4),
  });
  assert.equal(rows.x[2], UNK);
});

Deno.test("a sequence input must say its labels as its kind needs and fit its shape", () => {
  const parse = (patch: Record<string, unknown>) =>
    InputSpecSchema.safeParse({
      shape: [4],
      sequence: { kind: "token-classification", maxLength: 4, vocabulary },
      ...patch,
    });
  assert.match(parse({}).error!.message, /give at least 2 labels/);
  assert.ok(parse({ labels: ["a", "b"] }).success);
  assert.match(parse({ labels: ["a", "b"], shape: [5] }).error!.message, /\[maxLength\], \[4\]/);
  assert.match(
    parse({
      labels: ["a", "b"],
      sequence: {
        kind: "language-model",
        maxLength: 4,
        vocabulary: { ...vocabulary, tokens: ["a", ...vocabulary.tokens.slice(1)] },
      },
    }).error!.message,
    /ids 0-4 must be \[PAD\], \[UNK\], \[MASK\], \[BOS\], \[EOS\]/,
  );
});

Deno.test("masked-language-model reads a classified or tagged file's text, its labels unused", () => {
  const plain = sequenceRows(
    [{ text: "the jury said" }, { tokens: ["the", "city"] }],
    input(
      "masked-language-model",
      6,
    ),
  );
  const labeled = sequenceRows([
    { text: "the jury said", label: "spam" },
    { tokens: ["the", "city"], tags: ["DET", "NOUN"] },
  ], input("masked-language-model", 6));
  assert.deepEqual(labeled, plain);
  assert.ok([...labeled.labels].every((l) => l === -1));
});
