/**
 * Text to rows: words hashed to token ids ({@linkcode encodeText}), as a
 * task's {@linkcode TextInput} asks. Pure functions.
 * @module
 */
import type { TextInput } from "../schemas/mod.ts";

/** Options of {@linkcode tokenize}. */
export interface TokenizeOptions {
  /** Whether the text is lower-cased first. @default true */
  lowercase?: boolean;
}

// A token starts with a letter or a number and goes on over letters, numbers
// and combining marks (so "naïve" in decomposed form or Devanagari words with
// vowel signs stay whole).
const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu;

/**
 * Splits text into words: the runs of Unicode letters and numbers (with the
 * combining marks that follow them), everything else separating them. The text
 * is normalized to NFC first, then lower-cased unless `lowercase` is false.
 *
 * @example
 * ```ts
 * import { tokenize } from "./text.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(tokenize("Hello, wörld! 42x"), ["hello", "wörld", "42x"]);
 * assert.deepEqual(tokenize("Hello", { lowercase: false }), ["Hello"]);
 * ```
 */
export function tokenize(text: string, options: TokenizeOptions = {}): string[] {
  let normal = text.normalize("NFC");
  if (options.lowercase ?? true) normal = normal.toLowerCase();
  return normal.match(TOKEN) ?? [];
}

const encoder = new TextEncoder();

/**
 * Hashes a token to an id in `[1, vocabSize)`: the 32-bit FNV-1a hash of its
 * UTF-8 bytes, `1 + hash % (vocabSize - 1)`. Id 0 is left for padding.
 *
 * @example
 * ```ts
 * import { hashToken } from "./text.ts";
 * import assert from "node:assert/strict";
 * // FNV-1a of "a" is 0xe40c292c.
 * assert.equal(hashToken("a", 1001), 1 + (0xe40c292c % 1000));
 * ```
 */
export function hashToken(token: string, vocabSize: number): number {
  if (!Number.isInteger(vocabSize) || vocabSize < 2 || vocabSize > 2 ** 32) {
    throw new RangeError(
      `Cannot hash token: vocabSize "${vocabSize}" is not an integer in [2, 2^32]`,
    );
  }
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(token)) {
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  return 1 + ((hash >>> 0) % (vocabSize - 1));
}

/**
 * Encodes text as one row of token ids, `spec.maxLength` long: the hashed ids
 * of its words ({@linkcode tokenize}, {@linkcode hashToken}) in order, cut
 * after `maxLength` words or padded with 0.
 *
 * @example
 * ```ts
 * import { encodeText, hashToken } from "./text.ts";
 * import assert from "node:assert/strict";
 * const row = encodeText("Good movie!", { vocabSize: 1000, maxLength: 4, lowercase: true });
 * assert.deepEqual([...row], [hashToken("good", 1000), hashToken("movie", 1000), 0, 0]);
 * ```
 */
export function encodeText(text: string, spec: TextInput): Float32Array {
  const row = new Float32Array(spec.maxLength);
  const tokens = tokenize(text, { lowercase: spec.lowercase });
  const length = Math.min(tokens.length, spec.maxLength);
  for (let i = 0; i < length; i++) row[i] = hashToken(tokens[i]!, spec.vocabSize);
  return row;
}
