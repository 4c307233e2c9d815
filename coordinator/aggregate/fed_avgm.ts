/**
 * FedAvgM (Hsu et al. 2019): FedAvg with momentum at the server.
 * @module
 */

/** Options of {@linkcode fedAvgMStep}. */
export interface FedAvgMOptions {
  /** Server momentum, in [0, 1). */
  momentum: number;
  /** Server learning rate. */
  learningRate: number;
}

/**
 * One server step: `v = momentum * v + delta`, and the step added to the
 * global is `learningRate * v`. `velocity` (null before the first round) is
 * not changed; the new one is returned.
 *
 * @example
 * ```ts
 * import { fedAvgMStep } from "./fed_avgm.ts";
 * import assert from "node:assert/strict";
 * const one = fedAvgMStep(null, [Float32Array.of(1)], { momentum: 0.9, learningRate: 1 });
 * const two = fedAvgMStep(one.velocity, [Float32Array.of(1)], { momentum: 0.9, learningRate: 1 });
 * assert.ok(Math.abs(two.step[0]![0]! - 1.9) < 1e-6);
 * ```
 */
export function fedAvgMStep(
  velocity: readonly Float32Array[] | null,
  delta: readonly Float32Array[],
  options: FedAvgMOptions,
): { step: Float32Array[]; velocity: Float32Array[] } {
  const { momentum, learningRate } = options;
  const next = delta.map((d, t) => {
    const v = new Float32Array(d.length);
    const previous = velocity?.[t];
    for (let i = 0; i < d.length; i++) v[i] = (previous ? momentum * previous[i]! : 0) + d[i]!;
    return v;
  });
  return { step: next.map((v) => v.map((x) => learningRate * x)), velocity: next };
}
