import assert from "node:assert/strict";
import { loadSpamAssassin, loadSpamSplit } from "../data/spam.ts";
import { TaskFileSchema } from "../schemas/mod.ts";
import { UNK } from "../tokenizer/tokenizer.ts";
import { spamTransformerTask } from "./spam_transformer.ts";

Deno.test("spam-transformer: the e-mails' first words over a vocabulary of the training e-mails, spam-text's split", async () => {
  const { config, train, holdout, tokenizer } = await spamTransformerTask({ maxLength: 16 });
  assert.equal(config.id, "spam-transformer");
  assert.equal(config.input.sequence?.kind, "sequence-classification");
  assert.deepEqual(config.input.labels, ["ham", "spam"]);
  assert.deepEqual(train.featureShape, [16]);
  // The same held-out e-mails as spam-text (the same split), every label kept.
  const spamText = await loadSpamSplit({ text: { vocabSize: 64, maxLength: 4, lowercase: true } });
  assert.equal(holdout.labels.length, spamText.holdout.labels.length);
  assert.deepEqual([...holdout.labels], [...spamText.holdout.labels]);
  assert.ok(train.labels.every((l) => l === 0 || l === 1));
  // Row i is the first words of an e-mail, tokenized with the task's vocabulary.
  const { texts, labels } = await loadSpamAssassin();
  const first = [...train.x.subarray(0, 16)];
  const match = texts.findIndex((text, i) =>
    labels[i] === train.labels[0] &&
    tokenizer.encode(text).slice(0, 16).every((id, k) => id === first[k])
  );
  assert.ok(match >= 0, "the first row is an e-mail's first 16 words");
  // The vocabulary comes from the training e-mails only: some held-out words are unknown.
  assert.ok(holdout.x.some((id) => id === UNK));
  assert.ok(tokenizer.size <= 8000);
  // A task file may name it.
  assert.ok(TaskFileSchema.safeParse({ id: "s", model: { builtin: "spam-transformer" } }).success);
});
