/**
 * Client-level differential privacy's arithmetic (DP-FedAvg, McMahan et al.
 * 2018; adaptive clipping, Andrew et al. 2021), pure over arrays: the L2 clip
 * of an update, Gaussian noise from a cryptographic source, the noise each
 * client adds in distributed mode, the clipped-count update of the adaptive
 * clip, and the noise multipliers that keep the accounted one.
 * @module
 */

/**
 * Standard normal numbers from `crypto.getRandomValues` (53-bit uniforms,
 * the Box-Muller transform): noise an observer cannot predict.
 *
 * @example
 * ```ts
 * import { gaussian } from "./mechanism.ts";
 * import assert from "node:assert/strict";
 * const z = gaussian(1000);
 * assert.ok(z.length === 1000);
 * ```
 */
export function gaussian(count: number): Float64Array {
  const out = new Float64Array(count);
  const words = new Uint32Array(4 * 1024);
  let w = words.length;
  const uniform = () => {
    if (w + 2 > words.length) {
      crypto.getRandomValues(words);
      w = 0;
    }
    // 53 random bits in (0, 1]: never 0, so the log is finite.
    const hi = words[w++]! >>> 5;
    const lo = words[w++]! >>> 6;
    return (hi * 67108864 + lo + 1) / 9007199254740992;
  };
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/** The L2 norm of all tensors together. */
export function l2Norm(tensors: readonly ArrayLike<number>[]): number {
  let s = 0;
  for (const t of tensors) for (let i = 0; i < t.length; i++) s += t[i]! * t[i]!;
  return Math.sqrt(s);
}

/**
 * The factor that brings an update of L2 norm `norm` within `clip`: 1 when it
 * is within already.
 *
 * @example
 * ```ts
 * import { clipFactor } from "./mechanism.ts";
 * import assert from "node:assert/strict";
 * assert.equal(clipFactor(10, 2), 0.2);
 * assert.equal(clipFactor(1, 2), 1);
 * ```
 */
export function clipFactor(norm: number, clip: number): number {
  return norm > clip ? clip / norm : 1;
}

/**
 * `(sum + N(0, noiseStd^2)) / denominator`, per value, as float32 (the
 * central mode's noised mean with DP-FedAvg's fixed denominator).
 */
export function noisedMean(
  sums: readonly Float64Array[],
  options: { noiseStd: number; denominator: number; noise?: (n: number) => Float64Array },
): Float32Array[] {
  const { noiseStd, denominator, noise = gaussian } = options;
  if (!(denominator > 0)) {
    throw new RangeError(`The denominator must be positive, got ${denominator}`);
  }
  return sums.map((s) => {
    const z = noise(s.length);
    const out = new Float32Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = (s[i]! + noiseStd * z[i]!) / denominator;
    return out;
  });
}

/**
 * Distributed mode: the standard deviation each of at least `fewest` clients
 * adds, so that their sum carries `noiseMultiplier x clip`.
 *
 * @example
 * ```ts
 * import { noiseShareStd } from "./mechanism.ts";
 * import assert from "node:assert/strict";
 * assert.equal(noiseShareStd({ noiseMultiplier: 1, clip: 2, fewest: 4 }), 1);
 * ```
 */
export function noiseShareStd(
  options: { noiseMultiplier: number; clip: number; fewest: number },
): number {
  return (options.noiseMultiplier * options.clip) / Math.sqrt(options.fewest);
}

/**
 * Distributed mode: the fewest clients a secure round can sum (its quorum),
 * for whom each client's noise share is sized.
 *
 * @example
 * ```ts
 * import { distributedFewest } from "./mechanism.ts";
 * import assert from "node:assert/strict";
 * assert.ok(distributedFewest({ minClients: 2, threshold: 6 }) === 6);
 * ```
 */
export function distributedFewest(options: { minClients: number; threshold: number }): number {
  return Math.max(options.minClients, options.threshold);
}

/**
 * Adaptive clipping (Andrew et al. 2021): the noise multipliers of the update
 * and of the clipped count that together give the accounted `noiseMultiplier`
 * z: the count's is `countStd` (its standard deviation over the clipped
 * count), the update's (z^-2 - (2 countStd)^-2)^(-1/2). Throws when the
 * count's noise is too small for z.
 *
 * @example
 * ```ts
 * import { adaptiveNoise } from "./mechanism.ts";
 * import assert from "node:assert/strict";
 * const { updateNoiseMultiplier } = adaptiveNoise({ noiseMultiplier: 1, countStd: 5 });
 * assert.ok(updateNoiseMultiplier > 1 && updateNoiseMultiplier < 1.01);
 * ```
 */
export function adaptiveNoise(
  options: { noiseMultiplier: number; countStd: number },
): { updateNoiseMultiplier: number } {
  const { noiseMultiplier: z, countStd } = options;
  const rest = z ** -2 - (2 * countStd) ** -2;
  if (!(rest > 0)) {
    throw new RangeError(
      `The clipped count's noise ${countStd} is too small for noise multiplier ${z}: it must be above z / 2`,
    );
  }
  return { updateNoiseMultiplier: rest ** -0.5 };
}

/**
 * The next clip bound: `clip x exp(-learningRate x (clippedFraction - targetQuantile))`,
 * where `clippedFraction` is the (noised) share of updates within the bound.
 *
 * @example
 * ```ts
 * import { nextClip } from "./mechanism.ts";
 * import assert from "node:assert/strict";
 * // All within the bound, aiming at the median: the bound shrinks.
 * assert.ok(nextClip(1, { withinFraction: 1, targetQuantile: 0.5, learningRate: 0.2 }) < 1);
 * ```
 */
export function nextClip(
  clip: number,
  options: { withinFraction: number; targetQuantile: number; learningRate: number },
): number {
  return clip * Math.exp(-options.learningRate * (options.withinFraction - options.targetQuantile));
}
