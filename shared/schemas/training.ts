/**
 * The training a task hands its clients, and how its rounds run and its updates are aggregated, encoded and bounded: the settings parts of a task.
 * @module
 */
import { z } from "zod";

/** Local training settings that the coordinator hands to every client. */
export const TrainingConfigSchema = z.strictObject({
  /** Weight of the symmetric KL between the twin passes. */
  alpha: z.number().min(0).max(1000).default(1),
  /** Rounds over which alpha on unlabeled rows ramps linearly up from 0; 0 for no ramp. */
  alphaRampUpRounds: z.int().min(0).max(100000).default(0),
  /** Labeled rows per local step. */
  labeledBatchSize: z.int().min(0).max(65536).default(32),
  /** Unlabeled rows per local step. */
  unlabeledBatchSize: z.int().min(0).max(65536).default(64),
  /** Local optimizer steps per round. */
  localSteps: z.int().min(1).max(1_000_000).default(50),
  /** Local optimizer. */
  optimizer: z.enum(["adam", "sgd"]).default("adam"),
  /** Local learning rate. */
  learningRate: z.number().gt(0).max(10).default(0.001),
  /** `rdrop`: one pass over `[x; x]`, ce + alpha * kl; `ce`: one pass over x, cross-entropy on labeled rows only. */
  objective: z.enum(["rdrop", "ce"]).default("rdrop"),
  /** Weight of the KL on unlabeled rows (before the ramp-up); defaults to alpha. */
  unlabeledAlpha: z.number().min(0).max(1000).optional(),
  /** Federated evaluation: clients measure the global model on their labeled rows before training and report it with the update. */
  evaluate: z.boolean().default(true),
  /** FedProx: weight mu of (mu / 2) ||w - w_global||^2 added to the local loss; 0 for none. */
  proximalMu: z.number().min(0).max(1000).default(0),
  /**
   * Distribution alignment: weight of KL(class prior || mean prediction on
   * the unlabeled rows of a batch), the prior being the client's labeled-row
   * frequencies (add-one smoothed); 0 for none. Keeps the consistency term
   * from pulling unlabeled rows towards the majority class.
   */
  priorAlignment: z.number().min(0).max(1000).default(0),
}).refine((t) => t.labeledBatchSize + t.unlabeledBatchSize > 0, {
  message: "labeledBatchSize + unlabeledBatchSize must be positive",
});

/**
 * Weight of an update that is `t` versions behind (Xie et al. 2019):
 * `constant` 1; `polynomial` (1 + t)^-a; `hinge` 1 for t <= b, else
 * 1 / (a (t - b) + 1).
 */
export const StalenessSchema = z.strictObject({
  kind: z.enum(["constant", "polynomial", "hinge"]),
  /** Decay: the exponent (polynomial) or slope (hinge). */
  a: z.number().min(0).max(1000).default(0.5),
  /** hinge: staleness up to which the weight stays 1. */
  b: z.number().min(0).max(100000).default(4),
});

/** Bounds on each update. */
export const UpdateLimitsSchema = z.strictObject({
  /** Largest L2 norm of an update (all its tensors together); null for no bound. */
  maxNorm: z.number().gt(0).nullable().default(null),
  /** `reject` an update over the bound (400), or `clip` it to the bound. */
  overNorm: z.enum(["reject", "clip"]).default("reject"),
  /**
   * Most examples (labeled plus unlabeled) one update may claim, so that no
   * client outweighs the rest by its word alone; an edge's update may claim
   * this times the devices it combines.
   */
  maxExamples: z.int().min(1).max(1e9).default(100_000),
});

/**
 * How updates travel (see `shared/wire/codec.ts` for the tensors of each): `f32`,
 * `f16`, `int8` (per chunk of `chunk` elements a scale and zero point; 0 for
 * one chunk per tensor) or `topk` (the `fraction` or `count` largest values of
 * each tensor, by magnitude, with their indices, values in `values`; clients
 * keep what was not sent and add it to their next update). A string is
 * short for `{kind: ...}`.
 */
export const UpdateCodecSchema = z.preprocess(
  (value) => (typeof value === "string" ? { kind: value } : value),
  z.strictObject({
    kind: z.enum(["f32", "f16", "int8", "topk"]).default("f32"),
    chunk: z.int().min(0).max(1 << 24).default(4096),
    fraction: z.number().gt(0).max(1).optional(),
    count: z.int().min(1).max(1e9).optional(),
    values: z.enum(["f32", "f16", "int8"]).default("int8"),
  }).refine((c) => c.fraction === undefined || c.count === undefined, {
    message: "give fraction or count, not both",
    path: ["count"],
  }),
);

/** @see {@linkcode UpdateCodecSchema} */
export type UpdateCodec = z.infer<typeof UpdateCodecSchema>;

