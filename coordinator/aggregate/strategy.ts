/**
 * Aggregation strategies in the shape of Flower's: a strategy configures the
 * clients' training for a round and turns the round's results (and failures)
 * into the step added to the global model, or keeps the global as it is. The
 * math lives in pure functions under `aggregate/`; this file only calls them.
 * @module
 */
import type { AggregationConfig, TrainingConfig } from "../../shared/schemas/mod.ts";
import { fedAdagradStep } from "./fed_opt/fed_adagrad.ts";
import { fedAdamStep } from "./fed_opt/fed_adam.ts";
import { type ClientDelta, fedAvg } from "./fed_avg.ts";
import { fedAvgMStep } from "./fed_avgm.ts";
import type { FedOptOptions, FedOptState } from "./fed_opt/mod.ts";
import { fedYogiStep } from "./fed_opt/fed_yogi.ts";
import { krumSelect } from "./krum.ts";
import { aggregateEvaluations, type ClientEvaluation } from "./federated_evaluation.ts";
import { coordinateMedian } from "./median.ts";
import { trimmedMean } from "./trimmed_mean.ts";

/** One client's result in a round: its delta (trainable tensors in order) and counts. */
export interface ClientResult extends ClientDelta {
  clientId: string;
}

/** A client that was expected in a round and did not deliver. */
export interface ClientFailure {
  clientId: string;
  reason: string;
}

/** What a strategy aggregates. */
export interface AggregateInput {
  /** The round being closed. */
  round: number;
  results: readonly ClientResult[];
  failures: readonly ClientFailure[];
}

/** What a strategy decided. */
export interface AggregateOutput {
  /** The step added to each trainable tensor of the global, or null to keep the global. */
  step: Float32Array[] | null;
  /** Why the global was kept (null when a step was taken). */
  keptBecause: string | null;
  /** The clients whose updates went into the step (all, unless the strategy chose). */
  used: string[];
}

/** An aggregation strategy. */
export interface Strategy {
  /** The strategy's name, as in the task spec. */
  readonly name: AggregationConfig["strategy"];
  /**
   * True when it needs every update of a round at once (median, trimmed
   * mean, Krum); false for sums, which can be folded in as they arrive.
   */
  readonly needsAllUpdates: boolean;
  /** The local training settings the clients get (FedProx adds its mu). */
  configureTraining(training: TrainingConfig): TrainingConfig;
  /** Combines a round's results into a step for the global model. */
  aggregate(input: AggregateInput): AggregateOutput;
  /**
   * Strategies that are sums (not `needsAllUpdates`): the step from the
   * weighted mean of the round's updates, folded in as they arrived (see
   * `aggregate/fold/running_sum.ts`); the same step `aggregate` takes.
   */
  aggregateMean?(input: MeanInput): AggregateOutput;
  /**
   * The server optimiser's state carried from round to round (FedAvgM's
   * velocity, FedAdam's moments), by name, so that a restart resumes it;
   * empty for stateless strategies.
   */
  saveState(): Record<string, Float32Array[]>;
  /** Takes up state that {@linkcode saveState} returned. */
  loadState(state: Record<string, Float32Array[]>): void;
  /** Combines the clients' measures of the global model (federated evaluation). */
  aggregateEvaluation(
    evaluations: readonly ClientEvaluation[],
  ): ReturnType<typeof aggregateEvaluations>;
}

/** What {@linkcode Strategy.aggregateMean} combines. */
export interface MeanInput {
  /** The round being closed. */
  round: number;
  /** The weighted mean of the round's updates; null when they carry no example. */
  mean: Float32Array[] | null;
  /** The clients whose updates are in the mean. */
  used: string[];
  failures: readonly ClientFailure[];
}

const kept = (reason: string): AggregateOutput => ({ step: null, keptBecause: reason, used: [] });

function scale(tensors: Float32Array[], factor: number): Float32Array[] {
  if (factor === 1) return tensors;
  return tensors.map((t) => t.map((v) => v * factor));
}

/**
 * Creates the strategy a task's `aggregation` settings describe. Strategies
 * with server state (FedAvgM's velocity, FedAdam's moments) keep it between
 * rounds.
 *
 * @example
 * ```ts
 * import { createStrategy } from "./strategy.ts";
 * import { AggregationConfigSchema } from "../../shared/schemas/mod.ts";
 * import assert from "node:assert/strict";
 * const strategy = createStrategy(AggregationConfigSchema.parse({ strategy: "median" }));
 * const out = strategy.aggregate({
 *   round: 1,
 *   failures: [],
 *   results: [1, 2, 90].map((v, i) => ({ clientId: `c${i}`, tensors: [Float32Array.of(v)], numLabeled: 1, numUnlabeled: 0 })),
 * });
 * assert.deepEqual([...out.step![0]!], [2]);
 * ```
 */
