import assert from "node:assert/strict";
import { fedAdagradStep } from "./fed_adagrad.ts";
import { fedAdamStep } from "./fed_adam.ts";
import { fedAvgMStep } from "../fed_avgm.ts";
import { fedYogiStep } from "./fed_yogi.ts";
import type { FedOptState } from "./_fed_opt.ts";

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

const options = { eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 };
// Two rounds of averaged deltas for a single coordinate (and a second tensor).
const rounds = [[Float32Array.of(0.5), Float32Array.of(-2)], [
  Float32Array.of(-0.25),
  Float32Array.of(1),
]];

/** Reddi et al. 2021, Algorithm 2, in float64, one coordinate at a time. */
function reference(kind: "adagrad" | "adam" | "yogi", deltas: number[]) {
  const { eta, beta1, beta2, tau } = options;
  let m = 0;
  let v = tau * tau;
  return deltas.map((d) => {
    m = beta1 * m + (1 - beta1) * d;
    if (kind === "adagrad") v = v + d * d;
    else if (kind === "adam") v = beta2 * v + (1 - beta2) * d * d;
    else v = v - (1 - beta2) * d * d * Math.sign(v - d * d);
    return { m, v, step: (eta * m) / (Math.sqrt(v) + tau) };
  });
}

for (
  const [kind, step] of [["adagrad", fedAdagradStep], ["adam", fedAdamStep], [
    "yogi",
    fedYogiStep,
  ]] as const
) {
  Deno.test(`fed${kind[0]!.toUpperCase()}${kind.slice(1)}Step() follows the paper's update step by step`, () => {
    let state: FedOptState | null = null;
    for (const [r, delta] of rounds.entries()) {
      const out: { step: Float32Array[]; state: FedOptState } = step(state, delta, options);
      for (const t of [0, 1]) {
        const expected = reference(kind, rounds.map((d) => d[t]![0]!))[r]!;
        close(out.state.m[t]![0]!, expected.m, `round ${r + 1} tensor ${t} m`);
        close(out.state.v[t]![0]!, expected.v, `round ${r + 1} tensor ${t} v`);
        close(out.step[t]![0]!, expected.step, `round ${r + 1} tensor ${t} step`);
      }
      state = out.state;
    }
  });
}

Deno.test("the server optimizers leave the previous state untouched", () => {
  const first = fedAdamStep(null, rounds[0]!, options);
  const before = first.state.m.map((t) => Float32Array.from(t));
  fedAdamStep(first.state, rounds[1]!, options);
  assert.deepEqual(first.state.m, before);
});

Deno.test("the server optimizers refuse bad hyperparameters by name", () => {
  assert.throws(
    () => fedAdamStep(null, rounds[0]!, { ...options, beta1: 1 }),
    /FedAdam: beta1 "1"/,
  );
  assert.throws(() => fedYogiStep(null, rounds[0]!, { ...options, tau: 0 }), /FedYogi: tau "0"/);
  assert.throws(
    () => fedAdagradStep(null, rounds[0]!, { ...options, eta: -1 }),
    /FedAdagrad: eta "-1"/,
  );
});

Deno.test("fedAvgMStep() accumulates momentum: v = mu v + delta, step = lr v", () => {
  const opts = { momentum: 0.5, learningRate: 2 };
  const one = fedAvgMStep(null, [Float32Array.of(1, -1)], opts);
  assert.deepEqual([...one.step[0]!], [2, -2]);
  const two = fedAvgMStep(one.velocity, [Float32Array.of(3, 0)], opts);
  assert.deepEqual([...two.velocity[0]!], [3.5, -0.5]);
  assert.deepEqual([...two.step[0]!], [7, -1]);
  assert.deepEqual([...one.velocity[0]!], [1, -1]);
});
