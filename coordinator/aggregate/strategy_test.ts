import assert from "node:assert/strict";
import {
  AggregationConfigSchema,
  formatZodError,
  TrainingConfigSchema,
} from "../../shared/schemas/mod.ts";
import { type ClientResult, createStrategy } from "./strategy.ts";

const result = (clientId: string, values: number[], numLabeled = 1): ClientResult => ({
  clientId,
  tensors: [Float32Array.from(values)],
  numLabeled,
  numUnlabeled: 0,
});
const strategy = (config: Record<string, unknown>) =>
  createStrategy(AggregationConfigSchema.parse(config));
const values = (step: Float32Array[] | null) => step && [...step[0]!];

Deno.test("AggregationConfigSchema defaults to FedAvg and validates each strategy's hyperparameters", () => {
  assert.equal(AggregationConfigSchema.parse({}).strategy, "fedavg");
  assert.equal(AggregationConfigSchema.parse({ unlabeledWeight: 0.2 }).strategy, "fedavg");
  const errors = [
    [{ strategy: "krum", krumF: -1 }, /krumF/],
    [{ strategy: "trimmed-mean", trimBeta: 0.5 }, /trimBeta/],
    [{ strategy: "fedadam", beta1: 1 }, /beta1/],
    [{ strategy: "fedavgm", serverMomentum: 1.5 }, /serverMomentum/],
    [{ strategy: "fedavg", tau: 0.1 }, /tau/],
    [{ strategy: "fedsomething" }, /strategy: expected one of fedavg, fedavgm/],
  ] as const;
  for (const [config, pattern] of errors) {
    const parsed = AggregationConfigSchema.safeParse(config);
    assert.ok(!parsed.success, JSON.stringify(config));
    assert.match(formatZodError(parsed.error), pattern);
  }
});

Deno.test("fedavg weights clients by examples and scales by the server learning rate", () => {
  const out = strategy({ strategy: "fedavg", serverLearningRate: 2 }).aggregate({
    round: 1,
    failures: [],
    results: [result("a", [1], 1), result("b", [4], 2)],
  });
  assert.deepEqual(values(out.step), [6]);
  assert.deepEqual(out.used, ["a", "b"]);
});

Deno.test("every strategy that takes serverLearningRate scales its step by it", () => {
  // Five clients, two values each, so that Krum (f 1) has enough updates.
  const results = [[1, -2], [1.5, -1], [0.5, -3], [1.2, -2.5], [0.9, -1.5]].map((v, i) =>
    result(`c${i}`, v, i + 1)
  );
  const input = { round: 1, failures: [], results };
  const extra: Record<string, Record<string, unknown>> = {
    fedprox: { proximalMu: 0.01 },
    fedavgm: { serverMomentum: 0.9 },
    "trimmed-mean": { trimBeta: 0.2 },
    krum: { krumF: 1, krumM: 2 },
  };
  for (const name of ["fedavg", "fedprox", "fedavgm", "median", "trimmed-mean", "krum"]) {
    const step = (serverLearningRate: number) =>
      values(
        strategy({ strategy: name, ...extra[name], serverLearningRate }).aggregate(input).step,
      )!;
    const one = step(1);
    assert.ok(one.some((v) => v !== 0), `${name}: a step`);
    for (const lr of [0.25, 3]) {
      const scaled = step(lr);
      one.forEach((v, i) =>
        assert.ok(
          Math.abs(scaled[i]! - lr * v) <= 1e-6 * Math.abs(lr * v),
          `${name} at server learning rate ${lr}: ${scaled[i]} vs ${lr * v}`,
        )
      );
    }
  }
  // The summing strategies' other entry (the federation's running mean) scales alike.
  for (const name of ["fedavg", "fedprox", "fedavgm"]) {
    const mean = [Float32Array.of(2, -4)];
    const step = (serverLearningRate: number) =>
      values(
        strategy({ strategy: name, ...extra[name], serverLearningRate }).aggregateMean!({
          round: 1,
          mean,
          used: ["a"],
          failures: [],
        }).step,
      )!;
    assert.deepEqual(step(0.25), [0.5, -1], name);
    assert.deepEqual(step(3), [6, -12], name);
  }
});

Deno.test("fedprox adds its mu to the clients' training settings; fedavg does not", () => {
  const training = TrainingConfigSchema.parse({});
  const prox = strategy({ strategy: "fedprox", proximalMu: 0.1 }).configureTraining(training);
  assert.equal(prox.proximalMu, 0.1);
  assert.equal(strategy({ strategy: "fedavg" }).configureTraining(training).proximalMu, 0);
});

Deno.test("fedavgm and fedadam keep their state from round to round", () => {
  const m = strategy({ strategy: "fedavgm", serverMomentum: 0.5 });
  const input = { round: 1, failures: [], results: [result("a", [1])] };
  assert.deepEqual(values(m.aggregate(input).step), [1]);
  assert.deepEqual(values(m.aggregate({ ...input, round: 2 }).step), [1.5]);
  const adam = strategy({ strategy: "fedadam" });
  const first = values(adam.aggregate(input).step)![0]!;
  const second = values(adam.aggregate({ ...input, round: 2 }).step)![0]!;
  assert.ok(second > first, `${second} > ${first}`);
});

Deno.test("median, trimmed mean and multi-Krum ignore a huge outlier that FedAvg follows", () => {
  const results = [1, 1.2, 0.8, 1.1, -1000].map((v, i) => result(`c${i}`, [v]));
  const input = { round: 1, failures: [], results };
  assert.ok(values(strategy({ strategy: "fedavg" }).aggregate(input).step)![0]! < -100);
  const median = values(strategy({ strategy: "median" }).aggregate(input).step)!;
  assert.ok(Math.abs(median[0]! - 1) < 1e-6);
  // Trimmed mean, n = 5, beta 0.2: -1000 and 1.2 are cut; (0.8 + 1 + 1.1) / 3 remains.
  const trimmed = values(
    strategy({ strategy: "trimmed-mean", trimBeta: 0.2 }).aggregate(input).step,
  )!;
  const expected = (Math.fround(0.8) + 1 + Math.fround(1.1)) / 3;
  assert.ok(Math.abs(trimmed[0]! - expected) < 1e-6, `${trimmed[0]} vs ${expected}`);
  const krum = strategy({ strategy: "krum", krumF: 1, krumM: 3 }).aggregate(input);
  assert.ok(!krum.used.includes("c4"));
  assert.equal(krum.used.length, 3);
});

Deno.test("Krum keeps the global when a round has too few updates for its f", () => {
  const out = strategy({ strategy: "krum", krumF: 1 }).aggregate({
    round: 1,
    failures: [],
    results: [result("a", [1]), result("b", [2]), result("c", [3])],
  });
  assert.equal(out.step, null);
  assert.match(out.keptBecause!, /needs more than 4 updates, got 3/);
});

Deno.test("acceptFailures false keeps the global when a client failed, naming it", () => {
  const input = {
    round: 1,
    failures: [{ clientId: "slow", reason: "missed the deadline" }],
    results: [result("a", [1])],
  };
  assert.deepEqual(values(strategy({}).aggregate(input).step), [1]);
  const out = strategy({ acceptFailures: false }).aggregate(input);
  assert.equal(out.step, null);
  assert.match(out.keptBecause!, /slow \(missed the deadline\)/);
});
