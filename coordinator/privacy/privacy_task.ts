/**
 * A task's differential-privacy settings at the coordinator: what they are
 * refused with (and why), their resolved parameters (sampling rate, fixed
 * denominator, delta, the noise of adaptive clipping), the secret-seeded
 * Poisson sampling of clients, and epsilon over a run's rounds. Used by the
 * federation.
 * @module
 */
import { createHmac } from "node:crypto";
import type { PrivacyConfig, RoundMetrics, Status, TaskConfig } from "../../shared/schemas/mod.ts";
import { epsilon, type MechanismStep } from "../../shared/privacy/accountant.ts";
import {
  adaptiveNoise,
  distributedFewest,
  gaussian,
  nextClip,
  noiseShareStd,
} from "../../shared/privacy/mechanism.ts";
import type { SecureParams } from "../../shared/secagg/params.ts";
import type { Strategy } from "../aggregate/strategy.ts";

/** A task's privacy parameters, resolved. */
export interface PrivacyParams {
  mode: PrivacyConfig["mode"];
  /** The accounted noise multiplier z. */
  noiseMultiplier: number;
  /** The first L2 bound. */
  clip: number;
  /** Adaptive clipping, with the update's and the count's noise that together give z. */
  adaptive:
    | {
      targetQuantile: number;
      learningRate: number;
      countStd: number;
      updateNoiseMultiplier: number;
    }
    | null;
  delta: number;
  maxEpsilon: number | null;
  /** q: each client is drawn for a round with this probability. */
  sampleRate: number;
  population: number;
  /** The fixed denominator: q x population. */
  expectedClients: number;
  /** Distributed mode: the fewest clients a round sums, and the noise each adds. */
  fewest: number;
  noiseShareStd: number;
}

/**
 * The privacy parameters of `task`, or null without `privacy`. Throws a
 * TypeError naming the setting when they cannot work: distributed noise
 * without secure aggregation (or central with it), adaptive clipping in
 * distributed mode, async rounds, strategies that are not sums, a clip range
 * that would cut the noise, or a budget that one round already exceeds.
 */
export function checkPrivacyTask(
  task: TaskConfig,
  strategy: Strategy,
  secure: SecureParams | null,
): PrivacyParams | null {
  const config = task.privacy;
  if (!config) return null;
  const refuse = (why: string): never => {
    throw new TypeError(`Cannot run task "${task.id}" with differential privacy: ${why}`);
  };
  if (config.mode === "distributed" && !secure) {
    refuse(
      "privacy.mode distributed hides each client's noise share in a masked sum; give secureAggregation, or use mode central",
    );
  }
  if (config.mode === "central" && secure) {
    refuse(
      "privacy.mode central needs the coordinator to clip each update, which secure aggregation hides; use mode distributed",
    );
  }
  if (config.mode === "distributed" && config.adaptive) {
    refuse(
      "privacy.adaptive needs each update's norm at the coordinator; use a fixed clip in distributed mode",
    );
  }
  if (task.rounds.mode !== "sync") {
    refuse("the accountant counts rounds of sampled clients; use rounds.mode sync");
  }
  if (strategy.needsAllUpdates || !strategy.aggregateMean) {
    refuse(
      `strategy "${task.aggregation.strategy}" is not a sum, and the noise is calibrated to one; use fedavg, fedavgm, fedprox, fedadagrad, fedadam or fedyogi`,
    );
  }
  const sampleRate = task.rounds.fraction;
  const population = config.population ??
    Math.max(1, Math.round(task.rounds.targetClients / sampleRate));
  const expectedClients = Math.max(1, sampleRate * population);
  const delta = config.delta ?? 1 / population ** 1.1;
  const fewest = secure
    ? distributedFewest({ minClients: task.rounds.minClients, threshold: secure.threshold })
    : task.rounds.minClients;
  const share = noiseShareStd({
    noiseMultiplier: config.noiseMultiplier,
    clip: config.clip,
    fewest,
  });
  if (secure && secure.clipRange < config.clip + 6 * share) {
    refuse(
      `secureAggregation.clipRange ${secure.clipRange} would cut the noise each client adds (standard deviation ${
        share.toPrecision(3)
      }); raise it to at least clip + 6 x that = ${(config.clip + 6 * share).toPrecision(3)}`,
    );
  }
  let adaptive: PrivacyParams["adaptive"] = null;
  if (config.adaptive) {
    const countStd = config.adaptive.countStd ?? expectedClients / 20;
    try {
      adaptive = {
        targetQuantile: config.adaptive.targetQuantile,
        learningRate: config.adaptive.learningRate,
        countStd,
        ...adaptiveNoise({ noiseMultiplier: config.noiseMultiplier, countStd }),
      };
    } catch (error) {
      refuse(`privacy.adaptive.countStd: ${(error as Error).message}`);
    }
  }
  const params: PrivacyParams = {
    mode: config.mode,
    noiseMultiplier: config.noiseMultiplier,
    clip: config.clip,
    adaptive,
    delta,
    maxEpsilon: config.maxEpsilon ?? null,
    sampleRate,
    population,
    expectedClients,
    fewest,
    noiseShareStd: share,
  };
  const first = spentAfter(params, 1);
  if (params.maxEpsilon !== null && first > params.maxEpsilon) {
    refuse(
      `privacy.maxEpsilon ${params.maxEpsilon} is below the epsilon of one round, ${
        first.toFixed(3)
      } (at delta ${
        delta.toPrecision(3)
      }); raise the noise, lower rounds.fraction, or raise the budget`,
    );
  }
  return params;
}

