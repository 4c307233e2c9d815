/**
 * FedAvg: the example-weighted mean of client deltas. Pure math over arrays.
 * @module
 */

/** One client's delta, tensor by tensor, with its example counts. */
export interface ClientDelta {
  /** The delta of each tensor, in the model's order. */
  tensors: Float32Array[];
  /** Rows with labels the client trained on. */
  numLabeled: number;
  /** Rows without labels the client trained on. */
  numUnlabeled: number;
  /**
   * A factor on this client's weight that the normalising total leaves out,
   * e.g. the staleness weight of asynchronous aggregation (FedBuff), so a
   * stale update shrinks the step instead of only shifting it. @default 1
   */
  scale?: number;
}

/** Options of {@linkcode fedAvg}. */
export interface FedAvgOptions {
  /** Weight of an unlabeled row relative to a labeled one. @default 1 */
  unlabeledWeight?: number;
}

/**
 * The weight of one client in FedAvg: `numLabeled + unlabeledWeight * numUnlabeled`.
 *
 * @example
 * ```ts
 * import { clientWeight } from "./fed_avg.ts";
 * import assert from "node:assert/strict";
 * assert.equal(clientWeight({ numLabeled: 10, numUnlabeled: 90 }, 0.5), 55);
 * ```
 */
export function clientWeight(
  counts: Pick<ClientDelta, "numLabeled" | "numUnlabeled">,
  unlabeledWeight: number,
): number {
  return counts.numLabeled + unlabeledWeight * counts.numUnlabeled;
}

/**
 * Adds `weight * source` into `target`, element by element.
 *
 * @example
 * ```ts
 * import { accumulate } from "./fed_avg.ts";
 * import assert from "node:assert/strict";
 * const sum = Float32Array.of(1, 1);
 * accumulate(sum, Float32Array.of(2, 4), 0.5);
 * assert.deepEqual([...sum], [2, 3]);
 * ```
 */
export function accumulate(target: Float32Array, source: Float32Array, weight: number): void {
  if (target.length !== source.length) {
    throw new RangeError(`Cannot accumulate: lengths ${source.length} and ${target.length} differ`);
  }
  for (let i = 0; i < target.length; i++) target[i]! += weight * source[i]!;
}

/**
 * The weighted mean of the clients' deltas, weights from {@linkcode clientWeight}.
 * Returns `null` when there is nothing to average (no client, or all weights 0),
 * meaning "keep the current model".
 *
 * @example
 * ```ts
 * import { fedAvg } from "./fed_avg.ts";
 * import assert from "node:assert/strict";
 * const mean = fedAvg([
 *   { tensors: [Float32Array.of(1)], numLabeled: 1, numUnlabeled: 0 },
 *   { tensors: [Float32Array.of(4)], numLabeled: 2, numUnlabeled: 0 },
 * ]);
 * assert.deepEqual(mean?.map((t) => [...t]), [[3]]);
 * ```
 */
export function fedAvg(
  deltas: readonly ClientDelta[],
  options: FedAvgOptions = {},
): Float32Array[] | null {
  const { unlabeledWeight = 1 } = options;
  if (!(unlabeledWeight >= 0)) {
    throw new RangeError(`Cannot average: unlabeled weight "${unlabeledWeight}" is negative`);
  }
  for (const d of deltas) {
    if (!(d.numLabeled >= 0 && d.numUnlabeled >= 0)) {
      throw new RangeError(
        `Cannot average: example counts "${d.numLabeled}" and "${d.numUnlabeled}" must be non-negative`,
      );
    }
    if (d.scale !== undefined && !(d.scale >= 0 && d.scale <= 1)) {
      throw new RangeError(`Cannot average: scale "${d.scale}" must be in [0, 1]`);
    }
  }
  const first = deltas[0];
  if (!first) return null;
  const total = deltas.reduce((sum, d) => sum + clientWeight(d, unlabeledWeight), 0);
  if (!(total > 0)) return null;
  const mean = first.tensors.map((t) => new Float32Array(t.length));
  for (const delta of deltas) {
    if (delta.tensors.length !== mean.length) {
      throw new RangeError(
        `Cannot average: ${delta.tensors.length} tensors, expected ${mean.length}`,
      );
    }
    const weight = (clientWeight(delta, unlabeledWeight) * (delta.scale ?? 1)) / total;
    delta.tensors.forEach((tensor, i) => {
      if (tensor.length !== mean[i]!.length) {
        throw new RangeError(
          `Cannot average: tensor ${i} has ${tensor.length} values, expected ${mean[i]!.length}`,
        );
      }
      // A client of weight 0 is skipped, so that its values (even NaN) cannot leak in.
      if (weight > 0) accumulate(mean[i]!, tensor, weight);
    });
  }
  return mean;
}
