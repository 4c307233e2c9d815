/**
 * Krum and multi-Krum (Blanchard et al. 2017): keep the updates closest to
 * their neighbours, so that up to `f` arbitrary ones are left out.
 * @module
 */
import { checkShapes } from "./_check.ts";

/** Options of {@linkcode krumSelect}. */
export interface KrumOptions {
  /** Byzantine clients tolerated. */
  f: number;
  /** Updates kept (1 is Krum, more is multi-Krum). @default 1 */
  m?: number;
}

/**
 * Squared L2 distance between two deltas over all their tensors.
 *
 * @example
 * ```ts
 * import { squaredDistance } from "./krum.ts";
 * import assert from "node:assert/strict";
 * assert.equal(squaredDistance([Float32Array.of(0, 0)], [Float32Array.of(3, 4)]), 25);
 * ```
 */
export function squaredDistance(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let sum = 0;
  a.forEach((tensor, t) => {
    const other = b[t]!;
    for (let i = 0; i < tensor.length; i++) {
      const d = tensor[i]! - other[i]!;
      sum += d * d;
    }
  });
  return sum;
}

/**
 * Krum scores: for each client, the sum of its squared distances to its
 * `n - f - 2` nearest other clients (at least 1). Lower is more central.
 *
 * @example
 * ```ts
 * import { krumScores } from "./krum.ts";
 * import assert from "node:assert/strict";
 * // 1-d points 0, 1, 3, 10 with f = 0: each sums its 2 nearest squared distances.
 * assert.deepEqual(krumScores([0, 1, 3, 10].map((v) => [Float32Array.of(v)]), 0), [10, 5, 13, 130]);
 * ```
 */
export function krumScores(deltas: readonly (readonly Float32Array[])[], f: number): number[] {
  const n = deltas.length;
  checkShapes("krum", deltas);
  const distances = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      distances[i]![j] = distances[j]![i] = squaredDistance(deltas[i]!, deltas[j]!);
    }
  }
  const neighbours = Math.max(1, n - f - 2);
  return distances.map((row, i) => {
    const others = row.filter((_, j) => j !== i).sort((a, b) => a - b);
    return others.slice(0, neighbours).reduce((s, d) => s + d, 0);
  });
}

/**
 * The indices of the `m` clients with the lowest Krum scores (ties by index),
 * in ascending score order. Needs `n > 2f + 2` clients, as Krum's guarantee
 * does, and `1 <= m <= n - f`.
 *
 * @example
 * ```ts
 * import { krumSelect } from "./krum.ts";
 * import assert from "node:assert/strict";
 * const deltas = [0, 0.1, 0.2, -0.1, 50].map((v) => [Float32Array.of(v, v)]);
 * assert.deepEqual(krumSelect(deltas, { f: 1, m: 1 }), [0]);
 * ```
 */
export function krumSelect(
  deltas: readonly (readonly Float32Array[])[],
  options: KrumOptions,
): number[] {
  const { f, m = 1 } = options;
  const n = deltas.length;
  if (!(Number.isInteger(f) && f >= 0)) {
    throw new RangeError(`Cannot run Krum: f "${f}" must be a non-negative integer`);
  }
  if (n <= 2 * f + 2) {
    throw new RangeError(`Cannot run Krum: ${n} updates, it needs more than 2f + 2 = ${2 * f + 2}`);
  }
  if (!(Number.isInteger(m) && m >= 1 && m <= n - f)) {
    throw new RangeError(`Cannot run Krum: m "${m}" must be an integer in [1, n - f = ${n - f}]`);
  }
  const scores = krumScores(deltas, f);
  return scores.map((score, i) => ({ score, i }))
    .sort((a, b) => a.score - b.score || a.i - b.i)
    .slice(0, m)
    .map(({ i }) => i);
}
