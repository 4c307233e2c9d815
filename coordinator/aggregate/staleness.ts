/**
 * Staleness weights of asynchronous aggregation (FedAsync, Xie et al. 2019;
 * FedBuff, Nguyen et al. 2022).
 * @module
 */
import type { Staleness } from "../../shared/schemas/mod.ts";

/**
 * The weight of an update `t` versions behind the current global:
 * `constant` 1; `polynomial` (1 + t)^-a; `hinge` 1 for t <= b, else
 * 1 / (a (t - b) + 1).
 *
 * @example
 * ```ts
 * import { stalenessWeight } from "./staleness.ts";
 * import assert from "node:assert/strict";
 * assert.equal(stalenessWeight(3, { kind: "polynomial", a: 0.5, b: 0 }), 0.5);
 * assert.equal(stalenessWeight(6, { kind: "hinge", a: 1, b: 4 }), 1 / 3);
 * ```
 */
export function stalenessWeight(t: number, staleness: Staleness): number {
  if (!(Number.isInteger(t) && t >= 0)) {
    throw new RangeError(`Cannot weigh update: staleness "${t}" must be a non-negative integer`);
  }
  switch (staleness.kind) {
    case "constant":
      return 1;
    case "polynomial":
      return (1 + t) ** -staleness.a;
    case "hinge":
      return t <= staleness.b ? 1 : 1 / (staleness.a * (t - staleness.b) + 1);
  }
}
