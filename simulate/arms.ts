/**
 * What each arm of a comparison changes in the task.
 * @module
 */
import {
  AggregationConfigSchema,
  LoraConfigSchema,
  PrivacySchema,
  SecureAggregationSchema,
  type TaskConfig,
  type TrainingConfig,
} from "../shared/schemas/mod.ts";
import type { Arm, SimulationConfig } from "./config.ts";
import { withLora } from "../shared/lora/apply_lora.ts";
import { ATTENTION_PROJECTIONS } from "../shared/tasks/sequence_model.ts";

/** The arms in which the coordinator fine-tunes on its own labeled rows after each round. */
export const SERVER_ARMS: readonly Arm[] = ["supervised-server", "rdrop-ssl-server"];

/** One line per arm, for reports. */
export const ARM_DESCRIPTIONS: Record<Arm, string> = {
  supervised: "FedAvg, cross-entropy on labeled rows, one pass",
  "supervised-server": "supervised + cross-entropy fine-tuning on labeled rows at the coordinator",
  rdrop: "R-Drop on labeled rows",
  "rdrop-ssl": "R-Drop on labeled rows + KL on unlabeled rows",
  "rdrop-ssl-server": "rdrop-ssl + R-Drop fine-tuning on labeled rows at the coordinator",
  centralized: "rdrop-ssl on the union of the shards in one place",
  "pretrained-supervised":
    "supervised, starting from the seed's federated masked-token pretraining on every client's rows",
  "pretrained-rdrop-ssl": "rdrop-ssl, starting from the same pretraining",
};

/**
 * The arm a `pretrained-*` arm trains as once its start is the pretrained
 * model (the arm itself otherwise).
 *
 * @example
 * ```ts
 * import { baseArm } from "./arms.ts";
 * import assert from "node:assert/strict";
 * assert.equal(baseArm("pretrained-rdrop-ssl"), "rdrop-ssl");
 * ```
 */
export function baseArm(arm: Arm): Arm {
  return arm === "pretrained-supervised"
    ? "supervised"
    : arm === "pretrained-rdrop-ssl"
    ? "rdrop-ssl"
    : arm;
}

/**
 * The local training settings of an arm.
 *
 * @example
 * ```ts
 * import { armTraining } from "./arms.ts";
 * import { SimulationConfigSchema } from "./config.ts";
 * import assert from "node:assert/strict";
 * const config = SimulationConfigSchema.parse({});
 * assert.equal(armTraining("supervised", config).objective, "ce");
 * ```
 */
export function armTraining(of: Arm, config: SimulationConfig): TrainingConfig {
  const arm = baseArm(of);
  const ssl = arm === "rdrop-ssl" || arm === "rdrop-ssl-server" || arm === "centralized";
  return {
    objective: arm === "supervised" || arm === "supervised-server" ? "ce" : "rdrop",
    alpha: config.alpha,
    unlabeledAlpha: config.unlabeledAlpha,
    priorAlignment: ssl ? config.priorAlignment : 0,
    alphaRampUpRounds: config.alphaRampUpRounds,
    labeledBatchSize: config.labeledBatchSize,
    unlabeledBatchSize: ssl ? config.unlabeledBatchSize : 0,
    localSteps: config.localSteps,
    optimizer: "adam",
    learningRate: config.learningRate,
    proximalMu: 0,
    evaluate: true,
  };
}

/**
 * The task's secureAggregation and privacy settings for `config`: distributed
 * DP brings secure aggregation with a threshold of about half the expected
 * clients a round, and a clip range that keeps each client's noise share.
 */
function privacySettings(config: SimulationConfig): Partial<TaskConfig> {
  const population = config.clients - config.absent;
  if (config.privacy === "none") {
    return config.secureAggregation ? { secureAggregation: SecureAggregationSchema.parse({}) } : {};
  }
  const privacy = PrivacySchema.parse({
    mode: config.privacy,
    noiseMultiplier: config.noiseMultiplier,
    clip: config.clip,
    population,
  });
  if (config.privacy === "central") {
    return {
      privacy,
      ...(config.secureAggregation ? { secureAggregation: SecureAggregationSchema.parse({}) } : {}),
    };
  }
  const threshold = Math.max(2, Math.floor((config.fraction * population) / 2));
  const share = (config.noiseMultiplier * config.clip) / Math.sqrt(threshold);
  return {
    privacy,
    secureAggregation: SecureAggregationSchema.parse({
      threshold,
      clipRange: config.clip + 8 * share,
    }),
  };
}

/**
 * The task an arm runs: the base task with the arm's training settings, and
 * for the server arms the coordinator's fine-tuning settings (the arm's own
 * objective on labeled rows only).
 *
 * @example
 * ```ts
 * import { armTask } from "./arms.ts";
 * import { SimulationConfigSchema } from "./config.ts";
 * import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const task = armTask("rdrop-ssl-server", { base: mnistMlpTask(), config: SimulationConfigSchema.parse({}) });
 * assert.equal(task.serverTraining?.unlabeledBatchSize, 0);
 * ```
 */
export function armTask(
  arm: Arm,
  options: { base: TaskConfig; config: SimulationConfig },
): TaskConfig {
  const { base, config } = options;
  const training = armTraining(arm, config);
  const adapted = config.lora !== undefined && arm.startsWith("pretrained-");
  arm = baseArm(arm);
  return {
    ...base,
    ...(adapted
      ? {
        model: {
          ...base.model,
          topology: withLora(
            base.model.topology,
            LoraConfigSchema.parse({
              rank: config.lora,
              alpha: 2 * config.lora!,
              targets: ATTENTION_PROJECTIONS,
              modulesToSave: ["logits"],
            }),
            base.model.seed,
          ),
        },
      }
      : {}),
    training,
    codec: config.codec,
    ...privacySettings(config),
    aggregation: AggregationConfigSchema.parse({
      ...config.aggregation,
      strategy: config.strategy,
      unlabeledWeight: config.unlabeledWeight,
    }),
    ...(SERVER_ARMS.includes(arm)
      ? { serverTraining: { ...training, unlabeledBatchSize: 0, localSteps: config.serverSteps } }
      : {}),
  };
}
