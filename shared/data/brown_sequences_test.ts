// The Brown corpus as sequence rows: tagging rows align a tag with each word
// and pad the rest; language-model rows label each position with the next
// word (a window's last with the next window's first), every word a label once;
// the holdout is whole documents of every genre that training never sees.
import assert from "node:assert/strict";
import { countRows } from "./dataset.ts";
import { loadBrown, UNIVERSAL_TAGS } from "./brown.ts";
import { brownGenres, brownSequences, splitBrown } from "./brown_sequences.ts";
import { BOS, EOS, PAD, Tokenizer, UNK, vocabularyOfWords } from "../tokenizer/tokenizer.ts";

const documents = await loadBrown();
const { train, holdout } = splitBrown(documents, { holdoutDocuments: 50, seed: 1 });
const tokenizer = new Tokenizer(
  await vocabularyOfWords(
    train.flatMap((d) => d.sentences.flatMap((s) => s.words)),
    { minCount: 3 },
  ),
);

Deno.test("the holdout is whole documents of every genre, none of them in training", () => {
  assert.equal(train.length + holdout.length, 500);
  assert.equal(holdout.length, 50);
  for (const n of [10, 15, 77]) {
    for (const seed of [0, 1, 2]) {
      assert.equal(splitBrown(documents, { holdoutDocuments: n, seed }).holdout.length, n);
    }
  }
  assert.throws(() => splitBrown(documents, { holdoutDocuments: 490 }), /leaves a genre none/);
  const trainIds = new Set(train.map((d) => d.id));
  assert.ok(holdout.every((d) => !trainIds.has(d.id)));
  assert.deepEqual(
    [...brownGenres(holdout).keys()].sort(),
    [...brownGenres(documents).keys()].sort(),
  );
  // The same seed, the same split.
  assert.deepEqual(splitBrown(documents, { holdoutDocuments: 50, seed: 1 }).holdout, holdout);
});

Deno.test("tagging rows: one tag a word, padding unlabeled, long sentences cut", () => {
  const data = brownSequences(holdout, tokenizer, { kind: "tagging", maxLength: 16 });
  assert.equal(data.numClasses, UNIVERSAL_TAGS.length);
  const rows = data.labels.length / 16;
  assert.deepEqual(countRows(data), { numLabeled: rows, numUnlabeled: 0 });
  const sentences = holdout.flatMap((d) => d.sentences);
  assert.equal(rows, sentences.reduce((n, s) => n + Math.ceil(s.words.length / 16), 0));
  const first = sentences[0]!;
  for (let p = 0; p < Math.min(16, first.words.length); p++) {
    assert.equal(data.x[p], tokenizer.idOf(first.words[p]!));
    assert.equal(data.labels[p], UNIVERSAL_TAGS.indexOf(first.tags[p]!));
  }
  // Wherever the id is padding, there is no label; wherever there is a word, there is one.
  data.x.forEach((id, i) => assert.equal(id === PAD, data.labels[i] === -1, `position ${i}`));
  // Words seen fewer than 3 times in training are [UNK] (in the holdout, some are).
  assert.ok(data.x.some((id) => id === UNK));
});

Deno.test("language-model rows: each position labelled with the next word, every word a label once", () => {
  const T = 12;
  const [document] = holdout;
  const data = brownSequences([document!], tokenizer, { kind: "language-model", maxLength: T });
  const stream = [BOS];
  for (const s of document!.sentences) stream.push(...s.words.map((w) => tokenizer.idOf(w)), EOS);
  const rows = data.labels.length / T;
  assert.equal(rows, Math.ceil((stream.length - 1) / T));
  for (let r = 0; r < rows; r++) {
    for (let p = 0; p < T; p++) {
      const at = r * T + p;
      assert.equal(data.x[r * T + p], at < stream.length ? stream[at] : PAD, `row ${r} id ${p}`);
      assert.equal(data.labels[r * T + p], at + 1 < stream.length ? stream[at + 1] : -1);
    }
  }
  assert.equal(data.numClasses, tokenizer.size);
  // Every next word is a label exactly once: the stream less its first token.
  const labels = [...data.labels].filter((l) => l >= 0);
  assert.equal(labels.length, stream.length - 1);
});
