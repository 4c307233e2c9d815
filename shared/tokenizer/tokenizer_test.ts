// The tokenizer: a round trip, unknown words, refusing a text with no known
// word, windows with padding masks, a vocabulary's hash as its version, and a
// client holding another version (or a tampered vocabulary) refused with the
// reason.
import assert from "node:assert/strict";
import {
  BOS,
  buildVocabulary,
  checkVocabulary,
  EOS,
  PAD,
  SPECIAL_TOKENS,
  Tokenizer,
  UNK,
} from "./tokenizer.ts";

const TEXTS = [
  "The Fulton County Grand Jury said Friday an investigation of recent primary elections produced no evidence.",
  "The jury further said in term-end presentments that the City Executive Committee deserves praise.",
  "The jury said it did find that many of Georgia's registration and election laws are outmoded.",
];

Deno.test("a vocabulary keeps the special tokens first, then words by frequency above the cut", async () => {
  const vocabulary = await buildVocabulary(TEXTS, { minCount: 2 });
  assert.deepEqual(vocabulary.tokens.slice(0, 5), [...SPECIAL_TOKENS]);
  // "the" 4 times, "jury" and "said" 3, "." 3, ...: most frequent first, ties in string order.
  assert.deepEqual(vocabulary.tokens.slice(5, 9), ["the", ".", "jury", "said"]);
  assert.ok(!vocabulary.tokens.includes("fulton"), "a word seen once is cut");
  assert.match(vocabulary.hash, /^[0-9a-f]{64}$/);
  const capped = await buildVocabulary(TEXTS, { minCount: 1, maxSize: 7 });
  assert.deepEqual(capped.tokens, [...SPECIAL_TOKENS, "the", "."]);
  await assert.rejects(
    () => buildVocabulary(TEXTS, { minCount: 0 }),
    /minCount must be an integer ≥ 1/,
  );
});

Deno.test("text round-trips through ids; unknown words become [UNK]; a text with no known word is refused", async () => {
  const tokenizer = new Tokenizer(await buildVocabulary(TEXTS, { minCount: 1 }));
  const text = "The jury said Friday that Georgia's election laws are outmoded.";
  const ids = tokenizer.encode(text);
  assert.ok(ids.every((id) => id > EOS));
  assert.equal(
    tokenizer.decode(ids),
    "the jury said friday that georgia's election laws are outmoded .",
  );
  assert.deepEqual(tokenizer.encode("the zebra"), [tokenizer.encode("the")[0], UNK]);
  assert.deepEqual(tokenizer.encodeKnown("the zebra").length, 2);
  assert.throws(
    () => tokenizer.encodeKnown("Quetzalcoatl zebra xylophone"),
    /Cannot tokenize "Quetzalcoatl zebra xylophone": none of its 3 words is in the vocabulary/,
  );
  assert.throws(() => tokenizer.decode([tokenizer.size]), /id \d+ is not in the vocabulary/);
});

Deno.test("windows: long text split, the last window padded with its mask, [BOS] and [EOS] where asked", async () => {
  const tokenizer = new Tokenizer(await buildVocabulary(TEXTS, { minCount: 1 }));
  const ids = tokenizer.encode(TEXTS[0]!); // 16 words and the full stop
  assert.equal(ids.length, 17);
  const windows = tokenizer.windows(ids, { maxLength: 8, bos: true, eos: true });
  // 17 ids and EOS, 7 a window after BOS: 3 windows.
  assert.equal(windows.length, 3);
  for (const w of windows) assert.equal(w.ids[0], BOS);
  assert.deepEqual([...windows[0]!.ids.slice(1)], ids.slice(0, 7));
  const last = windows[2]!;
  assert.deepEqual([...last.ids], [BOS, ...ids.slice(14), EOS, PAD, PAD, PAD]);
  assert.deepEqual([...last.mask], [1, 1, 1, 1, 1, 0, 0, 0]);
  assert.throws(() => tokenizer.windows(ids, { maxLength: 1, bos: true }), /leaves no room/);
});

Deno.test("a vocabulary's hash is its version: a client holding another, or a tampered one, is refused", async () => {
  const vocabulary = await buildVocabulary(TEXTS, { minCount: 1 });
  await checkVocabulary(vocabulary, vocabulary.hash);
  const other = await buildVocabulary(TEXTS, { minCount: 2 });
  assert.notEqual(other.hash, vocabulary.hash);
  await assert.rejects(
    () => checkVocabulary(vocabulary, other.hash),
    new RegExp(`the task's is version ${vocabulary.hash}, this client holds ${other.hash}`),
  );
  const tampered = { ...vocabulary, tokens: [...vocabulary.tokens.slice(0, -1), "zebra"] };
  await assert.rejects(
    () => checkVocabulary(tampered),
    /its contents hash to [0-9a-f]{64}, not the/,
  );
  const moved = { ...vocabulary, tokens: ["[UNK]", "[PAD]", ...vocabulary.tokens.slice(2)] };
  await assert.rejects(() => checkVocabulary(moved), /ids 0-4 must be \[PAD\], \[UNK\]/);
  // The same texts and settings give the same version, on any machine.
  assert.equal((await buildVocabulary(TEXTS, { minCount: 1 })).hash, vocabulary.hash);
});
