// What a masked input holds and how its sum is decoded: for random clients,
// weights (some above maxWeight) and deltas (some past the clip range), the
// decoded mean is within meanErrorBound of the weighted mean of the clipped
// deltas, and the counts are exact; the parameters refuse what cannot work,
// naming the field.
import assert from "node:assert/strict";
import { seededRandom } from "../random.ts";
import { decodeSum, encodeInput, meanErrorBound, TRAILER } from "./input.ts";
import { defaultDegree, secureParams } from "./params.ts";
import { addModular } from "./quantize.ts";

const settings = { clipRange: 0.5, bits: 32, maxWeight: 1000, stageTimeoutSeconds: 60 };

Deno.test("decoded means are within the bound of the clipped weighted mean, counts exact", () => {
  for (const [n, bits, seed] of [[2, 32, 1], [10, 32, 2], [50, 24, 3], [100, 32, 4]] as const) {
    const params = secureParams({ ...settings, bits }, { targetClients: n, minClients: 1 });
    const random = seededRandom(seed);
    const sizes = [7, 33];
    const sum = new Uint32Array(40 + TRAILER);
    const exact = sizes.map((s) => new Float64Array(s));
    let units = 0;
    let labeled = 0;
    for (let c = 0; c < n; c++) {
      const weight = random() * 1500; // a third of them above maxWeight
      const delta = sizes.map((s) =>
        Float32Array.from({ length: s }, () => (random() - 0.5) * 1.4)
      );
      const input = { delta, weight, numLabeled: c, numUnlabeled: 2 * c };
      const encoded = encodeInput(input, params, random);
      assert.ok(encoded.every((v) => v <= params.levels));
      addModular(sum, encoded, 1, bits);
      const u = Math.min(weight, params.maxWeight) / params.maxWeight;
      units += u;
      labeled += c;
      delta.forEach((d, k) =>
        d.forEach((v, j) => (exact[k]![j]! += u * Math.min(0.5, Math.max(-0.5, v))))
      );
    }
    const decoded = decodeSum(sum, n, sizes, params);
    const bound = meanErrorBound(params, { count: n, weightUnits: units });
    let worst = 0;
    decoded.mean.forEach((m, k) =>
      m.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - exact[k]![j]! / units))))
    );
    // Float32 rounding of the mean on top of the bound.
    assert.ok(worst <= bound + 1e-7, `n ${n}: off by ${worst}, bound ${bound}`);
    assert.ok(worst > 0, "quantization is not free");
    assert.equal(decoded.numLabeled, labeled);
    assert.equal(decoded.numUnlabeled, 2 * labeled);
    assert.ok(Math.abs(decoded.weight - units * params.maxWeight) <= (n / params.levels) * 1000);
  }
});

Deno.test("secure parameters: defaults by round size, and refusals that name the field", () => {
  assert.deepEqual([2, 10, 30, 31, 100, 1000].map(defaultDegree), [1, 9, 29, 16, 20, 30]);
  const rounds = { targetClients: 100, minClients: 10 };
  const p = secureParams(settings, rounds);
  assert.deepEqual([p.degree, p.threshold], [20, 11]);
  assert.equal(p.levels, Math.floor((2 ** 32 - 1) / 100));
  assert.throws(
    () => secureParams({ ...settings, threshold: 22 }, rounds),
    /threshold: 22 is above the 21 holders/,
  );
  assert.throws(
    () => secureParams({ ...settings, neighbours: 300 }, rounds),
    /neighbours: 300 is above 254/,
  );
  assert.throws(() => secureParams({ ...settings, bits: 12 }, rounds), /bits: .*raise bits to 15/);
  assert.throws(
    () => secureParams({ ...settings, threshold: 5 }, { targetClients: 4, minClients: 4 }),
    /threshold: 5 is above/,
  );
});
