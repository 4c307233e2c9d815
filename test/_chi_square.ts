/**
 * A chi-square test that bytes look uniformly random, for the tests that
 * check a stored masked input is noise and not an update in the clear.
 * @module
 */

/**
 * The limit of {@linkcode chiSquare} for uniform bytes: the upper 1e-8
 * quantile of chi-square with 255 degrees of freedom (about 403, by the
 * Wilson–Hilferty approximation), so that a test checking dozens of files a
 * run does not fail by chance (350, just past the 0.9999 quantile of about 348, would fail
 * about one run in a few hundred). An update in the clear (quantized floats)
 * scores in the thousands or more.
 */
export const UNIFORM_BYTES_LIMIT = 403;

/**
 * Chi-square statistic of the bytes against the uniform distribution over 256 values.
 *
 * @example
 * ```ts
 * import { chiSquare, UNIFORM_BYTES_LIMIT } from "./_chi_square.ts";
 * import assert from "node:assert/strict";
 * assert.ok(chiSquare(crypto.getRandomValues(new Uint8Array(65536))) < UNIFORM_BYTES_LIMIT);
 * assert.ok(chiSquare(new Uint8Array(65536).fill(7)) > UNIFORM_BYTES_LIMIT);
 * ```
 */
export function chiSquare(bytes: Uint8Array): number {
  const counts = new Float64Array(256);
  for (const b of bytes) counts[b]!++;
  const expected = bytes.length / 256;
  return counts.reduce((x, c) => x + (c - expected) ** 2 / expected, 0);
}
