/**
 * The zod schemas of the task spec and of every v1 request and response: the
 * single source of truth of the API. Types are inferred from them.
 * @module
 */
import { z } from "zod";
import { SECURE_STAGES } from "./secagg/wire.ts";
import { SecureAggregationSchema } from "./secagg/settings.ts";
import { PrivacySchema } from "./privacy/schema.ts";

export { type SecureAggregationConfig, SecureAggregationSchema } from "./secagg/settings.ts";
export { type PrivacyConfig, PrivacySchema } from "./privacy/schema.ts";

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

/** The answer of POST /v1/enrol and POST /v1/clients: the client's id and its bearer token. */
export const EnrolResponseSchema = z.object({
  clientId: z.string(),
  token: z.string(),
});

/** @see {@linkcode EnrolResponseSchema} */
export type EnrolResponse = z.infer<typeof EnrolResponseSchema>;

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
 * How updates travel (see `shared/codec.ts` for the tensors of each): `f32`,
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

/** The model: a tfjs Layers topology (the `modelTopology` of a model.json). */
export const ModelSpecSchema = z.strictObject({
  /** tfjs Layers JSON, as `model.toJSON(null, false)` returns it. */
  topology: z.record(z.string(), z.unknown()),
  /** Seed of the initial weights. */
  seed: z.int().default(0),
});

/** How image files become a row: decoded, resized, channels, scaled. */
export const ImageInputSchema = z.strictObject({
  /** Width images are resized to. */
  width: z.int().min(1).max(4096),
  /** Height images are resized to. */
  height: z.int().min(1).max(4096),
  /** 1 for grey levels (the mean of R, G and B), 3 for RGB. */
  channels: z.union([z.literal(1), z.literal(3)]).default(1),
  /** Range the pixel values are scaled to. */
  scale: z.enum(["0,1", "-1,1"]).default("0,1"),
  /** Whether to use 1 - value (dark ink on light paper to the MNIST convention). */
  invert: z.boolean().default(false),
});

/** How text becomes a row: hashed token ids, padded or cut to a length. */
export const TextInputSchema = z.strictObject({
  /** Token ids are in [1, vocabSize); 0 is padding. */
  vocabSize: z.int().min(2).max(1 << 24),
  /** Tokens per row; longer texts are cut, shorter ones padded with 0. */
  maxLength: z.int().min(1).max(65536),
  /** Whether text is lower-cased before tokenizing. */
  lowercase: z.boolean().default(true),
});

/** What one row of data looks like, and how files become rows. */
export const InputSpecSchema = z.strictObject({
  /** Shape of one row's features, as the model takes it. */
  shape: z.array(z.int().min(1)).min(1),
  /** Names of the classes, in label index order. */
  labels: z.array(z.string().min(1)).min(2).refine((l) => new Set(l).size === l.length, {
    message: "label names must be distinct",
  }),
  /** Rows come from image files. @default none */
  image: ImageInputSchema.optional(),
  /** Rows come from text. @default none */
  text: TextInputSchema.optional(),
}).superRefine((input, ctx) => {
  const size = input.shape.reduce((a, b) => a * b, 1);
  if (input.image && input.text) {
    ctx.addIssue({ code: "custom", message: "give image or text, not both", path: ["text"] });
  }
  if (input.image) {
    const { width, height, channels } = input.image;
    if (width * height * channels !== size) {
      ctx.addIssue({
        code: "custom",
        path: ["image"],
        message:
          `${width}x${height}x${channels} pixels do not fill shape [${input.shape}] (${size} values)`,
      });
    }
  }
  if (input.text && input.text.maxLength !== size) {
    ctx.addIssue({
      code: "custom",
      path: ["text", "maxLength"],
      message:
        `maxLength ${input.text.maxLength} does not equal the ${size} values of shape [${input.shape}]`,
    });
  }
});

/** The task as configured: everything but the run's state. */
export const TaskConfigSchema = z.strictObject({
  /** Identifier of the task. */
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  model: ModelSpecSchema,
  input: InputSpecSchema,
  training: TrainingConfigSchema.default(TrainingConfigSchema.parse({})),
  rounds: RoundConfigSchema.default(RoundConfigSchema.parse({})),
  aggregation: AggregationConfigSchema.default(AggregationConfigSchema.parse({})),
  /** How the coordinator fine-tunes on labeled rows it holds after each round (if it holds any). */
  serverTraining: TrainingConfigSchema.optional(),
  /** Codec of updates on the wire (announced in GET /v1/task). */
  codec: UpdateCodecSchema.default(UpdateCodecSchema.parse({})),
  /** Bounds on each update. */
  updates: UpdateLimitsSchema.default(UpdateLimitsSchema.parse({})),
  /** Secure aggregation: clients send masked inputs, the coordinator unmasks only their sum. */
  secureAggregation: SecureAggregationSchema.optional(),
  /** Client-level differential privacy, with epsilon reported each round. */
  privacy: PrivacySchema.optional(),
});

