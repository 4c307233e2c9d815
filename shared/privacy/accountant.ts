/**
 * A privacy accountant: Rényi differential privacy of the sampled Gaussian
 * mechanism (Mironov, Talwar and Zhang 2019, integer orders), composed over
 * rounds (each with its own sampling rate and noise multiplier) and
 * converted to (epsilon, delta). Pure; no I/O.
 *
 * For an integer order a, a round that samples each client with probability
 * q and adds Gaussian noise of standard deviation z times the clip bound has
 * RDP log(A_a) / (a - 1), where
 * A_a = sum_{k=0..a} C(a, k) (1 - q)^(a - k) q^k exp((k^2 - k) / (2 z^2));
 * for q = 1 that is a / (2 z^2), the Gaussian mechanism's. RDP adds up over
 * rounds, and (epsilon, delta) follows as
 * epsilon = min over a of (RDP(a) + log(1 / delta) / (a - 1)).
 * @module
 */

/** The orders the accountant tries: 2..256 (integers, as the formula needs). */
export const ORDERS: readonly number[] = Array.from({ length: 255 }, (_, i) => i + 2);

/** One round (or `rounds` identical rounds) of the sampled Gaussian mechanism. */
export interface MechanismStep {
  /** Sampling rate of clients in (0, 1]. */
  q: number;
  /** Noise standard deviation over the clip bound, > 0. */
  noiseMultiplier: number;
  /** How many such rounds. @default 1 */
  rounds?: number;
}

function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** log C(n, k) by sums of logs (exact enough for n <= 256). */
function logBinomial(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

function check(step: MechanismStep): void {
  const { q, noiseMultiplier, rounds = 1 } = step;
  if (!(q > 0 && q <= 1)) throw new RangeError(`The sampling rate q must be in (0, 1], got ${q}`);
  if (!(noiseMultiplier > 0 && Number.isFinite(noiseMultiplier))) {
    throw new RangeError(`The noise multiplier must be positive, got ${noiseMultiplier}`);
  }
  if (!(Number.isInteger(rounds) && rounds >= 0)) {
    throw new RangeError(`Rounds must be a non-negative integer, got ${rounds}`);
  }
}

/**
 * The RDP of one round of the sampled Gaussian mechanism at integer order
 * `order` (>= 2).
 *
 * @example
 * ```ts
 * import { rdpSampledGaussian } from "./accountant.ts";
 * import assert from "node:assert/strict";
 * // q = 1: the Gaussian mechanism, order / (2 z^2).
 * assert.ok(Math.abs(rdpSampledGaussian(4, { q: 1, noiseMultiplier: 2 }) - 4 / 8) < 1e-12);
 * ```
 */
export function rdpSampledGaussian(order: number, step: MechanismStep): number {
  check(step);
  if (!(Number.isInteger(order) && order >= 2)) {
    throw new RangeError(`An order must be an integer of at least 2, got ${order}`);
  }
  const { q, noiseMultiplier: z } = step;
  if (q === 1) return order / (2 * z * z);
  let logA = -Infinity;
  for (let k = 0; k <= order; k++) {
    const term = logBinomial(order, k) + (order - k) * Math.log1p(-q) + k * Math.log(q) +
      (k * k - k) / (2 * z * z);
    logA = logAdd(logA, term);
  }
  return logA / (order - 1);
}

/**
 * The epsilon of composing `steps` at `delta` in (0, 1), and the order that
 * gave it.
 *
 * @example
 * ```ts
 * import { epsilon } from "./accountant.ts";
 * import assert from "node:assert/strict";
 * // TensorFlow Privacy's MNIST tutorial: 60 epochs of batch 256 of 60,000, z = 1.1.
 * const { epsilon: eps } = epsilon([{ q: 256 / 60000, noiseMultiplier: 1.1, rounds: 14062 }], 1e-5);
 * assert.ok(Math.abs(eps - 3.01) < 0.06);
 * ```
 */
export function epsilon(
  steps: readonly MechanismStep[],
  delta: number,
): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  for (const s of steps) check(s);
  let best = { epsilon: Infinity, order: ORDERS[0]! };
  for (const order of ORDERS) {
    let rdp = 0;
    for (const s of steps) rdp += (s.rounds ?? 1) * rdpSampledGaussian(order, s);
    const eps = rdp + Math.log(1 / delta) / (order - 1);
    if (eps < best.epsilon) best = { epsilon: eps, order };
  }
  return best;
}
