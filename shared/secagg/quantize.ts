/**
 * Secure aggregation's arithmetic on plain arrays, no I/O: values clipped to
 * `[-clipRange, clipRange]` and quantized to integers in `[0, levels]` with
 * stochastic rounding (unbiased), sums of such vectors modulo `2^bits`, and
 * the dequantization of a sum of `count` of them.
 * @module
 */

/** How values become integers: the clip range, the levels and the modulus. */
export interface QuantizationOptions {
  /** Values are clipped to [-clipRange, clipRange]. */
  clipRange: number;
  /** Integers per value are in [0, levels]. */
  levels: number;
  /** Sums are modulo 2^bits (1..32). */
  bits: number;
}

/**
 * The levels that let `clients` quantized vectors add up without wrapping
 * modulo `2^bits`: the largest L with clients x L < 2^bits. Throws a
 * RangeError naming the fields when fewer than 2^8 levels are left.
 *
 * @example
 * ```ts
 * import { levelsFor } from "./quantize.ts";
 * import assert from "node:assert/strict";
 * assert.equal(levelsFor({ bits: 32, clients: 100 }), Math.floor((2 ** 32 - 1) / 100));
 * assert.throws(() => levelsFor({ bits: 10, clients: 100 }), /bits/);
 * ```
 */
export function levelsFor(options: { bits: number; clients: number }): number {
  const { bits, clients } = options;
  if (!(Number.isInteger(bits) && bits >= 1 && bits <= 32)) {
    throw new RangeError(`bits must be an integer in [1, 32], got ${bits}`);
  }
  if (!(Number.isInteger(clients) && clients >= 1)) {
    throw new RangeError(`clients must be a positive integer, got ${clients}`);
  }
  const levels = Math.floor((2 ** bits - 1) / clients);
  if (levels < 256) {
    throw new RangeError(
      `bits = ${bits} leave ${levels} quantization levels for ${clients} clients (at least 256 are needed): raise bits to ${
        Math.ceil(Math.log2(256 * clients + 1))
      } or more`,
    );
  }
  return levels;
}

/**
 * Clips each value to [-clipRange, clipRange] and maps it to an integer in
 * [0, levels], rounding up with the probability of its fraction (so the
 * expectation is exact); `random` gives uniform numbers in [0, 1).
 *
 * @example
 * ```ts
 * import { quantize } from "./quantize.ts";
 * import assert from "node:assert/strict";
 * const q = quantize(Float32Array.of(-1, 0, 1, 5), { clipRange: 1, levels: 100, bits: 32 }, () => 0.5);
 * assert.deepEqual([...q], [0, 50, 100, 100]);
 * ```
 */
export function quantize(
  values: Float32Array,
  options: QuantizationOptions,
  random: () => number,
): Uint32Array {
  const { clipRange: c, levels } = options;
  const scale = levels / (2 * c);
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const clipped = Math.min(c, Math.max(-c, values[i]!));
    const x = (clipped + c) * scale;
    const floor = Math.floor(x);
    out[i] = Math.min(levels, floor + (random() < x - floor ? 1 : 0));
  }
  return out;
}

/**
 * The sum of the values behind `sum`, the modular sum of `count` quantized
 * vectors (each [0, levels] per value): sum x 2c / levels - count x c, per
 * value (divide by the summed weight for a mean).
 *
 * @example
 * ```ts
 * import { dequantizeSum } from "./quantize.ts";
 * import assert from "node:assert/strict";
 * // Two clients, levels 100, clip 1: 0 and 0 are 50 + 50; 1 and 1 are 100 + 100.
 * const sum = Uint32Array.of(100, 200);
 * assert.deepEqual([...dequantizeSum(sum, 2, { clipRange: 1, levels: 100, bits: 32 })], [0, 2]);
 * ```
 */
export function dequantizeSum(
  sum: Uint32Array,
  count: number,
  options: QuantizationOptions,
): Float64Array {
  const { clipRange: c, levels } = options;
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = (sum[i]! * 2 * c) / levels - count * c;
  return out;
}

/** The largest error of one quantized value against its clipped value: one level. */
export function quantizationStep(options: QuantizationOptions): number {
  return (2 * options.clipRange) / options.levels;
}

/**
 * `a += sign * b` modulo 2^bits, element by element, in place.
 *
 * @example
 * ```ts
 * import { addModular } from "./quantize.ts";
 * import assert from "node:assert/strict";
 * const a = Uint32Array.of(5, 0);
 * addModular(a, Uint32Array.of(7, 1), -1, 8);
 * assert.deepEqual([...a], [254, 255]);
 * ```
 */
export function addModular(a: Uint32Array, b: Uint32Array, sign: 1 | -1, bits: number): void {
  if (a.length !== b.length) {
    throw new RangeError(`Cannot add vectors of lengths ${a.length} and ${b.length}`);
  }
  if (bits === 32) {
    if (sign === 1) { for (let i = 0; i < a.length; i++) a[i] = (a[i]! + b[i]!) >>> 0; }
    else for (let i = 0; i < a.length; i++) a[i] = (a[i]! - b[i]!) >>> 0;
    return;
  }
  const mask = 2 ** bits - 1;
  if (sign === 1) { for (let i = 0; i < a.length; i++) a[i] = (a[i]! + b[i]!) & mask; }
  else for (let i = 0; i < a.length; i++) a[i] = (a[i]! - b[i]! + mask + 1) & mask;
}
