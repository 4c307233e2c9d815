import assert from "node:assert/strict";
import { accumulate, type ClientDelta, clientWeight, fedAvg } from "./fed_avg.ts";

function delta(tensors: number[][], numLabeled: number, numUnlabeled: number): ClientDelta {
  return { tensors: tensors.map((t) => Float32Array.from(t)), numLabeled, numUnlabeled };
}

// Three clients, two tensors each (lengths 3 and 2), different counts.
const A = delta([[1, 2, 3], [10, -4]], 5, 10);
const B = delta([[0.5, -1, 2], [3, 3]], 0, 20); // unlabeled rows only
const C = delta([[-2, 4, 1], [0, 1.25]], 15, 0); // labeled rows only

/** sum_i w_i x_i / sum_i w_i in float64, straight from the definition. */
function direct(clients: ClientDelta[], weights: number[]): number[][] {
  const total = weights.reduce((a, b) => a + b, 0);
  return clients[0]!.tensors.map((t, k) =>
    Array.from(t, (_, j) => {
      let sum = 0;
      clients.forEach((c, i) => sum += weights[i]! * c.tensors[k]![j]!);
      return sum / total;
    })
  );
}

/** Float32 results agree with float64 ones to float32 precision (a few ulps). */
function assertCloseArrays(actual: Float32Array[] | null, expected: number[][]) {
  assert.ok(actual);
  assert.equal(actual.length, expected.length);
  actual.forEach((t, k) => {
    assert.ok(t instanceof Float32Array);
    assert.equal(t.length, expected[k]!.length);
    t.forEach((v, j) => {
      const e = expected[k]![j]!;
      assert.ok(
        Math.abs(v - e) <= 1e-6 * Math.max(1, Math.abs(e)),
        `tensor ${k}[${j}]: expected ${e}, got ${v}`,
      );
    });
  });
}

Deno.test("clientWeight() is numLabeled + unlabeledWeight * numUnlabeled", () => {
  assert.equal(clientWeight({ numLabeled: 5, numUnlabeled: 10 }, 0), 5);
  assert.equal(clientWeight({ numLabeled: 5, numUnlabeled: 10 }, 0.5), 10);
  assert.equal(clientWeight({ numLabeled: 5, numUnlabeled: 10 }, 1), 15);
  assert.equal(clientWeight({ numLabeled: 0, numUnlabeled: 20 }, 0.25), 5);
  assert.equal(clientWeight({ numLabeled: 0, numUnlabeled: 0 }, 1), 0);
});

Deno.test("accumulate()", async (t) => {
  await t.step("adds weight * source into target", () => {
    const target = Float32Array.of(1, -2, 0.5);
    accumulate(target, Float32Array.of(4, 8, -2), 0.25);
    assert.deepEqual([...target], [2, 0, 0]);
    accumulate(target, Float32Array.of(1, 1, 1), -3);
    assert.deepEqual([...target], [-1, -3, -3]);
  });

  await t.step("throws RangeError on different lengths and leaves target alone", () => {
    const target = Float32Array.of(1, 2);
    assert.throws(() => accumulate(target, Float32Array.of(1, 2, 3), 1), RangeError);
    assert.throws(() => accumulate(target, Float32Array.of(1), 1), RangeError);
    assert.deepEqual([...target], [1, 2]);
  });
});

Deno.test("fedAvg() is the example-weighted mean of the deltas", async (t) => {
  for (const unlabeledWeight of [0, 0.5, 1]) {
    await t.step(`unlabeledWeight ${unlabeledWeight}`, () => {
      const weights = [
        5 + unlabeledWeight * 10,
        0 + unlabeledWeight * 20,
        15 + unlabeledWeight * 0,
      ];
      const expected = direct([A, B, C], weights);
      assertCloseArrays(fedAvg([A, B, C], { unlabeledWeight }), expected);
    });
  }

  await t.step("the weights change the result", () => {
    const w0 = fedAvg([A, B, C], { unlabeledWeight: 0 })!;
    const w1 = fedAvg([A, B, C], { unlabeledWeight: 1 })!;
    // first element: (5*1 + 15*-2)/20 = -1.25 vs (15*1 + 20*0.5 + 15*-2)/50 = -0.1
    assert.equal(w0[0]![0], -1.25);
    assertCloseArrays([w1[0]!.subarray(0, 1)], [[-0.1]]);
  });

  await t.step("unlabeledWeight defaults to 1", () => {
    assert.deepEqual(fedAvg([A, B, C]), fedAvg([A, B, C], { unlabeledWeight: 1 }));
  });

  await t.step("exact on dyadic weights", () => {
    // Weights 1 and 3 -> 1/4 and 3/4, exact in binary.
    const mean = fedAvg([delta([[4, 8]], 1, 0), delta([[0, -4]], 3, 0)]);
    assert.deepEqual(mean?.map((x) => [...x]), [[1, -1]]);
  });
});

