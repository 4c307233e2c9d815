/**
 * What a client's masked input holds, before masking: its clipped delta
 * scaled by its weight, quantized, then its weight and its example counts,
 * all integers in [0, levels]; and how the coordinator turns the round's sum
 * back into the weighted mean delta. Pure over arrays.
 *
 * Layout: the trainable tensors' values in the task's order, each
 * `quantize(min(w, maxWeight) / maxWeight x clip(delta))`; then the weight
 * `min(w, maxWeight) / maxWeight x levels` (stochastically rounded); then
 * `numLabeled` and `numUnlabeled` (capped at `levels`, exact below).
 * @module
 */
import type { SecureParams } from "./params.ts";
import { type QuantizationOptions, quantize } from "./quantize.ts";

/** The values after the delta: weight, numLabeled, numUnlabeled. */
export const TRAILER = 3;

/** A client's contribution before quantization. */
export interface PlainInput {
  /** The trainable tensors' deltas, in the task's order. */
  delta: Float32Array[];
  /** Its aggregation weight (labeled rows + unlabeledWeight x unlabeled rows). */
  weight: number;
  numLabeled: number;
  numUnlabeled: number;
}

/** The round's sum, decoded. */
export interface DecodedSum {
  /** The weighted mean delta per tensor (undefined weight: all zero). */
  mean: Float32Array[];
  /** The summed weight, in example units (sum of min(w, maxWeight)). */
  weight: number;
  numLabeled: number;
  numUnlabeled: number;
}

const options = (p: SecureParams): QuantizationOptions => ({
  clipRange: p.clipRange,
  levels: p.levels,
  bits: p.bits,
});

/**
 * The integer vector a client masks and sends. `random` gives uniform
 * numbers in [0, 1) for the stochastic rounding.
 *
 * @example
 * ```ts
 * import { encodeInput, TRAILER } from "./input.ts";
 * import assert from "node:assert/strict";
 * const p = { threshold: 2, degree: 1, bits: 32, levels: 1000, clipRange: 1, maxWeight: 10, stageTimeoutSeconds: 1 };
 * const v = encodeInput({ delta: [Float32Array.of(1, -1)], weight: 10, numLabeled: 4, numUnlabeled: 12 }, p, () => 0.5);
 * assert.deepEqual([...v], [1000, 0, 1000, 4, 12]);
 * assert.equal(v.length, 2 + TRAILER);
 * ```
 */
export function encodeInput(
  input: PlainInput,
  params: SecureParams,
  random: () => number,
): Uint32Array {
  if (!(input.weight >= 0 && Number.isFinite(input.weight))) {
    throw new RangeError(`Cannot encode an input of weight ${input.weight}`);
  }
  const scale = Math.min(input.weight, params.maxWeight) / params.maxWeight;
  const size = input.delta.reduce((n, d) => n + d.length, 0);
  const out = new Uint32Array(size + TRAILER);
  const scaled = new Float32Array(size);
  let offset = 0;
  for (const d of input.delta) {
    for (let i = 0; i < d.length; i++) {
      const v = Math.min(params.clipRange, Math.max(-params.clipRange, d[i]!));
      scaled[offset + i] = Number.isFinite(v) ? v * scale : 0;
    }
    offset += d.length;
  }
  out.set(quantize(scaled, options(params), random));
  const w = scale * params.levels;
  const floor = Math.floor(w);
  out[size] = Math.min(params.levels, floor + (random() < w - floor ? 1 : 0));
  out[size + 1] = Math.min(params.levels, input.numLabeled);
  out[size + 2] = Math.min(params.levels, input.numUnlabeled);
  return out;
}

/**
 * The weighted mean delta (and the summed weight and counts) from the sum of
 * `count` clients' unmasked inputs; `sizes` are the tensors' value counts.
 *
 * @example
 * ```ts
 * import { decodeSum, encodeInput } from "./input.ts";
 * import { addModular } from "./quantize.ts";
 * import assert from "node:assert/strict";
 * const p = { threshold: 2, degree: 1, bits: 32, levels: 1000, clipRange: 1, maxWeight: 10, stageTimeoutSeconds: 1 };
 * const a = encodeInput({ delta: [Float32Array.of(0.5)], weight: 10, numLabeled: 10, numUnlabeled: 0 }, p, () => 0.5);
 * const b = encodeInput({ delta: [Float32Array.of(-0.5)], weight: 10, numLabeled: 10, numUnlabeled: 0 }, p, () => 0.5);
 * addModular(a, b, 1, 32);
 * const sum = decodeSum(a, 2, [1], p);
 * assert.ok(Math.abs(sum.mean[0]![0]!) < 1e-6);
 * assert.equal(sum.numLabeled, 20);
 * ```
 */
export function decodeSum(
  sum: Uint32Array,
  count: number,
  sizes: number[],
  params: SecureParams,
): DecodedSum {
  const size = sizes.reduce((a, b) => a + b, 0);
  if (sum.length !== size + TRAILER) {
    throw new RangeError(`A sum of ${sum.length} values is not ${size} values and ${TRAILER} more`);
  }
  const { clipRange: c, levels } = params;
  const weightUnits = sum[size]! / levels;
  const mean: Float32Array[] = [];
  let offset = 0;
  for (const n of sizes) {
    const out = new Float32Array(n);
    if (weightUnits > 0) {
      for (let i = 0; i < n; i++) {
        out[i] = ((sum[offset + i]! * 2 * c) / levels - count * c) / weightUnits;
      }
    }
    mean.push(out);
    offset += n;
  }
  return {
    mean,
    weight: weightUnits * params.maxWeight,
    numLabeled: sum[size + 1]!,
    numUnlabeled: sum[size + 2]!,
  };
}

/**
 * The largest error of a decoded mean value against the weighted mean of the
 * same clipped deltas, for `count` clients of summed scaled weight
 * `weightUnits` (sum of min(w, maxWeight) / maxWeight): each quantized value
 * is off by less than one step 2c / levels, and the summed weight by less
 * than count / levels.
 *
 * @example
 * ```ts
 * import { meanErrorBound } from "./input.ts";
 * import assert from "node:assert/strict";
 * const p = { threshold: 2, degree: 1, bits: 32, levels: 1e8, clipRange: 1, maxWeight: 10, stageTimeoutSeconds: 1 };
 * assert.ok(meanErrorBound(p, { count: 10, weightUnits: 1 }) < 1e-5);
 * ```
 */
export function meanErrorBound(
  params: SecureParams,
  round: { count: number; weightUnits: number },
): number {
  const { clipRange: c, levels } = params;
  const { count, weightUnits } = round;
  const slack = count / levels;
  if (weightUnits <= slack) return Infinity;
  return (count * ((2 * c) / levels) + c * slack) / (weightUnits - slack);
}