/** Epsilon at the task's delta after `rounds` rounds of its mechanism. */
export function spentAfter(params: PrivacyParams, rounds: number): number {
  if (rounds === 0) return 0;
  const step: MechanismStep = {
    q: params.sampleRate,
    noiseMultiplier: params.noiseMultiplier,
    rounds,
  };
  return epsilon([step], params.delta).epsilon;
}

/**
 * Poisson sampling from a secret seed: `clientId` is drawn for `round` with
 * probability `sampleRate`, independently of every other client and round,
 * by HMAC-SHA-256 under `secret` (which no client can predict).
 */
export function isDrawn(
  secret: Uint8Array,
  options: { taskId: string; clientId: string; round: number; sampleRate: number },
): boolean {
  if (options.sampleRate >= 1) return true;
  const mac = createHmac("sha256", secret)
    .update(`${options.taskId}\u0000${options.round}\u0000${options.clientId}`)
    .digest();
  // 52 bits of the MAC as a uniform number in [0, 1).
  const u = (mac.readUInt32BE(0) * 2 ** 20 + (mac.readUInt32BE(4) >>> 12)) / 2 ** 52;
  return u < options.sampleRate;
}

/**
 * The privacy metrics of the round being closed (after `history`): epsilon
 * so far, the bound it used and the next (adaptive clipping moves it by the
 * noised share of the round's `within` updates), and whether the budget
 * allows another round.
 */
export function privacyAfterRound(
  p: PrivacyParams,
  history: readonly RoundMetrics[],
  round: { clip: number; within: number },
): { metrics: NonNullable<RoundMetrics["privacy"]>; exhausted: boolean } {
  const rounds = history.filter((h) => h.privacy).length + 1;
  let next = round.clip;
  if (p.adaptive) {
    // The noised share of updates within the bound moves it towards the quantile.
    const within = (round.within + p.adaptive.countStd * gaussian(1)[0]!) / p.expectedClients;
    next = nextClip(round.clip, { withinFraction: within, ...p.adaptive });
  }
  return {
    metrics: {
      epsilon: spentAfter(p, rounds),
      delta: p.delta,
      noiseMultiplier: p.noiseMultiplier,
      clip: round.clip,
      nextClip: next,
      sampleRate: p.sampleRate,
      expectedClients: p.expectedClients,
    },
    exhausted: p.maxEpsilon !== null && spentAfter(p, rounds + 1) > p.maxEpsilon,
  };
}

/** `/v1/status`'s privacy: epsilon spent after `history`, and why a finished run stopped early. */
export function privacyStatus(
  p: PrivacyParams,
  history: readonly RoundMetrics[],
  run: { finished: boolean; totalRounds: number },
): NonNullable<Status["privacy"]> {
  const spent = history.findLast((h) => h.privacy)?.privacy?.epsilon ?? 0;
  const rounds = history.filter((h) => h.privacy).length;
  const early = run.finished && rounds < run.totalRounds && p.maxEpsilon !== null;
  return {
    epsilon: spent,
    delta: p.delta,
    maxEpsilon: p.maxEpsilon,
    stoppedBecause: early
      ? `privacy budget: round ${rounds + 1} would take epsilon to ${
        spentAfter(p, rounds + 1).toFixed(3)
      }, past maxEpsilon ${p.maxEpsilon}`
      : null,
  };
}
