/**
 * A secure task's settings at the coordinator: which task settings secure
 * aggregation refuses (with the reason), its parameters for the task's round
 * size, and the round's unmasked sum turned into the weighted mean a
 * strategy applies. Used by the federation.
 * @module
 */
import type { TaskConfig } from "../../shared/schemas/mod.ts";
import { type DecodedSum, decodeSum, TRAILER } from "../../shared/secagg/input.ts";
import { type SecureParams, secureParams } from "../../shared/secagg/params.ts";
import type { WeightSpec } from "../../shared/model/model.ts";
import type { Strategy } from "../aggregate/strategy.ts";
import { elementCount } from "../../shared/shape.ts";

/**
 * The secure-aggregation parameters of `task`, or null when it has none.
 * Throws a TypeError naming the setting when the task cannot run securely:
 * a strategy that needs each update (median, trimmed mean, Krum), async
 * rounds, a lossy codec, a norm bound the coordinator could not check, or
 * parameters that do not fit the round size.
 */
export function checkSecureTask(task: TaskConfig, strategy: Strategy): SecureParams | null {
  const settings = task.secureAggregation;
  if (!settings) return null;
  const refuse = (why: string) => {
    throw new TypeError(`Cannot run task "${task.id}" with secure aggregation: ${why}`);
  };
  if (strategy.needsAllUpdates || !strategy.aggregateMean) {
    refuse(
      `strategy "${task.aggregation.strategy}" needs each client's update, and the coordinator only learns their sum; use fedavg, fedavgm, fedprox, fedadagrad, fedadam or fedyogi`,
    );
  }
  if (task.rounds.mode !== "sync") {
    refuse("async rounds apply updates one buffer at a time as they come; use rounds.mode sync");
  }
  if (task.codec.kind !== "f32") {
    refuse(
      `codec "${task.codec.kind}": masked inputs are integers modulo 2^bits, quantized by secureAggregation.clipRange and bits; use codec f32`,
    );
  }
  if (task.updates.maxNorm !== null) {
    refuse(
      "updates.maxNorm: the coordinator cannot see an update to check its norm; secureAggregation.clipRange bounds each value at the client instead",
    );
  }
  try {
    return secureParams(settings, task.rounds);
  } catch (error) {
    return refuse((error as Error).message);
  }
}

/** Values in a masked input of a task with these trainable weights. */
export function inputLength(trainable: readonly WeightSpec[]): number {
  return trainable.reduce((n, w) => n + elementCount(w.shape), 0) + TRAILER;
}

/** The weighted mean of the survivors' deltas (null when their weight is 0), with the summed counts. */
export function secureMean(
  sum: Uint32Array,
  survivors: number,
  trainable: readonly WeightSpec[],
  params: SecureParams,
): DecodedSum & { meanOrNull: Float32Array[] | null } {
  const sizes = trainable.map((w) => elementCount(w.shape));
  const decoded = decodeSum(sum, survivors, sizes, params);
  return { ...decoded, meanOrNull: decoded.weight > 0 ? decoded.mean : null };
}
