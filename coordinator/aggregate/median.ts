/**
 * Coordinate-wise median of client deltas (Yin et al. 2018): robust to a
 * minority of arbitrary updates.
 * @module
 */
import { checkShapes } from "./_check.ts";

/**
 * The median of each coordinate over the clients' deltas; with an even count,
 * the mean of the two middle values. Example counts do not weight it. Returns
 * null for no delta.
 *
 * @example
 * ```ts
 * import { coordinateMedian } from "./median.ts";
 * import assert from "node:assert/strict";
 * const m = coordinateMedian([[Float32Array.of(1, 9)], [Float32Array.of(2, -1)], [Float32Array.of(100, 3)]]);
 * assert.deepEqual([...m![0]!], [2, 3]);
 * ```
 */
export function coordinateMedian(
  deltas: readonly (readonly Float32Array[])[],
): Float32Array[] | null {
  const first = deltas[0];
  if (!first) return null;
  checkShapes("median", deltas);
  const n = deltas.length;
  const column = new Float64Array(n);
  const half = n >> 1;
  return first.map((tensor, t) => {
    const out = new Float32Array(tensor.length);
    for (let i = 0; i < tensor.length; i++) {
      for (let c = 0; c < n; c++) column[c] = deltas[c]![t]![i]!;
      column.sort();
      out[i] = n % 2 === 1 ? column[half]! : (column[half - 1]! + column[half]!) / 2;
    }
    return out;
  });
}
