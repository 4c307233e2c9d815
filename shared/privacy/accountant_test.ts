// The accountant against published values (TensorFlow Privacy's MNIST
// tutorial table, integer orders), against the q = 1 closed form of the
// Gaussian mechanism exactly, monotone in rounds and in 1 / noise, and
// refusing nonsense with a clear error.
import assert from "node:assert/strict";
import { epsilon, ORDERS, rdpSampledGaussian } from "./accountant.ts";

Deno.test("published values: TensorFlow Privacy's MNIST DP-SGD figures within 2%", () => {
  // Batch 256 of 60,000 (q = 256 / 60000), delta 1e-5; epochs x 60000 / 256 steps.
  for (
    const [z, epochs, published] of [
      [1.1, 60, 3.01],
      [0.7, 45, 7.10],
    ] as const
  ) {
    const steps = Math.floor((epochs * 60000) / 256);
    const { epsilon: eps } = epsilon([{ q: 256 / 60000, noiseMultiplier: z, rounds: steps }], 1e-5);
    assert.ok(
      Math.abs(eps - published) / published < 0.02,
      `z ${z}, ${epochs} epochs: ${eps.toFixed(3)} against ${published}`,
    );
  }
});

Deno.test("q = 1: exactly the Gaussian mechanism's closed form over the orders", () => {
  for (const [z, rounds, delta] of [[1, 10, 1e-5], [0.5, 3, 1e-3], [4, 1000, 1e-6]] as const) {
    let expected = Infinity;
    for (const a of ORDERS) {
      expected = Math.min(expected, (rounds * a) / (2 * z * z) + Math.log(1 / delta) / (a - 1));
    }
    const { epsilon: eps } = epsilon([{ q: 1, noiseMultiplier: z, rounds }], delta);
    assert.equal(eps, expected);
    assert.equal(rdpSampledGaussian(7, { q: 1, noiseMultiplier: z }), 7 / (2 * z * z));
  }
});

Deno.test("epsilon grows with rounds and with less noise, and composes by rounds", () => {
  const at = (q: number, z: number, rounds: number) =>
    epsilon([{ q, noiseMultiplier: z, rounds }], 1e-5).epsilon;
  let last = 0;
  for (const rounds of [1, 2, 5, 10, 50, 200]) {
    const eps = at(0.1, 1, rounds);
    assert.ok(eps > last, `${rounds} rounds: ${eps} <= ${last}`);
    last = eps;
  }
  let previous = Infinity;
  for (const z of [0.5, 0.8, 1, 2, 5]) {
    const eps = at(0.1, z, 20);
    assert.ok(eps < previous, `z ${z}: ${eps} >= ${previous}`);
    previous = eps;
  }
  // Sampling amplifies: a lower rate costs less.
  assert.ok(at(0.01, 1, 20) < at(0.1, 1, 20));
  // Steps listed one by one compose as one step of the same rounds.
  const one = epsilon([{ q: 0.1, noiseMultiplier: 1, rounds: 3 }], 1e-5).epsilon;
  const three = epsilon(Array(3).fill({ q: 0.1, noiseMultiplier: 1 }), 1e-5).epsilon;
  assert.ok(Math.abs(one - three) < 1e-9);
});

Deno.test("nonsense is refused with the reason", () => {
  const step = { q: 0.1, noiseMultiplier: 1 };
  assert.throws(
    () => epsilon([{ ...step, noiseMultiplier: -1 }], 1e-5),
    /noise multiplier must be positive, got -1/,
  );
  assert.throws(
    () => epsilon([{ ...step, noiseMultiplier: 0 }], 1e-5),
    /noise multiplier must be positive/,
  );
  assert.throws(() => epsilon([step], 0), /delta must be in \(0, 1\), got 0/);
  assert.throws(() => epsilon([step], 1), /delta must be in \(0, 1\)/);
  assert.throws(() => epsilon([{ ...step, q: 1.5 }], 1e-5), /sampling rate q must be in \(0, 1\]/);
  assert.throws(
    () => epsilon([{ ...step, rounds: 1.5 }], 1e-5),
    /Rounds must be a non-negative integer/,
  );
  assert.throws(() => rdpSampledGaussian(1.5, step), /order must be an integer of at least 2/);
});