Deno.test("fedAvg() ignores a client of only unlabeled rows when unlabeledWeight is 0", () => {
  const without = fedAvg([A, C], { unlabeledWeight: 0 });
  assert.deepEqual(fedAvg([A, B, C], { unlabeledWeight: 0 }), without);
  const huge = delta([[1e30, -1e30, 7], [1e30, 1e30]], 0, 1000);
  assert.deepEqual(fedAvg([huge, A, C], { unlabeledWeight: 0 }), without);
});

Deno.test("fedAvg() returns the delta of a single client as a new array", () => {
  const mean = fedAvg([A]);
  assert.ok(mean);
  assert.deepEqual(mean, A.tensors);
  assert.notEqual(mean[0], A.tensors[0]);
  mean[0]![0] = 99;
  assert.equal(A.tensors[0]![0], 1);
});

Deno.test("fedAvg() returns null when there is nothing to average", () => {
  assert.equal(fedAvg([]), null);
  assert.equal(fedAvg([], { unlabeledWeight: 0.5 }), null);
  assert.equal(fedAvg([B], { unlabeledWeight: 0 }), null);
  assert.equal(fedAvg([B, delta([[1, 1, 1], [1, 1]], 0, 3)], { unlabeledWeight: 0 }), null);
  assert.equal(fedAvg([delta([[1, 2, 3], [4, 5]], 0, 0)]), null);
});

Deno.test("fedAvg() throws RangeError on mismatched deltas", async (t) => {
  await t.step("tensor counts", () => {
    assert.throws(() => fedAvg([A, delta([[1, 2, 3]], 1, 0)]), RangeError);
    assert.throws(() => fedAvg([A, delta([[1, 2, 3], [1, 2], [1]], 1, 0)]), RangeError);
    assert.throws(() => fedAvg([delta([[1, 2, 3]], 1, 0), A]), RangeError);
  });

  await t.step("tensor lengths", () => {
    assert.throws(() => fedAvg([A, delta([[1, 2, 3], [1, 2, 3]], 1, 0)]), RangeError);
    assert.throws(() => fedAvg([A, delta([[1, 2], [1, 2]], 1, 0)]), RangeError);
  });
});

Deno.test("fedAvg() throws RangeError on a negative unlabeledWeight", () => {
  assert.throws(() => fedAvg([A, C], { unlabeledWeight: -0.5 }), RangeError);
  assert.throws(() => fedAvg([], { unlabeledWeight: -1 }), RangeError);
  assert.throws(() => fedAvg([A, C], { unlabeledWeight: NaN }), RangeError);
});

Deno.test("fedAvg() skips a client of weight 0, even one holding NaN or Infinity", () => {
  const mean = fedAvg([
    { tensors: [Float32Array.of(1, 2)], numLabeled: 1, numUnlabeled: 0 },
    { tensors: [Float32Array.of(NaN, Infinity)], numLabeled: 0, numUnlabeled: 5 },
  ], { unlabeledWeight: 0 });
  assert.deepEqual(mean?.map((t) => [...t]), [[1, 2]]);
});

Deno.test("fedAvg() rejects negative example counts", () => {
  assert.throws(
    () =>
      fedAvg([
        { tensors: [Float32Array.of(1)], numLabeled: 2, numUnlabeled: 0 },
        { tensors: [Float32Array.of(5)], numLabeled: -1, numUnlabeled: 0 },
      ]),
    RangeError,
  );
});

Deno.test("fedAvg() shrinks a scaled (stale) client's share without renormalising", () => {
  const deltas = [
    { tensors: [Float32Array.of(1)], numLabeled: 1, numUnlabeled: 0 },
    { tensors: [Float32Array.of(1)], numLabeled: 1, numUnlabeled: 0, scale: 0.5 },
  ];
  // (1 * 1 + 0.5 * 1) / 2: the stale half counts half.
  assert.deepEqual([...fedAvg(deltas)![0]!], [0.75]);
  assert.throws(
    () => fedAvg([{ ...deltas[0]!, scale: 2 }]),
    /scale "2" must be in \[0, 1\]/,
  );
});