/**
 * Fine-tuning with low-rank adapters (LoRA): the target layers get an
 * adapter `(alpha / rank) A B`, all other weights freeze, and only the
 * adapters train and travel.
 */
export const LoraConfigSchema = z.strictObject({
  /** The adapters' rank r. */
  rank: z.int().min(1).max(1024),
  /** The scale's numerator: products are multiplied by alpha / rank. @default 2 × rank */
  alpha: z.number().positive().optional(),
  /** Dropout on each adapter's input while training (so R-Drop's twins differ there too). */
  dropout: z.number().min(0).lt(1).default(0),
  /** Layer names or globs (`*`, `?`) of the Dense layers that get adapters. */
  targets: z.array(z.string().min(1)).min(1),
  /**
   * Layer names or globs of layers trained in full beside the adapters (PEFT's
   * `modules_to_save`), such as a classifier head whose classes are new. They
   * travel whole, so keep them small. @default none
   */
  modulesToSave: z.array(z.string().min(1)).default([]),
  /**
   * `ffa` (FFA-LoRA): A stays at its seeded init on every client and only B
   * trains, so FedAvg of B is FedAvg of the products exactly; `naive`: A and B
   * both train and are averaged apart (the mean of products is then missed).
   */
  aggregation: z.enum(["ffa", "naive"]).default("ffa"),
}).transform((l) => ({ ...l, alpha: l.alpha ?? 2 * l.rank }));

/** A task file's `model.lora`, with its defaults filled in. */
export type LoraConfig = z.infer<typeof LoraConfigSchema>;

/** Names of the built-in models. */
export const BUILTIN_MODELS = ["mnist-mlp", "mnist-cnn", "spam-text"] as const;

/** Where a task file's model comes from, and which of its layers train. */
export const ModelSourceSchema = z.strictObject({
  /** A built-in model by name. */
  builtin: z.enum(BUILTIN_MODELS).optional(),
  /** A tfjs Layers topology (the `modelTopology` of a model.json). */
  topology: z.record(z.string(), z.unknown()).optional(),
  /** A pretrained tfjs model: a folder holding model.json, a model.json path, or an http(s) URL of one. */
  pretrained: z.string().min(1).optional(),
  /** Initial weights as a safetensors file (names as tfjs names the weights). */
  weights: z.string().min(1).optional(),
  /** Seed of the initial weights where no weights are given. */
  seed: z.int().default(0),
  /** Layer names or glob patterns (`*`, `?`) of the layers that train; all others are frozen. */
  trainable: z.array(z.string().min(1)).min(1).optional(),
  /** Layer names or glob patterns of layers that stay frozen. */
  frozen: z.array(z.string().min(1)).min(1).optional(),
  /** Low-rank adapters on the `targets` layers; everything else freezes. */
  lora: LoraConfigSchema.optional(),
}).superRefine((m, ctx) => {
  if (m.lora && (m.trainable || m.frozen)) {
    ctx.addIssue({
      code: "custom",
      message: "lora freezes every layer but its adapters: give it without trainable or frozen",
      path: ["lora"],
    });
  }
  const sources = [m.builtin, m.topology, m.pretrained].filter((x) => x !== undefined).length;
  if (sources !== 1) {
    ctx.addIssue({
      code: "custom",
      message: "give exactly one of builtin, topology and pretrained",
    });
  }
  if (m.trainable && m.frozen) {
    ctx.addIssue({
      code: "custom",
      message: "give trainable or frozen, not both",
      path: ["frozen"],
    });
  }
});

/**
 * A task file (JSON or YAML): the model's source, the input, the training and
 * round settings, and the holdout data. Paths are relative to the file.
 */
export const TaskFileSchema = z.strictObject({
  id: z.string().regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    "id must be 1-64 of [a-z0-9._-], starting with a letter or digit",
  ),
  model: ModelSourceSchema,
  /** Required unless the model is built in. */
  input: InputSpecSchema.optional(),
  training: TrainingConfigSchema.optional(),
  rounds: RoundConfigSchema.optional(),
  aggregation: AggregationConfigSchema.optional(),
  codec: UpdateCodecSchema.optional(),
  updates: UpdateLimitsSchema.optional(),
  secureAggregation: SecureAggregationSchema.optional(),
  privacy: PrivacySchema.optional(),
  /** Labeled rows to evaluate on: a data file or folder in the input's format. */
  holdout: z.string().min(1).optional(),
  /** Labeled rows the coordinator fine-tunes on after each round (labels at the server). */
  serverData: z.string().min(1).optional(),
  /** How the coordinator fine-tunes on `serverData` (R-Drop on its labeled rows). */
  serverTraining: TrainingConfigSchema.optional(),
  /**
   * Labeled rows that `deno task simulate --task FILE` spreads over its
   * simulated clients (hiding all labels but `--labeled` of them); a
   * coordinator does not read it.
   */
  trainData: z.string().min(1).optional(),
}).refine((f) => (f.serverData === undefined) === (f.serverTraining === undefined), {
  message: "give serverData and serverTraining together",
  path: ["serverData"],
});

