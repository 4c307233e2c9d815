/**
 * A weighted sum of updates kept as they arrive, for the strategies that are
 * sums (FedAvg and the server optimisers over its mean, and async FedBuff):
 * memory is one float64 array per tensor, whatever the number of clients.
 * @module
 */

/**
 * `target[i] += weight * source[i]`, the hot loop of streaming aggregation
 * (float64 accumulators, so the order updates arrive in does not change the
 * float32 mean in practice).
 *
 * @example
 * ```ts
 * import { accumulate64 } from "./running_sum.ts";
 * import assert from "node:assert/strict";
 * const target = new Float64Array(2);
 * accumulate64(target, Float32Array.of(1, 2), 0.5);
 * assert.deepEqual([...target], [0.5, 1]);
 * ```
 */
export function accumulate64(target: Float64Array, source: Float32Array, weight: number): void {
  if (target.length !== source.length) {
    throw new RangeError(`Cannot accumulate: lengths ${source.length} and ${target.length} differ`);
  }
  const n = target.length;
  let i = 0;
  // Unrolled by 4: fewer loop checks on the longest loop of a round.
  for (; i + 4 <= n; i += 4) {
    target[i] = target[i]! + weight * source[i]!;
    target[i + 1] = target[i + 1]! + weight * source[i + 1]!;
    target[i + 2] = target[i + 2]! + weight * source[i + 2]!;
    target[i + 3] = target[i + 3]! + weight * source[i + 3]!;
  }
  for (; i < n; i++) target[i] = target[i]! + weight * source[i]!;
}

/**
 * The running FedAvg numerator and denominator: `add` folds one update in
 * (its weight, and a `scale` the denominator leaves out, as FedBuff's
 * staleness weight); `mean` is what {@linkcode import("./fed_avg.ts").fedAvg}
 * returns for the same updates.
 *
 * @example
 * ```ts
 * import { RunningSum } from "./running_sum.ts";
 * import assert from "node:assert/strict";
 * const sum = new RunningSum([2]);
 * sum.add([Float32Array.of(1, 1)], 1);
 * sum.add([Float32Array.of(3, 5)], 3);
 * assert.deepEqual([...sum.mean()![0]!], [2.5, 4]);
 * ```
 */
export class RunningSum {
  #sums: Float64Array[];
  #total = 0;
  #count = 0;

  /** An empty sum for tensors of the given sizes. */
  constructor(sizes: readonly number[]) {
    this.#sums = sizes.map((n) => new Float64Array(n));
  }

  /** Updates folded in. */
  get count(): number {
    return this.#count;
  }

  /** Folds in one update of weight `weight` (> 0 to count) times `scale`. */
  add(tensors: readonly Float32Array[], weight: number, scale = 1): void {
    if (tensors.length !== this.#sums.length) {
      throw new RangeError(`Cannot add: ${tensors.length} tensors, expected ${this.#sums.length}`);
    }
    if (!(weight >= 0) || !(scale >= 0 && scale <= 1)) {
      throw new RangeError(`Cannot add: weight "${weight}" and scale "${scale}" must be valid`);
    }
    this.#count++;
    this.#total += weight;
    // A weight of 0 adds nothing, so its values (even NaN) cannot leak in.
    if (weight * scale > 0) {
      tensors.forEach((t, i) => accumulate64(this.#sums[i]!, t, weight * scale));
    }
  }

  /** The weighted sums themselves (float64, not copied). */
  sums(): readonly Float64Array[] {
    return this.#sums;
  }

  /** The weighted mean as float32, or null when nothing with weight was added. */
  mean(): Float32Array[] | null {
    if (!(this.#total > 0)) return null;
    const inv = 1 / this.#total;
    return this.#sums.map((s) => {
      const out = new Float32Array(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s[i]! * inv;
      return out;
    });
  }
}
