import assert from "node:assert/strict";
import { dirichlet, gamma, type Random, seededRandom, shuffle } from "./random.ts";

// The statistical checks below draw from fixed seeds, so they are
// deterministic; each tolerance is still set at 5 or more standard errors of
// the statistic for the number of draws, so that any correct generator (or a
// change of seed) passes, while a biased one fails.

function draws(random: Random, n: number): number[] {
  return Array.from({ length: n }, () => random());
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function variance(xs: readonly number[]): number {
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
}

Deno.test("seededRandom()", async (t) => {
  await t.step("is determined by its seed", () => {
    assert.deepEqual(draws(seededRandom(42), 1000), draws(seededRandom(42), 1000));
    assert.deepEqual(draws(seededRandom(0), 10), draws(seededRandom(0), 10));
    const a = draws(seededRandom(1), 100);
    const b = draws(seededRandom(2), 100);
    assert.ok(a.every((x, i) => x !== b[i]), "seeds 1 and 2 share a value");
  });

  await t.step("does not repeat within a stream", () => {
    const xs = draws(seededRandom(7), 2000);
    // 2000 values on a 2^32 grid: P(any collision) ~ 2000^2 / 2 / 2^32 ~ 0.05%;
    // a stuck or short-period generator would repeat.
    assert.equal(new Set(xs).size, xs.length);
  });

  await t.step("stays in [0, 1)", () => {
    for (const seed of [0, 1, 123456789, 2 ** 32 - 1]) {
      for (const x of draws(seededRandom(seed), 20000)) assert.ok(x >= 0 && x < 1, `${x}`);
    }
  });

  await t.step("is uniform", () => {
    const n = 100000;
    const xs = draws(seededRandom(2024), n);
    // sd of the mean = sqrt(1/12 / n) = 0.00091; 0.005 is 5.5 sd
    assert.ok(Math.abs(mean(xs) - 0.5) < 0.005, `mean ${mean(xs)}`);
    // 10 bins of expected 10000, sd = sqrt(n * 0.1 * 0.9) = 95; 500 is 5.3 sd
    const bins = new Array<number>(10).fill(0);
    for (const x of xs) bins[Math.floor(x * 10)]!++;
    for (const count of bins) assert.ok(Math.abs(count - n / 10) < 500, `bins ${bins}`);
    // consecutive draws are uncorrelated: E[x_i x_{i+1}] = 1/4, and the sd of
    // the product's mean is sqrt(7/144 / n) = 0.0007; 0.004 is 5.7 sd
    let sum = 0;
    for (let i = 0; i + 1 < n; i++) sum += xs[i]! * xs[i + 1]!;
    assert.ok(Math.abs(sum / (n - 1) - 0.25) < 0.004, `lag-1 ${sum / (n - 1)}`);
  });
});

Deno.test("shuffle()", async (t) => {
  await t.step("returns a permutation of the input, in place", () => {
    const items = Array.from({ length: 50 }, (_, i) => i * 3);
    const result = shuffle(items, seededRandom(5));
    assert.equal(result, items);
    assert.equal(result.length, 50);
    assert.deepEqual(
      [...result].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i * 3),
    );
    assert.notDeepEqual(result, Array.from({ length: 50 }, (_, i) => i * 3));
  });

  await t.step("handles empty and one-item arrays", () => {
    assert.deepEqual(shuffle([], seededRandom(1)), []);
    assert.deepEqual(shuffle(["a"], seededRandom(1)), ["a"]);
  });

  await t.step("is determined by the generator", () => {
    const base = Array.from({ length: 20 }, (_, i) => i);
    assert.deepEqual(shuffle([...base], seededRandom(9)), shuffle([...base], seededRandom(9)));
    assert.notDeepEqual(shuffle([...base], seededRandom(9)), shuffle([...base], seededRandom(10)));
  });

  await t.step("gives each permutation equally often", () => {
    // 3 items, 6 orders, 60000 shuffles: expected 10000 each with
    // sd = sqrt(60000 * 1/6 * 5/6) = 91; 500 is 5.5 sd. The classic biased
    // shuffle (j drawn from all n) would give 8889 or 11111 for some orders.
    const random = seededRandom(77);
    const counts = new Map<string, number>();
    for (let i = 0; i < 60000; i++) {
      const key = shuffle(["a", "b", "c"], random).join("");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    assert.equal(counts.size, 6);
    for (const [order, count] of counts) {
      assert.ok(Math.abs(count - 10000) < 500, `${order}: ${count}`);
    }
  });
});

Deno.test("gamma()", async (t) => {
  // Gamma(k, 1) has mean k and variance k; with N draws the sd of the mean is
  // sqrt(k / N) and that of the sample variance about sqrt((2k^2 + 6k) / N).
  const n = 50000;
  const cases = [
    // k, mean tolerance (sd 0.0032 -> 6.3 sd), variance tolerance (sd 0.0084 -> 6 sd)
    [0.5, 0.02, 0.05],
    // sd of mean 0.0077 -> 5.2 sd; sd of variance 0.027 -> 5.6 sd
    [3, 0.04, 0.15],
  ] as const;
  for (const [shape, meanTol, varTol] of cases) {
    await t.step(`Gamma(${shape}) has mean and variance ${shape}`, () => {
      const random = seededRandom(31);
      const xs = Array.from({ length: n }, () => gamma(shape, random));
      for (const x of xs) assert.ok(x > 0 && Number.isFinite(x), `${x}`);
      assert.ok(Math.abs(mean(xs) - shape) < meanTol, `mean ${mean(xs)}`);
      assert.ok(Math.abs(variance(xs) - shape) < varTol, `variance ${variance(xs)}`);
    });
  }

  await t.step("throws RangeError on a shape that is not positive", () => {
    for (const shape of [0, -1, NaN]) {
      assert.throws(() => gamma(shape, seededRandom(1)), RangeError);
    }
  });
});

Deno.test("dirichlet()", async (t) => {
  await t.step("draws probability vectors of size k", () => {
    const random = seededRandom(3);
    for (const [k, beta] of [[1, 0.5], [2, 0.1], [4, 1], [10, 0.05], [10, 100]] as const) {
      for (let i = 0; i < 200; i++) {
        const p = dirichlet(k, beta, random);
        assert.equal(p.length, k);
        for (const x of p) assert.ok(x >= 0 && x <= 1, `${x}`);
        assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12, `sum of ${p}`);
      }
    }
    assert.deepEqual(dirichlet(1, 0.3, random), [1]);
  });

  await t.step("has mean 1/k and variance (1/k)(1 - 1/k) / (k beta + 1)", () => {
    // k = 4: each component has mean 0.25. With N = 20000 draws:
    // - beta 0.5: variance 0.0625, sd of the mean 0.0018; 0.01 is 5.6 sd.
    // - variance within 10% of its value: the component lies in [0, 1], so its
    //   4th central moment is at most 0.5625 * variance, which bounds the sd of
    //   the sample variance by 1.5% (beta 0.1) and 1% (beta 10, near normal)
    //   of the variance: 10% is over 6 sd.
    const k = 4;
    const n = 20000;
    for (const beta of [0.1, 0.5, 10]) {
      const random = seededRandom(100 + beta * 10);
      const samples = Array.from({ length: n }, () => dirichlet(k, beta, random));
      const expectedVar = (1 / k) * (1 - 1 / k) / (k * beta + 1);
      for (let c = 0; c < k; c++) {
        const xs = samples.map((p) => p[c]!);
        assert.ok(Math.abs(mean(xs) - 1 / k) < 0.01, `beta ${beta} mean[${c}] ${mean(xs)}`);
        const v = variance(xs);
        assert.ok(
          Math.abs(v - expectedVar) < 0.1 * expectedVar,
          `beta ${beta} var[${c}] ${v}, expected ${expectedVar}`,
        );
      }
    }
  });
});
