/**
 * Coordinate-wise trimmed mean of client deltas (Yin et al. 2018).
 * @module
 */
import { checkShapes } from "./_check.ts";

/** Options of {@linkcode trimmedMean}. */
export interface TrimmedMeanOptions {
  /** Fraction of the clients cut from each end of every coordinate, in [0, 0.5). */
  beta: number;
}

/**
 * How many values {@linkcode trimmedMean} cuts from each end for `n` clients:
 * `floor(beta * n)`.
 *
 * @example
 * ```ts
 * import { trimCount } from "./trimmed_mean.ts";
 * import assert from "node:assert/strict";
 * assert.equal(trimCount(10, 0.2), 2);
 * ```
 */
export function trimCount(n: number, beta: number): number {
  if (!(beta >= 0 && beta < 0.5)) {
    throw new RangeError(`Cannot trim: beta "${beta}" must be in [0, 0.5)`);
  }
  return Math.floor(beta * n);
}

/**
 * For each coordinate, sorts the clients' values, drops the `floor(beta * n)`
 * smallest and largest, and averages the rest (unweighted). Returns null for
 * no delta.
 *
 * @example
 * ```ts
 * import { trimmedMean } from "./trimmed_mean.ts";
 * import assert from "node:assert/strict";
 * const deltas = [1, 2, 3, 1000].map((v) => [Float32Array.of(v)]);
 * assert.deepEqual([...trimmedMean(deltas, { beta: 0.25 })![0]!], [2.5]);
 * ```
 */
export function trimmedMean(
  deltas: readonly (readonly Float32Array[])[],
  options: TrimmedMeanOptions,
): Float32Array[] | null {
  const first = deltas[0];
  const n = deltas.length;
  const k = trimCount(n, options.beta);
  if (!first) return null;
  checkShapes("trimmed mean", deltas);
  const column = new Float64Array(n);
  const kept = n - 2 * k;
  return first.map((tensor, t) => {
    const out = new Float32Array(tensor.length);
    for (let i = 0; i < tensor.length; i++) {
      for (let c = 0; c < n; c++) column[c] = deltas[c]![t]![i]!;
      column.sort();
      let sum = 0;
      for (let c = k; c < n - k; c++) sum += column[c]!;
      out[i] = sum / kept;
    }
    return out;
  });
}