/** Phases of a run: `paused` and `stopped` are set by an admin. */
export const PhaseSchema = z.enum(["training", "aggregating", "paused", "finished", "stopped"]);

/** GET /v1/task: the task spec and where the run stands. */
export const TaskResponseSchema = TaskConfigSchema.extend({
  round: z.int().min(1),
  version: z.int().min(0),
  phase: PhaseSchema,
  /** The tensors an update carries, in order. */
  weights: z.array(z.strictObject({ name: z.string(), shape: z.array(z.int().min(0)) })),
  /**
   * Whether large updates can be sent as resumable uploads (tus 1.0, at
   * /v1/uploads; then POST /v1/updates with `{"upload": id}`): the
   * coordinator has a run folder to keep them in.
   */
  resumableUploads: z.boolean().optional(),
});

/** POST /v1/updates with a JSON body: take a finished resumable upload as the update. */
export const UploadedUpdateSchema = z.strictObject({
  /** The tus upload's id (the last part of its URL). */
  upload: z.string().min(1).max(200),
});

const intString = (what: string, min: number, max: number) =>
  z.string().regex(/^\d{1,15}$/, `${what} must be a non-negative integer`).transform(Number)
    .pipe(
      z.int().min(min, `${what} must be at least ${min}`).max(
        max,
        `${what} must be at most ${max}`,
      ),
    );

const numberString = (what: string, min: number, max: number) =>
  z.string().max(32).regex(/^[0-9.eE+-]+$/, `${what} must be a number`).transform(Number).pipe(
    z.number().min(min, `${what} must be at least ${min}`).max(
      max,
      `${what} must be at most ${max}`,
    ),
  );

/** The `__metadata__` of POST /v1/updates (safetensors metadata is all strings). */
export const UpdateMetadataSchema = z.object({
  round: intString("round", 1, 1e12),
  baseVersion: intString("baseVersion", 0, 1e12),
  numLabeled: intString("numLabeled", 0, 1e9),
  numUnlabeled: intString("numUnlabeled", 0, 1e9),
  clientId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "clientId must be 1-64 of [A-Za-z0-9._-]")
    .optional(),
  backend: z.string().max(64).optional(),
  /** The device the backend runs on (a GPU adapter, a CUDA device). */
  device: z.string().max(200).optional(),
  /** The client's runtime and its version. */
  runtime: z.string().max(64).optional(),
  /** An edge's update: how many devices' updates it combines. */
  devices: intString("devices", 1, 1e9).optional(),
  loss: z.string().max(32).optional(),
  ce: z.string().max(32).optional(),
  kl: z.string().max(32).optional(),
  /** Federated evaluation: accuracy of the global model (the update's base) on the client's labeled rows. */
  evalAccuracy: numberString("evalAccuracy", 0, 1).optional(),
  /** Federated evaluation: mean cross-entropy of the global model on those rows. */
  evalLoss: numberString("evalLoss", 0, 1e6).optional(),
  /** Federated evaluation: how many labeled rows it was measured on. */
  evalExamples: intString("evalExamples", 1, 1e9).optional(),
}).refine((m) => m.numLabeled + m.numUnlabeled > 0, {
  message: "numLabeled + numUnlabeled must be positive",
  path: ["numLabeled"],
}).refine(
  (m) =>
    (m.evalAccuracy === undefined) === (m.evalLoss === undefined) &&
    (m.evalAccuracy === undefined) === (m.evalExamples === undefined),
  { message: "evalAccuracy, evalLoss and evalExamples come together", path: ["evalAccuracy"] },
).refine((m) => m.evalExamples === undefined || m.evalExamples <= m.numLabeled, {
  message: "evalExamples must not exceed numLabeled",
  path: ["evalExamples"],
});

/** POST /v1/failures: a client could not train in a round. */
export const FailureReportSchema = z.strictObject({
  clientId: z.string().min(1).max(200),
  round: z.int().min(1),
  reason: z.string().min(1).max(1000),
});

/** 202 answer of POST /v1/updates. */
export const UpdateAcceptedSchema = z.strictObject({
  accepted: z.literal(true),
  round: z.int(),
  received: z.int(),
  targetClients: z.int(),
});

