/**
 * FedAdam (Reddi et al. 2021): an adaptive server optimizer over the averaged
 * client delta, with `v = beta2 v + (1 - beta2) delta^2`.
 * @module
 */
import {
  checkFedOptOptions,
  type FedOptOptions,
  type FedOptState,
  fedOptStep,
} from "./_fed_opt.ts";

export type { FedOptOptions, FedOptState };

/**
 * One FedAdam step on the averaged delta. `state` (null before the first
 * round) is not changed; the new one is returned with the step to add to the
 * global weights.
 *
 * @example
 * ```ts
 * import { fedAdamStep } from "./fed_adam.ts";
 * import assert from "node:assert/strict";
 * const { step } = fedAdamStep(null, [Float32Array.of(0.5)], { eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
 * assert.ok(step[0]![0]! > 0);
 * ```
 */
export function fedAdamStep(
  state: FedOptState | null,
  delta: readonly Float32Array[],
  options: FedOptOptions,
): { step: Float32Array[]; state: FedOptState } {
  checkFedOptOptions("FedAdam", options);
  return fedOptStep(state, delta, options, (v, d2, beta2) => beta2 * v + (1 - beta2) * d2);
}
