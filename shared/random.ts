/**
 * Seeded pseudo-random numbers for reproducible splits and partitions.
 * @module
 */

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * Creates a seeded generator (mulberry32) of uniform numbers in [0, 1).
 *
 * @example
 * ```ts
 * import { seededRandom } from "./random.ts";
 * import assert from "node:assert/strict";
 * const a = seededRandom(7), b = seededRandom(7);
 * assert.equal(a(), b());
 * ```
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * FNV-1a over the UTF-16 code units of `text`, as an unsigned 32-bit integer:
 * a seed from a name (a client's id), not a random generator.
 *
 * @example
 * ```ts
 * import { fnv1a } from "./random.ts";
 * import assert from "node:assert/strict";
 * assert.equal(fnv1a(""), 0x811c9dc5);
 * assert.equal(fnv1a("a"), 0xe40c292c);
 * ```
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * Shuffles an array in place (Fisher-Yates) and returns it.
 *
 * @example
 * ```ts
 * import { seededRandom, shuffle } from "./random.ts";
 * import assert from "node:assert/strict";
 * const xs = shuffle([1, 2, 3, 4], seededRandom(1));
 * assert.deepEqual([...xs].sort(), [1, 2, 3, 4]);
 * ```
 */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}

function normal(random: Random): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Draws the logarithm of a Gamma(shape, 1) variate (Marsaglia and Tsang, with
 * the boost `Gamma(a) = Gamma(a + 1) * U^(1/a)` for a < 1 applied in log space,
 * so tiny shapes do not underflow to 0).
 *
 * @example
 * ```ts
 * import { logGamma, seededRandom } from "./random.ts";
 * import assert from "node:assert/strict";
 * assert.ok(Number.isFinite(logGamma(1e-4, seededRandom(3))));
 * ```
 */
export function logGamma(shape: number, random: Random): number {
  if (!(shape > 0)) {
    throw new RangeError(`Cannot draw from gamma: shape "${shape}" is not positive`);
  }
  if (shape < 1) return logGamma(shape + 1, random) + Math.log(1 - random()) / shape;
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return Math.log(d * v);
  }
}

/**
 * Draws from Gamma(shape, 1).
 *
 * @example
 * ```ts
 * import { gamma, seededRandom } from "./random.ts";
 * import assert from "node:assert/strict";
 * assert.ok(gamma(0.5, seededRandom(3)) > 0);
 * ```
 */
export function gamma(shape: number, random: Random): number {
  return Math.exp(logGamma(shape, random));
}

/**
 * Draws a probability vector from a symmetric Dirichlet(beta) of size k.
 *
 * @example
 * ```ts
 * import { dirichlet, seededRandom } from "./random.ts";
 * import assert from "node:assert/strict";
 * const p = dirichlet(4, 0.5, seededRandom(1));
 * assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-9);
 * ```
 */
export function dirichlet(k: number, beta: number, random: Random): number[] {
  // Normalised in log space (log-sum-exp): exact even when every draw underflows.
  const logs = Array.from({ length: k }, () => logGamma(beta, random));
  const max = Math.max(...logs);
  const weights = logs.map((l) => Math.exp(l - max));
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / sum);
}

/**
 * Runs `fn` with `Math.random` replaced by `random` (nothing replaced when
 * null). tfjs's dropout draws the seed of each mask from `Math.random`, so
 * this makes the masks follow a seed. `fn` is synchronous, so nothing else
 * can observe the swap.
 *
 * @example
 * ```ts
 * import { seededRandom, withMathRandom } from "./random.ts";
 * import assert from "node:assert/strict";
 * const a = withMathRandom(seededRandom(1), () => Math.random());
 * assert.equal(a, withMathRandom(seededRandom(1), () => Math.random()));
 * ```
 */
export function withMathRandom<T>(random: Random | null, fn: () => T): T {
  if (!random) return fn();
  const original = Math.random;
  Math.random = random;
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}
