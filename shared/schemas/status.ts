/**
 * Where runs stand: liveness, each round's metrics, a task's status and the list of tasks.
 * @module
 */
import { z } from "zod";
import { SECURE_STAGES } from "../secagg/wire.ts";
import { PhaseSchema } from "./task.ts";
import { STRATEGIES } from "./training.ts";

/** GET /v1/health. */
export const HealthSchema = z.strictObject({ status: z.literal("ok") });

/** One round's line in the status history. */
export const RoundMetricsSchema = z.strictObject({
  round: z.int().min(0),
  version: z.int().min(0),
  clients: z.int().min(0),
  numLabeled: z.int().min(0),
  numUnlabeled: z.int().min(0),
  /** Holdout accuracy (for sequences: over labeled positions, e.g. the next token's). */
  accuracy: z.number().nullable(),
  loss: z.number().nullable(),
  /** A sequence task: the holdout perplexity, exp of the mean cross-entropy per labeled position. */
  perplexity: z.number().optional(),
  seconds: z.number(),
  bytesReceived: z.int().min(0),
  checkpoint: z.string().nullable(),
  /** The aggregation strategy. */
  strategy: z.enum(STRATEGIES),
  /** Clients that took part and sent no update, with the reason. */
  failures: z.array(z.strictObject({ clientId: z.string(), reason: z.string() })),
  /** Why the global model was kept as it was (null when it moved). */
  keptBecause: z.string().nullable(),
  /** `sync` rounds or `async` buffers. */
  mode: z.enum(["sync", "async"]),
  /** Federated evaluation: the clients' measures of the global they trained from, weighted by examples. */
  federated: z.strictObject({
    accuracy: z.number(),
    loss: z.number(),
    examples: z.int(),
    clients: z.int(),
  }).nullable(),
  /** The updates applied: client, versions behind (0 in sync mode), staleness weight and L2 norm. */
  updates: z.array(z.strictObject({
    clientId: z.string(),
    staleness: z.int().min(0),
    weight: z.number(),
    /** The update's L2 norm as sent (absent in rounds saved before norms were kept). */
    norm: z.number().optional(),
  })),
  /** Seconds spent aggregating and evaluating at the round's close (absent in older rounds). */
  aggregationSeconds: z.number().optional(),
  evaluationSeconds: z.number().optional(),
  /** Differential privacy after this round: epsilon so far at delta, and the round's mechanism. */
  privacy: z.strictObject({
    epsilon: z.number(),
    delta: z.number(),
    noiseMultiplier: z.number(),
    /** The L2 bound this round used, and the next round's (adaptive clipping). */
    clip: z.number(),
    nextClip: z.number(),
    sampleRate: z.number(),
    /** The fixed denominator: the expected number of clients a round. */
    expectedClients: z.number(),
  }).optional(),
  /** A secure round: clients that advertised keys, sent their masked input, shared keys and then dropped; seconds to unmask. */
  secureAggregation: z.strictObject({
    advertised: z.int().min(0),
    survivors: z.int().min(0),
    dropped: z.int().min(0),
    unmaskSeconds: z.number(),
  }).optional(),
});

/** GET /v1/status. */
export const StatusSchema = z.strictObject({
  taskId: z.string(),
  round: z.int(),
  version: z.int(),
  phase: PhaseSchema,
  totalRounds: z.int(),
  received: z.int(),
  targetClients: z.int(),
  /** The aggregation strategy. */
  strategy: z.enum(STRATEGIES),
  /** `sync` rounds or `async` buffers. */
  mode: z.enum(["sync", "async"]),
  clients: z.array(z.strictObject({
    id: z.string(),
    lastSeen: z.string(),
    updatesAccepted: z.int(),
    backend: z.string().nullable(),
    /** The device the backend runs on, as the client reported it. */
    device: z.string().nullable(),
    /** The client's runtime, as it reported it. */
    runtime: z.string().nullable(),
    /** Updates refused since the coordinator started, and the last reason. */
    updatesRejected: z.int(),
    lastRejection: z.string().nullable(),
    /** The labeled and unlabeled rows of its last accepted update. */
    numLabeled: z.int().nullable(),
    numUnlabeled: z.int().nullable(),
    /** An edge: how many devices stood behind its last update; null for a device. */
    devices: z.int().nullable(),
  })),
  history: z.array(RoundMetricsSchema),
  /** model.json of the exported final model, once the run has finished or stopped. */
  finalModel: z.string().nullable(),
  /** When the open round's deadline passes (ISO time); null when no deadline runs. */
  deadline: z.string().nullable(),
  /** Differential privacy: epsilon spent so far at delta, the budget, and why the run ended early, if it did. */
  privacy: z.strictObject({
    epsilon: z.number(),
    delta: z.number(),
    maxEpsilon: z.number().nullable(),
    stoppedBecause: z.string().nullable(),
  }).optional(),
  /** A secure task: the open round's stage (`received` counts the clients done with it). */
  secureStage: z.enum(SECURE_STAGES).optional(),
});

/** GET /v1/tasks: the tasks served. */
export const TaskListSchema = z.strictObject({
  tasks: z.array(z.strictObject({
    id: z.string(),
    round: z.int(),
    version: z.int(),
    phase: PhaseSchema,
    totalRounds: z.int(),
    default: z.boolean(),
  })),
});

/** @see {@linkcode RoundMetricsSchema} */
export type RoundMetrics = z.infer<typeof RoundMetricsSchema>;
/** @see {@linkcode StatusSchema} */
export type Status = z.infer<typeof StatusSchema>;
