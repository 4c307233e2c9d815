import assert from "node:assert/strict";
import { maskTokens } from "./masking.ts";
import { MASK } from "./tokenizer.ts";
import { seededRandom } from "../random.ts";

Deno.test("masking chooses 15% of real tokens, 80/10/10, never padding or a special token", () => {
  const random = seededRandom(7);
  const vocabSize = 1000;
  // 50,000 rows' worth of tokens: words, [BOS]/[EOS] and padding mixed.
  const ids = Float32Array.from({ length: 400_000 }, (_, i) => {
    const r = i % 8;
    return r === 0 ? 3 : r === 6 ? 4 : r === 7 ? 0 : 5 + Math.floor(random() * (vocabSize - 5));
  });
  const { input, labels } = maskTokens(ids, { vocabSize, random: seededRandom(11) });
  let chosen = 0, masked = 0, replaced = 0, kept = 0, words = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id >= 5) words++;
    if (labels[i] === -1) {
      assert.equal(input[i], id, "an unchosen position keeps its token");
      continue;
    }
    assert.ok(id >= 5, `position ${i} (id ${id}) is padding or special, and was chosen`);
    assert.equal(labels[i], id, "the label is the original token");
    chosen++;
    if (input[i] === MASK) masked++;
    else if (input[i] === id) kept++;
    else {
      assert.ok(input[i]! >= 5 && input[i]! < vocabSize, "a replacement is a word");
      replaced++;
    }
  }
  // Binomial: 250,000 words at 0.15 has a std of 0.0007; 37,500 chosen at 0.8 of 0.002.
  assert.ok(Math.abs(chosen / words - 0.15) < 0.004, `chosen ${chosen / words}`);
  assert.ok(Math.abs(masked / chosen - 0.8) < 0.01, `[MASK] ${masked / chosen}`);
  assert.ok(Math.abs(replaced / chosen - 0.1) < 0.008, `random ${replaced / chosen}`);
  assert.ok(Math.abs(kept / chosen - 0.1) < 0.008, `kept ${kept / chosen}`);
});

Deno.test("masking refuses a vocabulary of special tokens only and a rate outside (0, 1]", () => {
  const random = seededRandom(1);
  assert.throws(() => maskTokens([5], { vocabSize: 5, random }), /vocabSize must exceed 5/);
  assert.throws(() => maskTokens([5], { vocabSize: 9, rate: 0, random }), /rate must be in/);
});