/** GET /v1/health. */
export const HealthSchema = z.strictObject({ status: z.literal("ok") });

/** One round's line in the status history. */
export const RoundMetricsSchema = z.strictObject({
  round: z.int().min(0),
  version: z.int().min(0),
  clients: z.int().min(0),
  numLabeled: z.int().min(0),
  numUnlabeled: z.int().min(0),
  accuracy: z.number().nullable(),
  loss: z.number().nullable(),
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

/** POST /v1/enrol and POST /v1/clients: the id to enrol under (optional for /v1/enrol). */
export const EnrolRequestSchema = z.object({
  clientId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "clientId must be 1-64 of [A-Za-z0-9._-]")
    .optional(),
});

/** 201 answer of POST /v1/enrolment-tokens. */
export const EnrolmentTokenSchema = z.strictObject({ token: z.string() });

/** 201 answer of POST /v1/join-link: a browser join link with a new enrolment token, and its QR code. */
export const JoinLinkSchema = z.strictObject({
  /** The page at the coordinator's public URL, with `?enrol=` the token. */
  url: z.string(),
  /** The enrolment token in the link. */
  token: z.string(),
  /** The link as a QR code, an SVG image. */
  svg: z.string(),
});

/** GET /v1/clients: the enrolled clients. */
export const ClientListSchema = z.strictObject({
  clients: z.array(z.strictObject({
    clientId: z.string(),
    created: z.string(),
    revoked: z.boolean(),
  })),
});

/** 200 answer of POST /v1/clients/{clientId}/revoke. */
export const RevokedSchema = z.strictObject({ clientId: z.string(), revoked: z.literal(true) });

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

/** Every error answer. */
export const ErrorResponseSchema = z.strictObject({
  error: z.strictObject({ code: z.string(), message: z.string() }),
});

/** @see {@linkcode ImageInputSchema} */
export type ImageInput = z.infer<typeof ImageInputSchema>;
/** @see {@linkcode TextInputSchema} */
export type TextInput = z.infer<typeof TextInputSchema>;
/** @see {@linkcode InputSpecSchema} */
export type InputSpec = z.infer<typeof InputSpecSchema>;
/** @see {@linkcode ModelSourceSchema} */
export type ModelSource = z.infer<typeof ModelSourceSchema>;
/** @see {@linkcode TaskFileSchema} */
export type TaskFile = z.infer<typeof TaskFileSchema>;
/** @see {@linkcode TrainingConfigSchema} */
export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;
/** @see {@linkcode RoundConfigSchema} */
export type RoundConfig = z.infer<typeof RoundConfigSchema>;
/** @see {@linkcode AggregationConfigSchema} */
export type AggregationConfig = z.infer<typeof AggregationConfigSchema>;
/** @see {@linkcode TaskConfigSchema} */
export type TaskConfig = z.infer<typeof TaskConfigSchema>;
/** Input of {@linkcode TaskConfigSchema}: the task file, with defaults left out. */
export type TaskConfigInput = z.input<typeof TaskConfigSchema>;
/** @see {@linkcode TaskResponseSchema} */
export type TaskResponse = z.infer<typeof TaskResponseSchema>;
/** @see {@linkcode UpdateMetadataSchema} */
export type UpdateMetadata = z.infer<typeof UpdateMetadataSchema>;
/** @see {@linkcode UpdateAcceptedSchema} */
export type UpdateAccepted = z.infer<typeof UpdateAcceptedSchema>;
/** @see {@linkcode FailureReportSchema} */
export type FailureReport = z.infer<typeof FailureReportSchema>;
/** @see {@linkcode StalenessSchema} */
export type Staleness = z.infer<typeof StalenessSchema>;
/** @see {@linkcode RoundMetricsSchema} */
export type RoundMetrics = z.infer<typeof RoundMetricsSchema>;
/** @see {@linkcode StatusSchema} */
export type Status = z.infer<typeof StatusSchema>;
/** @see {@linkcode PhaseSchema} */
export type Phase = z.infer<typeof PhaseSchema>;
/** @see {@linkcode ErrorResponseSchema} */
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;

/**
 * Formats a zod error as one line naming each field and its reason.
 *
 * @example
 * ```ts
 * import { formatZodError, TrainingConfigSchema } from "./schemas.ts";
 * import assert from "node:assert/strict";
 * const result = TrainingConfigSchema.safeParse({ alpha: -1 });
 * assert.ok(!result.success && formatZodError(result.error).startsWith("alpha:"));
 * ```
 */
export function formatZodError(error: z.ZodError): string {
  return error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join(".") : "(root)";
    return `${path}: ${issue.message}`;
  }).join("; ");
}