/** How rounds open and close. */
export const RoundConfigSchema = z.strictObject({
  /** Rounds to run; the run finishes after the last. */
  total: z.int().min(1).max(1_000_000).default(10),
  /** A round closes as soon as this many updates have arrived. */
  targetClients: z.int().min(1).max(1_000_000).default(8),
  /** After the deadline a round closes once it has this many updates. */
  minClients: z.int().min(1).max(1_000_000).default(1),
  /**
   * sync: the share of clients that take part in each round, drawn per round
   * from a hash of task, client and round; after the deadline any client may
   * fill the quorum.
   */
  fraction: z.number().gt(0).max(1).default(1),
  /**
   * Minimum to start: a round accepts updates, and its deadline runs, only
   * once this many distinct clients have shown up (fetched the model with
   * their id, reported, or sent an update).
   */
  minAvailable: z.int().min(1).max(1_000_000).default(1),
  /** Seconds from a round's opening to its deadline. */
  timeoutSeconds: z.number().gt(0).max(86400 * 7).default(300),
  /**
   * `sync`: rounds with a barrier. `async` (FedBuff): no barrier; updates on
   * any recent version are buffered and applied `bufferSize` at a time,
   * weighted by their staleness; `total` counts those applications.
   */
  mode: z.enum(["sync", "async"]).default("sync"),
  /** async: updates applied together (K). */
  bufferSize: z.int().min(1).max(100000).default(4),
  /** async: an update built on a version more than this many versions old is refused (409). */
  maxStaleness: z.int().min(0).max(100000).default(8),
  /** async: weight of an update of staleness t (versions behind). */
  staleness: StalenessSchema.default({ kind: "polynomial", a: 0.5, b: 4 }),
}).refine((r) => r.minClients <= r.targetClients, {
  message: "minClients must not exceed targetClients",
  path: ["minClients"],
});

/** Settings every strategy shares. */
const aggregationCommon = {
  /** Weight of one unlabeled row relative to a labeled row when updates are averaged. */
  unlabeledWeight: z.number().min(0).max(1).default(0.5),
  /** false: a round in which any selected client failed keeps the global model. */
  acceptFailures: z.boolean().default(true),
};

/** Factor applied to the aggregated delta before it is added to the global. */
const serverLearningRate = z.number().gt(0).max(100).default(1);

/** Hyperparameters of the adaptive server optimizers (Reddi et al. 2021). */
const fedOpt = {
  ...aggregationCommon,
  /** Server learning rate. */
  eta: z.number().gt(0).max(100).default(0.01),
  /** First-moment decay. */
  beta1: z.number().min(0).lt(1).default(0.9),
  /** Second-moment decay (FedAdam, FedYogi). */
  beta2: z.number().min(0).lt(1).default(0.99),
  /** Adaptivity: added to sqrt(v); v starts at tau^2. */
  tau: z.number().gt(0).max(10).default(0.001),
};

/** The aggregation strategies. */
export const STRATEGIES = [
  "fedavg",
  "fedavgm",
  "fedprox",
  "fedadagrad",
  "fedadam",
  "fedyogi",
  "median",
  "trimmed-mean",
  "krum",
] as const;

/** One of {@linkcode STRATEGIES}. */
export type StrategyName = typeof STRATEGIES[number];

/**
 * How updates are combined: the strategy and its hyperparameters. Without a
 * `strategy` it is FedAvg.
 */
export const AggregationConfigSchema = z.discriminatedUnion("strategy", [
  z.strictObject({
    strategy: z.literal("fedavg").default("fedavg"),
    ...aggregationCommon,
    serverLearningRate,
  }),
  z.strictObject({
    strategy: z.literal("fedavgm"),
    ...aggregationCommon,
    serverLearningRate,
    /** Server momentum. */
    serverMomentum: z.number().min(0).lt(1).default(0.9),
  }),
  z.strictObject({
    strategy: z.literal("fedprox"),
    ...aggregationCommon,
    serverLearningRate,
    /** Weight mu of the proximal term (mu / 2) ||w - w_global||^2 in the clients' loss. */
    proximalMu: z.number().min(0).max(1000).default(0.01),
  }),
  z.strictObject({ strategy: z.literal("fedadagrad"), ...fedOpt }),
  z.strictObject({ strategy: z.literal("fedadam"), ...fedOpt }),
  z.strictObject({ strategy: z.literal("fedyogi"), ...fedOpt }),
  z.strictObject({ strategy: z.literal("median"), ...aggregationCommon, serverLearningRate }),
  z.strictObject({
    strategy: z.literal("trimmed-mean"),
    ...aggregationCommon,
    serverLearningRate,
    /** Fraction of the clients cut from each end of every coordinate. */
    trimBeta: z.number().min(0).lt(0.5).default(0.2),
  }),
  z.strictObject({
    strategy: z.literal("krum"),
    ...aggregationCommon,
    serverLearningRate,
    /** Byzantine clients tolerated (f); a round needs more than 2f + 2 updates. */
    krumF: z.int().min(0).max(10000).default(1),
    /** Updates averaged (m): 1 is Krum, more is multi-Krum. */
    krumM: z.int().min(1).max(10000).default(1),
  }),
], {
  error: (issue) =>
    issue.code === "invalid_union" ? `expected one of ${STRATEGIES.join(", ")}` : undefined,
});

/** @see {@linkcode TrainingConfigSchema} */
export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;
/** @see {@linkcode StalenessSchema} */
export type Staleness = z.infer<typeof StalenessSchema>;
/** @see {@linkcode RoundConfigSchema} */
export type RoundConfig = z.infer<typeof RoundConfigSchema>;
/** @see {@linkcode AggregationConfigSchema} */
export type AggregationConfig = z.infer<typeof AggregationConfigSchema>;
