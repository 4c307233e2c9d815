/**
 * The settings of a simulation: the task, the federation, the local training
 * and the arms to compare, from flags, a JSON/YAML file and presets.
 * @module
 */
import { z } from "zod";
import { BUILTIN_MODELS, STRATEGIES, UpdateCodecSchema } from "../shared/schemas/mod.ts";

/** The tasks a simulation has built in: the built-in models, each with its data. */
export const BUILTIN_TASKS = BUILTIN_MODELS;

/** Whether `task` names a task file rather than a built-in task. */
export function isTaskFile(task: string): boolean {
  return !(BUILTIN_TASKS as readonly string[]).includes(task);
}

/** The arms a comparison can run. */
export const ARMS = [
  "supervised",
  "supervised-server",
  "rdrop",
  "rdrop-ssl",
  "rdrop-ssl-server",
  "centralized",
  "pretrained-supervised",
  "pretrained-rdrop-ssl",
] as const;

/**
 * The arms every task can run, which the presets run: all but the
 * `pretrained-*` arms, which need a transformer task.
 */
export const PRESET_ARMS: readonly Arm[] = ARMS.filter((arm) => !arm.startsWith("pretrained-"));

/** One of {@linkcode ARMS}. */
export type Arm = typeof ARMS[number];

/** Everything a simulation needs; every field has a default. */
export const SimulationConfigSchema = z.strictObject({
  /**
   * A built-in task (mnist-mlp, mnist-cnn, spam-text, brown-lm, brown-pos or spam-transformer), or a task
   * file (.yaml, .yml or .json) with `trainData` and `holdout` rows.
   */
  task: z.union([
    z.enum(BUILTIN_TASKS),
    z.string().regex(/\.(ya?ml|json)$/i, "a task file ends in .yaml, .yml or .json"),
  ], {
    error: `task: one of ${BUILTIN_TASKS.join(", ")}, or a task file (.yaml, .yml or .json)`,
  }).default("mnist-mlp"),
  /** Federated clients. */
  clients: z.int().min(1).max(10000).default(10),
  /** Fraction of clients that train in each round (at least one). */
  fraction: z.number().gt(0).max(1).default(1),
  /** Rounds. */
  rounds: z.int().min(1).max(10000).default(12),
  /** Local steps per round. */
  localSteps: z.int().min(1).max(100000).default(30),
  /** Labeled rows per local step. */
  labeledBatchSize: z.int().min(1).max(65536).default(32),
  /** Unlabeled rows per local step (R-Drop with unlabeled rows only). */
  unlabeledBatchSize: z.int().min(0).max(65536).default(64),
  /** Weight of the KL term on labeled rows. */
  alpha: z.number().min(0).max(1000).default(1),
  /** Weight of the KL term on unlabeled rows. */
  unlabeledAlpha: z.number().min(0).max(1000).default(1),
  /** Weight of the distribution-alignment term on unlabeled rows (see TrainingConfig.priorAlignment). */
  priorAlignment: z.number().min(0).max(1000).default(0),
  /** Rounds over which the unlabeled alpha ramps up from 0. */
  alphaRampUpRounds: z.int().min(0).max(10000).default(0),
  /** Local learning rate (Adam). */
  learningRate: z.number().gt(0).max(10).default(0.002),
  /** Dropout rate of the model's dropout layers. */
  dropout: z.number().min(0).max(0.95).default(0.3),
  /** Fraction of each client's rows that keep their labels. */
  labeledFraction: z.number().min(0).max(1).default(0.02),
  /**
   * Clients that hold labels (the first N; each keeps `labeledFraction` of
   * its rows' labels); the others hold none. Supervised arms train with the
   * labeled clients only. @default every client
   */
  labeledClients: z.int().min(0).max(10000).optional(),
  /**
   * Rounds of federated masked-token pretraining, on every client's rows,
   * before the `pretrained-*` arms (once per seed, shared by them); a
   * transformer task only.
   */
  pretrainRounds: z.int().min(1).max(10000).default(10),
  /** Fraction of the clients drawn each pretraining round. @default fraction */
  pretrainFraction: z.number().gt(0).max(1).optional(),
  /** Local steps per pretraining round. @default localSteps */
  pretrainLocalSteps: z.int().min(1).max(100000).optional(),
  /** The pretraining's learning rate (Adam). @default learningRate */
  pretrainLearningRate: z.number().gt(0).max(10).optional(),
  /**
   * The pretrained arms fine-tune LoRA adapters of this rank on the attention
   * projections (`block*_query`, `_key`, `_value`, `_output`; alpha twice the
   * rank, ffa), the head in full, instead of every weight.
   */
  lora: z.int().min(1).max(1024).optional(),
  /** Dirichlet concentration of the label skew, or "iid". */
  beta: z.union([z.number().gt(0), z.literal("iid")]).default(0.5),
  /** Weight of an unlabeled row in FedAvg relative to a labeled one. */
  unlabeledWeight: z.number().min(0).max(1).default(0.5),
  /** Labeled train rows held by the coordinator in the server arms (taken from no client). */
  serverLabeled: z.int().min(1).max(100000).default(100),
  /** Steps per round of the centralized arm (on the union of the shards). */
  centralizedSteps: z.int().min(1).max(1000000).default(60),
  /** Fine-tuning steps at the coordinator after each round in the server arms. */
  serverSteps: z.int().min(1).max(100000).default(20),
  /** Seeds; each arm runs once per seed. */
  seeds: z.array(z.int()).min(1).default([1]),
  /** Arms to run. */
  arms: z.array(z.enum(ARMS)).min(1).default(["rdrop-ssl"]),
  /** How clients encode updates: f32, f16, int8 or topk (or an object, see UpdateCodecSchema). */
  codec: UpdateCodecSchema.default(UpdateCodecSchema.parse({})),
  /** Aggregation strategy. */
  strategy: z.enum(STRATEGIES).default("fedavg"),
  /** Secure aggregation (SecAgg+, default settings): clients send masked inputs. */
  secureAggregation: z.boolean().default(false),
  /** Client-level differential privacy: none, central, or distributed (with secure aggregation). */
  privacy: z.enum(["none", "central", "distributed"]).default("none"),
  /** DP: noise standard deviation over the clip bound. */
  noiseMultiplier: z.number().gt(0).max(1000).default(1),
  /** DP: the L2 bound of each client's update. */
  clip: z.number().gt(0).max(1e6).default(1),
  /**
   * The strategy's hyperparameters (the task spec's \`aggregation\` fields:
   * trimBeta, krumF, krumM, serverMomentum, eta, ...).
   */
  aggregation: z.record(z.string(), z.unknown()).default({}),
  /** Clients (the last ones) that attack: they send their delta times -byzantineScale. */
  byzantine: z.int().min(0).max(10000).default(0),
  /** Clients (the last ones) that never take part: the attackers' seats left empty. */
  absent: z.int().min(0).max(10000).default(0),
  /** Factor of the attackers' sign-flipped deltas. */
  byzantineScale: z.number().min(0).max(1e6).default(10),
  /** Workers that host the clients (each trains its clients in turn). */
  workers: z.int().min(1).max(64).default(navigator.hardwareConcurrency || 2),
}).refine((c) => c.labeledClients === undefined || c.labeledClients <= c.clients, {
  message: "labeledClients must not exceed clients",
  path: ["labeledClients"],
}).refine((c) => c.byzantine + c.absent < c.clients, {
  message: "byzantine + absent must leave at least one honest client",
  path: ["byzantine"],
});

/** @see {@linkcode SimulationConfigSchema} */
export type SimulationConfig = z.infer<typeof SimulationConfigSchema>;

/**
 * Presets selectable by flag: `--compare` runs every arm over 3 seeds;
 * `--quick` runs every arm small and fast (what the tests run).
 */
export const PRESETS: Record<"compare" | "quick", Partial<z.input<typeof SimulationConfigSchema>>> =
  {
    compare: { arms: [...PRESET_ARMS], seeds: [1, 2, 3] },
    quick: {
      arms: [...PRESET_ARMS],
      seeds: [1],
      clients: 4,
      rounds: 3,
      localSteps: 10,
      labeledFraction: 0.05,
      serverSteps: 5,
    },
  };
