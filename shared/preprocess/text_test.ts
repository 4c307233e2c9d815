import assert from "node:assert/strict";
import { encodeText, hashToken, tokenize } from "./text.ts";

Deno.test("tokenize() splits on runs of characters that are neither letters nor numbers", () => {
  assert.deepEqual(tokenize("Hello, world!"), ["hello", "world"]);
  assert.deepEqual(tokenize("  --a...b  c\t\nd--  "), ["a", "b", "c", "d"]);
  assert.deepEqual(tokenize("it's 3.14 and x2"), ["it", "s", "3", "14", "and", "x2"]);
  assert.deepEqual(tokenize("snake_case and kebab-case"), [
    "snake",
    "case",
    "and",
    "kebab",
    "case",
  ]);
  assert.deepEqual(tokenize("emoji 🎉 party"), ["emoji", "party"]);
  assert.deepEqual(tokenize(""), []);
  assert.deepEqual(tokenize(" ,.;!? "), []);
});

Deno.test("tokenize() is Unicode-aware", () => {
  assert.deepEqual(tokenize("Größe, ÉTÉ"), ["größe", "été"]);
  assert.deepEqual(tokenize("Привет, мир"), ["привет", "мир"]);
  assert.deepEqual(tokenize("東京タワー 2024年"), ["東京タワー", "2024年"]);
  assert.deepEqual(tokenize("٣ cats"), ["٣", "cats"]); // an Arabic-Indic digit is a number
  // Combining marks stay in their word: Devanagari vowel signs, decomposed accents.
  assert.deepEqual(tokenize("हिन्दी भाषा"), ["हिन्दी", "भाषा"]);
  assert.deepEqual(tokenize("cafe\u0301 noir"), ["café", "noir"]);
  // NFC first, so composed and decomposed forms give the same token.
  assert.deepEqual(tokenize("cafe\u0301"), tokenize("caf\u00e9"));
});

Deno.test("tokenize() lower-cases unless told not to", () => {
  assert.deepEqual(tokenize("MiXeD Case"), ["mixed", "case"]);
  assert.deepEqual(tokenize("MiXeD Case", { lowercase: true }), ["mixed", "case"]);
  assert.deepEqual(tokenize("MiXeD Case", { lowercase: false }), ["MiXeD", "Case"]);
});

Deno.test("hashToken() is FNV-1a 32 over UTF-8 bytes, mapped to [1, vocabSize)", () => {
  // FNV-1a of "a" by hand: offset basis 0x811c9dc5 XOR 0x61 = 0x811c9da4; times the prime
  // 0x01000193 = 0x811c9da4 * 0x193 + (0x811c9da4 << 24), modulo 2^32:
  // 0xcb_400c292c + 0xa4_000000 -> 0x400c292c + 0xa4000000 = 0xe40c292c (3826002220).
  assert.equal(hashToken("a", 2 ** 32), 1 + 3826002220 % (2 ** 32 - 1));
  assert.equal(hashToken("a", 1001), 1 + (3826002220 % 1000)); // 221
  assert.equal(hashToken("a", 1001), 221);
  // The empty string is the offset basis itself.
  assert.equal(hashToken("", 2 ** 32), 1 + 0x811c9dc5);
  // Over UTF-8 bytes, not UTF-16 code units: "é" is 0xc3 0xa9, FNV-1a 0x1e9de8c1.
  assert.equal(hashToken("é", 2 ** 32), 1 + 0x1e9de8c1);
});

Deno.test("hashToken() stays in [1, vocabSize) and is deterministic", () => {
  const tokens = ["", "a", "b", "the", "Ünïcødé", "東京", "🎉", "x".repeat(1000)];
  for (const vocabSize of [2, 3, 10, 1000, 1 << 24]) {
    for (const token of tokens) {
      const id = hashToken(token, vocabSize);
      assert.ok(Number.isInteger(id) && id >= 1 && id < vocabSize, `${token} -> ${id}`);
      assert.equal(hashToken(token, vocabSize), id);
    }
  }
  assert.equal(hashToken("anything", 2), 1);
  // Spread: 1000 tokens over 1000 ids hit many distinct ids.
  const ids = new Set(Array.from({ length: 1000 }, (_, i) => hashToken(`word${i}`, 1000)));
  assert.ok(ids.size > 550, `only ${ids.size} distinct ids`);
});

Deno.test("hashToken() rejects a vocabSize below 2 or not an integer", () => {
  for (const vocabSize of [0, 1, 2.5, -3, NaN]) {
    assert.throws(
      () => hashToken("a", vocabSize),
      (error: unknown) => error instanceof RangeError && error.message.includes(`"${vocabSize}"`),
    );
  }
});

Deno.test("encodeText() pads with 0 and cuts to maxLength", () => {
  const spec = { vocabSize: 500, maxLength: 4, lowercase: true };
  const h = (token: string) => hashToken(token, 500);
  const short = encodeText("The cat", spec);
  assert.ok(short instanceof Float32Array);
  assert.deepEqual([...short], [h("the"), h("cat"), 0, 0]);
  const long = encodeText("one two three four five six", spec);
  assert.deepEqual([...long], [h("one"), h("two"), h("three"), h("four")]);
  assert.deepEqual([...encodeText("", spec)], [0, 0, 0, 0]);
  assert.deepEqual([...encodeText("!!!", spec)], [0, 0, 0, 0]);
  assert.deepEqual([...encodeText("a b c d", spec)], [h("a"), h("b"), h("c"), h("d")]);
});

Deno.test("encodeText() honours lowercase and keeps ids exact in float32", () => {
  const upper = encodeText("Cat", { vocabSize: 1 << 24, maxLength: 1, lowercase: false });
  const lower = encodeText("Cat", { vocabSize: 1 << 24, maxLength: 1, lowercase: true });
  assert.equal(upper[0], hashToken("Cat", 1 << 24));
  assert.equal(lower[0], hashToken("cat", 1 << 24));
  assert.notEqual(upper[0], lower[0]);
});
