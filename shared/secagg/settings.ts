/**
 * The task option `secureAggregation`, as a zod schema (part of the task
 * spec in `shared/schemas/mod.ts`, which re-exports it).
 * @module
 */
import { z } from "zod";

/**
 * Secure aggregation (SecAgg+): the coordinator learns only the sum of a
 * round's updates. Cross-field checks (threshold against the neighbour
 * degree, bits against the round size, strategy, mode) are in
 * `shared/secagg/params.ts` and the federation.
 */
export const SecureAggregationSchema = z.strictObject({
  /** Shares needed to rebuild a secret; default a majority of each neighbourhood. */
  threshold: z.int().min(2).max(255).optional(),
  /** Neighbours of each client in the SecAgg+ graph; default all for rounds of up to 30, else about 3 log2(n). */
  neighbours: z.int().min(1).max(254).optional(),
  /** Each delta value is clipped to [-clipRange, clipRange] before quantization. */
  clipRange: z.number().gt(0).max(1e6).default(1),
  /** The sum is modulo 2^bits; the levels per value are (2^bits - 1) / targetClients. */
  bits: z.int().min(8).max(32).default(32),
  /** Example weights above this count as this (each weight is sent as w / maxWeight). */
  maxWeight: z.number().gt(0).max(1e9).default(10000),
  /** Seconds each stage after the first (share keys, masked input, unmask) may take. */
  stageTimeoutSeconds: z.number().gt(0).max(86400).default(60),
});

/** @see {@linkcode SecureAggregationSchema} */
export type SecureAggregationConfig = z.infer<typeof SecureAggregationSchema>;