export function createStrategy(config: AggregationConfig): Strategy {
  const { unlabeledWeight, acceptFailures } = config;
  const mean = (results: readonly ClientResult[]) => fedAvg(results, { unlabeledWeight });
  /** The global is kept when a client failed and the task does not accept failures. */
  const refusedFailures = (failures: readonly ClientFailure[]): AggregateOutput | null =>
    !acceptFailures && failures.length > 0
      ? kept(
        `${failures.length} client(s) failed and acceptFailures is false: ${
          failures.map((f) => `${f.clientId} (${f.reason})`).join(", ")
        }`,
      )
      : null;
  const guard = (
    input: AggregateInput,
    combine: (results: readonly ClientResult[]) => AggregateOutput,
  ): AggregateOutput => {
    const refused = refusedFailures(input.failures);
    if (refused) return refused;
    if (input.results.length === 0) return kept("no update arrived");
    return combine(input.results);
  };
  const all = (results: readonly ClientResult[]) => results.map((r) => r.clientId);
  /** A summing strategy from its step on the mean: both entry points. */
  const summing = (
    step: (mean: Float32Array[]) => Float32Array[],
  ): Pick<Strategy, "aggregate" | "aggregateMean"> => {
    const aggregateMean = (input: MeanInput): AggregateOutput => {
      const refused = refusedFailures(input.failures);
      if (refused) return refused;
      if (input.used.length === 0) return kept("no update arrived");
      if (!input.mean) return kept("the updates carry no example");
      return { step: step(input.mean), keptBecause: null, used: input.used };
    };
    return {
      aggregateMean,
      aggregate: (input) =>
        aggregateMean({
          round: input.round,
          mean: input.results.length > 0 ? mean(input.results) : null,
          used: all(input.results),
          failures: input.failures,
        }),
    };
  };
  const base = {
    configureTraining: (training: TrainingConfig) => training,
    aggregateEvaluation: aggregateEvaluations,
    saveState: (): Record<string, Float32Array[]> => ({}),
    loadState: (_state: Record<string, Float32Array[]>) => {},
  };

  switch (config.strategy) {
    case "fedavg":
    case "fedprox": {
      const mu = config.strategy === "fedprox" ? config.proximalMu : 0;
      return {
        ...base,
        name: config.strategy,
        needsAllUpdates: false,
        configureTraining: (training) => (mu > 0 ? { ...training, proximalMu: mu } : training),
        ...summing((m) => scale(m, config.serverLearningRate)),
      };
    }
    case "fedavgm": {
      let velocity: Float32Array[] | null = null;
      return {
        ...base,
        name: "fedavgm",
        needsAllUpdates: false,
        saveState: (): Record<string, Float32Array[]> => (velocity ? { velocity } : {}),
        loadState: (saved) => {
          velocity = saved.velocity ?? null;
        },
        ...summing((m) => {
          const out = fedAvgMStep(velocity, m, {
            momentum: config.serverMomentum,
            learningRate: config.serverLearningRate,
          });
          velocity = out.velocity;
          return out.step;
        }),
      };
    }
    case "fedadagrad":
    case "fedadam":
    case "fedyogi": {
      const stepFn = { fedadagrad: fedAdagradStep, fedadam: fedAdamStep, fedyogi: fedYogiStep }[
        config.strategy
      ];
      const options: FedOptOptions = {
        eta: config.eta,
        beta1: config.beta1,
        beta2: config.beta2,
        tau: config.tau,
      };
      let state: FedOptState | null = null;
      return {
        ...base,
        name: config.strategy,
        needsAllUpdates: false,
        saveState: (): Record<string, Float32Array[]> => (state ? { m: state.m, v: state.v } : {}),
        loadState: (saved) => {
          state = saved.m && saved.v ? { m: saved.m, v: saved.v } : null;
        },
        ...summing((m) => {
          const out = stepFn(state, m, options);
          state = out.state;
          return out.step;
        }),
      };
    }
    case "median":
      return {
        ...base,
        name: "median",
        needsAllUpdates: true,
        aggregate: (input) =>
          guard(input, (results) => ({
            step: scale(
              coordinateMedian(results.map((r) => r.tensors))!,
              config.serverLearningRate,
            ),
            keptBecause: null,
            used: all(results),
          })),
      };
    case "trimmed-mean":
      return {
        ...base,
        name: "trimmed-mean",
        needsAllUpdates: true,
        aggregate: (input) =>
          guard(input, (results) => ({
            step: scale(
              trimmedMean(results.map((r) => r.tensors), { beta: config.trimBeta })!,
              config.serverLearningRate,
            ),
            keptBecause: null,
            used: all(results),
          })),
      };
    case "krum":
      return {
        ...base,
        name: "krum",
        needsAllUpdates: true,
        aggregate: (input) =>
          guard(input, (results) => {
            if (results.length <= 2 * config.krumF + 2) {
              return kept(
                `Krum with f = ${config.krumF} needs more than ${
                  2 * config.krumF + 2
                } updates, got ${results.length}`,
              );
            }
            const m = Math.min(config.krumM, results.length - config.krumF);
            const chosen = krumSelect(results.map((r) => r.tensors), { f: config.krumF, m })
              .map((i) => results[i]!);
            const avg = mean(chosen);
            return avg
              ? {
                step: scale(avg, config.serverLearningRate),
                keptBecause: null,
                used: chosen.map((r) => r.clientId),
              }
              : kept("the selected updates carry no example");
          }),
      };
  }
}
