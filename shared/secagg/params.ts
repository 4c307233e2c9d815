/**
 * Secure aggregation's parameters, resolved from a task's `secureAggregation`
 * settings and its round size, and checked where they are configured: the
 * neighbour degree of the SecAgg+ graph, the threshold of the secret sharing,
 * and the quantization levels that let a round's inputs add up without
 * wrapping. Pure; the same on every party.
 * @module
 */
import { levelsFor } from "./quantize.ts";

/** A task's `secureAggregation` settings, as the task schema gives them. */
export interface SecureAggregationSettings {
  /** Shares needed to rebuild a secret; default a majority of each neighbourhood. */
  threshold?: number;
  /** Neighbours of each client in the SecAgg+ graph; default all for rounds of up to 30. */
  neighbours?: number;
  /** Delta values are clipped to [-clipRange, clipRange]. */
  clipRange: number;
  /** Sums are modulo 2^bits. */
  bits: number;
  /** Example weights above this count as this (weights are sent as weight / maxWeight). */
  maxWeight: number;
  /** Seconds each stage after the first (share keys, masked input, unmask) may take. */
  stageTimeoutSeconds: number;
}

/** Everything a party needs to run a round: the settings resolved for a round size. */
export interface SecureParams {
  threshold: number;
  /** Neighbours of each client (all others when the round is small enough). */
  degree: number;
  bits: number;
  /** Quantized values are integers in [0, levels]. */
  levels: number;
  clipRange: number;
  maxWeight: number;
  stageTimeoutSeconds: number;
}

/** Rounds of up to this many clients use the complete graph by default. */
export const COMPLETE_GRAPH_UP_TO = 30;

/** Shamir sharing over GF(2^8) gives at most 255 shares: a client and 254 neighbours. */
export const MAX_NEIGHBOURS = 254;

/**
 * The default degree for rounds of `clients`: everyone for small rounds,
 * else an even degree about 3 log2(n) (SecAgg+'s logarithmic degree).
 *
 * @example
 * ```ts
 * import { defaultDegree } from "./params.ts";
 * import assert from "node:assert/strict";
 * assert.equal(defaultDegree(10), 9);
 * assert.equal(defaultDegree(100), 20);
 * ```
 */
export function defaultDegree(clients: number): number {
  if (clients <= COMPLETE_GRAPH_UP_TO) return Math.max(1, clients - 1);
  return Math.min(MAX_NEIGHBOURS, 2 * Math.ceil(1.5 * Math.log2(clients)));
}

/**
 * The parameters for rounds of at most `targetClients` clients (a round
 * goes on with at least `max(minClients, threshold)`). Throws a RangeError
 * naming the field when they cannot work: a threshold above a neighbourhood
 * (degree + 1) or above the round size, a degree past what the sharing
 * allows, or bits too few for the round's sum.
 *
 * @example
 * ```ts
 * import { secureParams } from "./params.ts";
 * import assert from "node:assert/strict";
 * const settings = { clipRange: 1, bits: 32, maxWeight: 10000, stageTimeoutSeconds: 60 };
 * const p = secureParams(settings, { targetClients: 10, minClients: 6 });
 * assert.deepEqual([p.degree, p.threshold], [9, 6]);
 * assert.throws(() => secureParams({ ...settings, threshold: 11 }, { targetClients: 10, minClients: 6 }), /threshold/);
 * ```
 */
export function secureParams(
  settings: SecureAggregationSettings,
  rounds: { targetClients: number; minClients: number },
): SecureParams {
  const { targetClients } = rounds;
  const degree = Math.min(
    settings.neighbours ?? defaultDegree(targetClients),
    Math.max(1, targetClients - 1),
  );
  if (settings.neighbours !== undefined && settings.neighbours > MAX_NEIGHBOURS) {
    throw new RangeError(
      `secureAggregation.neighbours: ${settings.neighbours} is above ${MAX_NEIGHBOURS} (a secret is shared among a client and its neighbours, at most 255)`,
    );
  }
  const threshold = settings.threshold ?? Math.max(2, Math.floor((degree + 1) / 2) + 1);
  if (threshold > degree + 1) {
    throw new RangeError(
      `secureAggregation.threshold: ${threshold} is above the ${
        degree + 1
      } holders of each secret (a client and its ${degree} neighbours); lower it or raise neighbours`,
    );
  }
  if (threshold > targetClients) {
    throw new RangeError(
      `secureAggregation.threshold: ${threshold} is above rounds.targetClients ${targetClients}`,
    );
  }
  if (threshold < 2) {
    throw new RangeError(`secureAggregation.threshold: must be at least 2, got ${threshold}`);
  }
  let levels: number;
  try {
    levels = levelsFor({ bits: settings.bits, clients: targetClients });
  } catch (error) {
    throw new RangeError(
      `secureAggregation.bits: ${(error as Error).message} (rounds.targetClients ${targetClients})`,
    );
  }
  return {
    threshold,
    degree,
    bits: settings.bits,
    levels,
    clipRange: settings.clipRange,
    maxWeight: settings.maxWeight,
    stageTimeoutSeconds: settings.stageTimeoutSeconds,
  };
}

/**
 * A public 32-bit seed for round `round` of task `taskId` (FNV-1a), from
 * which the neighbour graph is drawn.
 *
 * @example
 * ```ts
 * import { graphSeed } from "./params.ts";
 * import assert from "node:assert/strict";
 * assert.equal(graphSeed("t", 1), graphSeed("t", 1));
 * assert.notEqual(graphSeed("t", 1), graphSeed("t", 2));
 * ```
 */
export function graphSeed(taskId: string, round: number): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(`${taskId}:${round}`)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash;
}
