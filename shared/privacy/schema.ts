/**
 * The task option `privacy`, as a zod schema (part of the task spec in
 * `shared/schemas/mod.ts`, which re-exports it).
 * @module
 */
import { z } from "zod";

/**
 * Client-level differential privacy (DP-FedAvg): each update clipped to an L2
 * bound, Gaussian noise on the sum, a fixed denominator, clients drawn by
 * Poisson sampling from a secret seed, and epsilon accounted after every
 * round. Cross-field checks are in `coordinator/privacy/privacy_task.ts`.
 */
export const PrivacySchema = z.strictObject({
  /**
   * `central`: the coordinator clips each update and noises the sum (a
   * trusted coordinator); `distributed`: each client clips and adds its share
   * of the noise inside its masked input (needs secureAggregation).
   */
  mode: z.enum(["central", "distributed"]),
  /** Noise standard deviation over the clip bound (z). */
  noiseMultiplier: z.number().gt(0).max(1000),
  /** L2 bound C on each update (the first bound, with adaptive clipping). */
  clip: z.number().gt(0).max(1e6).default(1),
  /** Adaptive clipping (Andrew et al. 2021; central mode): the bound follows a quantile of the update norms. */
  adaptive: z.strictObject({
    /** The share of updates the bound should keep whole. */
    targetQuantile: z.number().min(0).max(1).default(0.5),
    /** Geometric step of the bound a round. */
    learningRate: z.number().gt(0).max(10).default(0.2),
    /** Standard deviation of the noise on the count of updates within the bound; default expected clients / 20. */
    countStd: z.number().gt(0).max(1e6).optional(),
  }).optional(),
  /** The delta of (epsilon, delta); default 1 / population^1.1. */
  delta: z.number().gt(0).lt(1).optional(),
  /** The run ends, its final model exported, before a round that would take epsilon past this. */
  maxEpsilon: z.number().gt(0).max(1e6).optional(),
  /** Clients the rounds draw from (N); default rounds.targetClients / rounds.fraction. */
  population: z.int().min(1).max(1e9).optional(),
});

/** @see {@linkcode PrivacySchema} */
export type PrivacyConfig = z.infer<typeof PrivacySchema>;
